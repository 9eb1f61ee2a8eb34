"""Every example runs as is, pointed at a DevServer through ROLLBAR_* variables."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest

from rollbar_notifier.devserver import DevServer

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
WAIT = 10.0


def run(command: List[str], devserver: DevServer, scope: str = "post_server_item",
        **env: str) -> subprocess.CompletedProcess[str]:
    environ = {key: value for key, value in os.environ.items() if not key.startswith("ROLLBAR_")}
    environ.update(ROLLBAR_ACCESS_TOKEN=devserver.tokens[scope], ROLLBAR_ENDPOINT=devserver.api_url,
                   **env)
    return subprocess.run(command, env=environ, capture_output=True, text=True, timeout=60,
                          check=False, cwd=EXAMPLES.parent)


def stored(devserver: DevServer, count: int) -> List[Dict[str, Any]]:
    occurrences = devserver.wait_for_occurrences(count, WAIT)
    assert len(occurrences) == count
    return [o["data"] for o in occurrences]


def test_dictconfig_service(devserver: DevServer) -> None:
    done = run([sys.executable, str(EXAMPLES / "dictconfig_service.py")], devserver)
    assert done.returncode == 0, done.stderr
    assert "processing order 3" in done.stderr
    items = stored(devserver, 3)
    (trace,) = [d for d in items if "trace" in d["body"]]
    assert trace["body"]["trace"]["exception"]["description"] == "charging order 2 failed"
    assert trace["custom"]["amount"] == 0.0
    messages = sorted(d["body"]["message"]["body"] for d in items if "message" in d["body"])
    assert messages == ["order 1 needs a manual check", "order 3 needs a manual check"]
    assert len(devserver.items()) == 2


def test_uncaught_exceptions(devserver: DevServer) -> None:
    done = run([sys.executable, str(EXAMPLES / "uncaught_exceptions.py")], devserver)
    assert done.returncode == 1
    assert "Exception in thread image-worker" in done.stderr
    assert done.stderr.rstrip().endswith("KeyError: 'timeout'")
    levels = {d["body"]["trace"]["exception"]["class"]: d["level"] for d in stored(devserver, 2)}
    assert levels == {"OSError": "error", "KeyError": "critical"}


def test_deploy_at_startup(devserver: DevServer) -> None:
    done = run([sys.executable, str(EXAMPLES / "deploy_at_startup.py")], devserver,
               ROLLBAR_CODE_VERSION="4f2a9c1")
    assert done.returncode == 0, done.stderr
    (deploy,) = devserver.deploys()
    assert (deploy["revision"], deploy["environment"]) == ("4f2a9c1", "production")


@pytest.mark.skipif(shutil.which("rollbar-notifier") is None or shutil.which("git") is None
                    or shutil.which("sh") is None, reason="needs sh, git and the console script")
def test_deploy_script(devserver: DevServer) -> None:
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=EXAMPLES.parent, capture_output=True,
                          text=True, timeout=30, check=False)
    if head.returncode != 0:
        pytest.skip("not run from a git checkout")
    done = run(["sh", str(EXAMPLES / "deploy.sh")], devserver, USER="release-bot")
    assert done.returncode == 0, done.stderr
    (deploy,) = devserver.deploys()
    assert str(deploy["id"]) == done.stdout.strip()
    assert (deploy["revision"], deploy["comment"]) == (head.stdout.strip(),
                                                       "deployed by release-bot")


def test_desktop_app_with_a_client_token(devserver: DevServer) -> None:
    done = run([sys.executable, str(EXAMPLES / "desktop_app.py")], devserver,
               scope="post_client_item")
    assert done.returncode == 0, done.stderr
    assert "As expected, no deploys from the app" in done.stdout
    (data,) = stored(devserver, 1)
    assert (data["platform"], data["level"], data["code_version"]) == ("client", "warning",
                                                                       "1.4.2")
    assert data["body"]["trace"]["exception"]["class"] == "FileNotFoundError"
    assert data["person"]["id"] and data["custom"]["path"] == "no-such-document.txt"
    assert devserver.deploys() == []
