"""Deploy reporting through the API, against a DevServer (and a scripted server)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from typing import Any

import pytest
from scripted_server import Recorded, Reply, ScriptedServer

from rollbar_notifier.config import Config
from rollbar_notifier.deploy import (
    REVISION_VARIABLES,
    DeployError,
    detect_revision,
    report_deploy,
)
from rollbar_notifier.devserver import DevServer
from rollbar_notifier.http_transport import HttpTransport
from rollbar_notifier.notifier import Notifier

SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in REVISION_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def notifier_for(devserver: DevServer, scope: str = "post_server_item", **options: Any
                 ) -> Notifier:
    return Notifier(access_token=devserver.tokens[scope], endpoint=devserver.api_url,
                    environment="production", install_hooks=False, **options)


def test_report_and_update_a_deploy(devserver: DevServer) -> None:
    with notifier_for(devserver) as notifier:
        deploy_id = notifier.report_deploy(SHA, rollbar_username="ann", local_username="ci",
                                           comment="release 1.2", status="started")
        assert deploy_id.isdigit()
        result = notifier.update_deploy(deploy_id, status="succeeded", comment="done")
    assert (result["status"], result["comment"]) == ("succeeded", "done")
    (deploy,) = devserver.deploys()
    assert str(deploy["id"]) == deploy_id
    assert (deploy["revision"], deploy["environment"], deploy["local_username"]) == (
        SHA, "production", "ci")
    assert deploy["status"] == "succeeded"


def test_defaults_detect_revision_and_os_user(devserver: DevServer, clean_env: None,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_SHA", SHA)
    monkeypatch.setattr("getpass.getuser", lambda: "deployer")
    with notifier_for(devserver) as notifier:
        notifier.report_deploy(environment="staging")
    (deploy,) = devserver.deploys()
    assert (deploy["revision"], deploy["environment"], deploy["status"],
            deploy["local_username"]) == (SHA, "staging", "succeeded", "deployer")


def test_a_user_less_container_still_deploys(devserver: DevServer,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    def no_user() -> str:
        raise KeyError("getpwuid(): uid not found: 1234")

    monkeypatch.setattr("getpass.getuser", no_user)
    with notifier_for(devserver) as notifier:
        notifier.report_deploy("v1")
    assert devserver.deploys()[0]["revision"] == "v1"


def test_revision_order(clean_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    config = Config.from_options({"root": str(tmp_path)}, environ={})
    assert detect_revision(config, {}) is None  # no git checkout there
    environ = {"CI_COMMIT_SHA": "gitlab", "GITHUB_SHA": "github", "GIT_COMMIT": "jenkins"}
    assert detect_revision(config, environ) == "jenkins"
    assert detect_revision(config, dict(environ, ROLLBAR_CODE_VERSION="env")) == "env"
    pinned = Config.from_options({"root": str(tmp_path), "code_version": "pinned"}, environ={})
    assert detect_revision(pinned, dict(environ, ROLLBAR_CODE_VERSION="env")) == "pinned"


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_revision_from_git_in_root(tmp_path: Any) -> None:
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com")
    for command in (["git", "init", "-q"], ["git", "commit", "-q", "--allow-empty", "-m", "x"]):
        subprocess.run(command, cwd=tmp_path, env=env, check=True, timeout=30)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True,
                          text=True, check=True, timeout=30).stdout.strip()
    config = Config.from_options({"root": str(tmp_path)}, environ={})
    assert detect_revision(config, {}) == head


def test_a_client_token_is_refused_before_any_request(server: ScriptedServer) -> None:
    with Notifier(access_token="client-token", token_scope="post_client_item",
                  endpoint=server.api_url, install_hooks=False) as notifier:
        with pytest.raises(DeployError, match="post_client_item token cannot report deploys"):
            notifier.report_deploy("v1")
        with pytest.raises(DeployError, match="post_client_item"):
            notifier.update_deploy(1, status="failed")
    assert server.records == []


def test_server_refusals_raise_with_the_servers_message(devserver: DevServer) -> None:
    with notifier_for(devserver, scope="read") as notifier:
        with pytest.raises(DeployError, match="HTTP 403: insufficient privileges") as caught:
            notifier.report_deploy("v1")
    assert caught.value.status == 403
    with notifier_for(devserver) as notifier:
        with pytest.raises(DeployError, match="HTTP 404"):
            notifier.update_deploy(999999, status="failed")
    assert devserver.deploys() == []


def test_unreachable_server_raises(clean_env: None) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = Config.from_options({"access_token": "t", "timeout": 2,
                                  "endpoint": f"http://127.0.0.1:{port}/api/1/"})
    transport = HttpTransport(config.endpoint, config.access_token, config.timeout)
    with pytest.raises(DeployError, match="could not report the deploy") as caught:
        report_deploy(transport, config, "v1")
    assert caught.value.status == 0


def test_token_only_in_the_header(server: ScriptedServer) -> None:
    server.script(default=Reply(body=b'{"data": {"deploy_id": 7}}'))
    config = Config.from_options({"access_token": "secret-token", "endpoint": server.api_url})
    transport = HttpTransport(config.endpoint, config.access_token, config.timeout)
    assert report_deploy(transport, config, "v1", local_username="me") == "7"
    (request,) = server.records
    assert request.headers["X-Rollbar-Access-Token"] == "secret-token"
    assert "secret-token" not in request.path and b"secret-token" not in request.body
    assert request.json() == {"environment": "production", "revision": "v1",
                              "status": "succeeded", "local_username": "me"}


def test_invalid_arguments(devserver: DevServer) -> None:
    with notifier_for(devserver) as notifier:
        with pytest.raises(ValueError, match="status"):
            notifier.report_deploy("v1", status="done")
        with pytest.raises(ValueError, match="number"):
            notifier.update_deploy("../item/1", status="failed")
        with pytest.raises(ValueError, match="status or a comment"):
            notifier.update_deploy(1)
    with Notifier(endpoint=devserver.api_url, install_hooks=False) as tokenless:
        with pytest.raises(DeployError, match="access token is required"):
            tokenless.report_deploy("v1")
    assert devserver.deploys() == []


def test_init_reports_a_deploy_at_start_up(devserver: DevServer) -> None:
    from rollbar_notifier import default as notifier_module

    notifier_module.init(report_deploy=True, access_token=devserver.tokens["post_server_item"],
                         endpoint=devserver.api_url, code_version="abc123", install_hooks=False)
    try:
        (deploy,) = devserver.deploys()
        assert deploy["revision"] == "abc123"
    finally:
        notifier_module.close()


def echo_the_token(record: Recorded) -> Reply:
    """A server (or proxy) that quotes the request's token back, in a body cut short."""
    token = record.headers.get("X-Rollbar-Access-Token", "")
    return Reply(401, body=("x" * 280 + f"bad token {token}: " + "y" * 400).encode())


def test_a_token_echoed_by_the_server_is_not_in_the_error(server: ScriptedServer) -> None:
    """The error text is cut at 300 characters, right inside the echoed token: no
    fragment of it is left either, as the token is taken out before the cut."""
    token = "echoed-token-0123456789abcdef"
    server.handle_with(echo_the_token)
    config = Config.from_options({"access_token": token, "endpoint": server.api_url})
    transport = HttpTransport(config.endpoint, config.access_token, config.timeout)
    with pytest.raises(DeployError) as caught:
        report_deploy(transport, config, "v1")
    text = str(caught.value)
    assert "HTTP 401" in text and "bad token ****" in text
    assert token[:4] not in text
