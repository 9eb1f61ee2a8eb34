"""The ``rollbar-notifier`` command, run as users run it: subprocesses, plus in-process main()."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from typing import List

import pytest
from scripted_server import Reply, ScriptedServer

from rollbar_notifier.cli import main
from rollbar_notifier.devserver import DevServer

SHA = "fedcba9876543210fedcba9876543210fedcba98"


@pytest.fixture(autouse=True)
def no_rollbar_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("ROLLBAR_"):
            monkeypatch.delenv(name)


def run(command: List[str], devserver: DevServer, token_scope: str = "post_server_item"
        ) -> subprocess.CompletedProcess[str]:
    """The command with its connection in ROLLBAR_* variables, as a CI step sets them."""
    env = dict(os.environ, ROLLBAR_ACCESS_TOKEN=devserver.tokens[token_scope],
               ROLLBAR_ENDPOINT=devserver.api_url)
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60,
                          check=False)


def test_deploy_with_python_dash_m(devserver: DevServer) -> None:
    done = run([sys.executable, "-m", "rollbar_notifier", "deploy", "--revision", SHA,
                "--environment", "staging", "--comment", "release 2", "--user", "ci"], devserver)
    assert done.returncode == 0, done.stderr
    deploy_id = done.stdout.strip()
    (deploy,) = devserver.deploys()
    assert str(deploy["id"]) == deploy_id
    assert (deploy["revision"], deploy["environment"], deploy["comment"],
            deploy["local_username"], deploy["status"]) == (SHA, "staging", "release 2", "ci",
                                                            "succeeded")


@pytest.mark.skipif(shutil.which("rollbar-notifier") is None,
                    reason="the console script is not installed")
def test_deploy_and_update_with_the_console_script(devserver: DevServer) -> None:
    script = shutil.which("rollbar-notifier")
    assert script is not None
    done = run([script, "deploy", "--revision", SHA, "--status", "started"], devserver)
    assert done.returncode == 0, done.stderr
    deploy_id = done.stdout.strip()
    done = run([script, "deploy-update", deploy_id, "--status", "succeeded",
                "--comment", "smoke tests passed"], devserver)
    assert done.returncode == 0, done.stderr
    assert '"status": "succeeded"' in done.stdout
    (deploy,) = devserver.deploys()
    assert (deploy["status"], deploy["comment"]) == ("succeeded", "smoke tests passed")


def test_deploy_failure_exits_non_zero_with_the_servers_message(devserver: DevServer) -> None:
    done = run([sys.executable, "-m", "rollbar_notifier", "deploy", "--revision", "v1"],
               devserver, token_scope="read")
    assert done.returncode == 1
    assert "insufficient privileges" in done.stderr
    assert devserver.tokens["read"] not in done.stderr + done.stdout
    assert devserver.deploys() == []


def test_report_message(devserver: DevServer, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["report", "message", "disk almost full", "--level", "warning",
                 "--access-token", devserver.tokens["post_server_item"],
                 "--endpoint", devserver.api_url, "--environment", "ops"])
    assert code == 0
    uuid = capsys.readouterr().out.strip()
    (occurrence,) = devserver.occurrences()
    data = occurrence["data"]
    assert (data["uuid"], data["level"], data["environment"]) == (uuid, "warning", "ops")
    assert data["body"]["message"]["body"] == "disk almost full"


def test_report_refused_exits_non_zero_with_the_servers_message(devserver: DevServer) -> None:
    done = run([sys.executable, "-m", "rollbar_notifier", "report", "message", "hi"],
               devserver, token_scope="write")
    assert done.returncode == 1
    assert "insufficient privileges" in done.stderr
    assert "not delivered" in done.stderr


def test_report_failures_say_why_once_prefixed(devserver: DevServer) -> None:
    done = run([sys.executable, "-m", "rollbar_notifier", "report", "message", "hi"],
               devserver, token_scope="read")
    assert done.returncode == 1
    assert "rollbar-notifier: rollbar_notifier" not in done.stderr
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = dict(os.environ, ROLLBAR_ACCESS_TOKEN="secret-cli-token", ROLLBAR_SHUTDOWN_TIMEOUT="1",
               ROLLBAR_ENDPOINT=f"http://127.0.0.1:{port}/api/1/")
    done = subprocess.run([sys.executable, "-m", "rollbar_notifier", "report", "message", "hi"],
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert "Connection refused" in done.stderr or "ConnectionError" in done.stderr, done.stderr
    assert "not delivered" in done.stderr and "secret-cli-token" not in done.stderr


def test_missing_token_is_a_usage_error_for_every_command(
        capsys: pytest.CaptureFixture[str]) -> None:
    for command in (["deploy", "--revision", "v1"], ["deploy-update", "1", "--status", "failed"],
                    ["report", "message", "hi"]):
        assert main(command) == 2, command
        assert "access token is required" in capsys.readouterr().err


def test_ping_against_a_server_answering_pong(server: ScriptedServer,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ping", "--endpoint", server.api_url]) == 0
    assert capsys.readouterr().out == "pong\n"
    (request,) = server.records
    assert (request.method, request.path) == ("GET", "/api/1/status/ping")
    assert "X-Rollbar-Access-Token" not in request.headers


def test_ping_the_devserver_by_subprocess(devserver: DevServer) -> None:
    done = run([sys.executable, "-m", "rollbar_notifier", "ping"], devserver)
    assert (done.returncode, done.stdout) == (0, "pong\n")


def test_ping_failures(server: ScriptedServer, capsys: pytest.CaptureFixture[str]) -> None:
    server.script(Reply(status=503, body=b'{"err": 1, "message": "maintenance"}'))
    assert main(["ping", "--endpoint", server.api_url]) == 1
    assert "HTTP 503: maintenance" in capsys.readouterr().err
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert main(["ping", "--endpoint", f"http://127.0.0.1:{port}/api/1/", "--timeout", "2"]) == 1
    assert "did not answer" in capsys.readouterr().err


def test_bad_options_exit_with_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["deploy", "--endpoint", "ftp://example.com/", "--revision", "v1"]) == 2
    assert "endpoint must be an http(s) URL" in capsys.readouterr().err
    assert main(["deploy", "--revision", "v1"]) == 2
    assert "access token is required" in capsys.readouterr().err
    assert main([]) == 2
    assert main(["report"]) == 2
    with pytest.raises(SystemExit) as exit_info:
        main(["deploy", "--status", "finished"])
    assert exit_info.value.code == 2


@pytest.mark.parametrize("command", [[], ["ping"], ["deploy"], ["deploy-update"], ["report"],
                                     ["report", "message"], ["serve"], ["demo"], ["tail"]])
def test_every_command_has_help(command: List[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: rollbar-notifier" in capsys.readouterr().out
