"""``code_version`` and ``server.root`` are detected once at start: the option, else the
CI variables, else ``git``; the root is the project's, not the current directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict

import pytest
from delivered import WAIT

from rollbar_notifier.codebase import REVISION_VARIABLES, detect_revision
from rollbar_notifier.config import Config
from rollbar_notifier.contract import MAX_CODE_VERSION
from rollbar_notifier.devserver import DevServer

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
SCRIPT = """
import sys
from rollbar_notifier.notifier import Notifier
with Notifier(access_token=sys.argv[1], endpoint=sys.argv[2], install_hooks=False) as n:
    n.report_message("started")
"""


def clean_environ(**extra: str) -> Dict[str, str]:
    """This process's variables without the CI ones (CI itself sets ``GITHUB_SHA``)."""
    environ = {k: v for k, v in os.environ.items() if k not in REVISION_VARIABLES}
    environ["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    return dict(environ, **extra)


def git_checkout(path: Path) -> str:
    """A checkout with one commit at ``path``; its HEAD."""
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com")
    path.mkdir(parents=True)
    for command in (["git", "init", "-q"], ["git", "commit", "-q", "--allow-empty", "-m", "x"]):
        subprocess.run(command, cwd=path, env=env, check=True, timeout=30)
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, capture_output=True,
                          text=True, check=True, timeout=30).stdout.strip()


def run_main(devserver: DevServer, main: Path, cwd: Path, **environ: str) -> Dict[str, Any]:
    """Run ``main`` (the script above) from ``cwd``; the item it reported."""
    main.parent.mkdir(parents=True, exist_ok=True)
    main.write_text(SCRIPT)
    cwd.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([sys.executable, str(main), devserver.tokens["post_server_item"],
                           devserver.api_url], cwd=cwd, env=clean_environ(**environ),
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    (occurrence,) = devserver.wait_for_occurrences(1, WAIT)
    data: Dict[str, Any] = occurrence["data"]
    return data


@needs_git
def test_a_program_in_a_checkout_sends_its_head_and_top_level(devserver: DevServer,
                                                              tmp_path: Path) -> None:
    project = tmp_path / "project"
    head = git_checkout(project)
    data = run_main(devserver, project / "app" / "main.py", tmp_path / "elsewhere")
    assert data["code_version"] == data["server"]["code_version"] == head
    assert data["server"]["root"] == str(project.resolve())


def test_outside_a_checkout_the_root_is_the_main_modules_directory(devserver: DevServer,
                                                                 tmp_path: Path) -> None:
    data = run_main(devserver, tmp_path / "tool" / "main.py", tmp_path / "elsewhere",
                    GITHUB_SHA="f" * 40)
    assert data["server"]["root"] == str((tmp_path / "tool").resolve())
    assert data["code_version"] == data["server"]["code_version"] == "f" * 40


def test_the_option_wins_then_the_variables_in_order(tmp_path: Path) -> None:
    environ = {"CI_COMMIT_SHA": "gitlab", "GITHUB_SHA": "github", "SOURCE_VERSION": "heroku"}
    assert detect_revision(str(tmp_path), environ) == "heroku"
    assert detect_revision(str(tmp_path), dict(environ, ROLLBAR_CODE_VERSION="env")) == "env"
    given = Config.from_options({"code_version": "pinned", "root": str(tmp_path)},
                                environ=environ)
    assert given.code_version == "pinned"
    assert Config.from_options({"root": str(tmp_path)}, environ=environ).code_version == "heroku"


def test_a_long_revision_is_cut_to_what_items_accept(tmp_path: Path) -> None:
    """A SHA-256 repository's commits have 64 hex digits; items take 40 characters."""
    long = "a" * 64
    assert detect_revision(str(tmp_path), {"GIT_COMMIT": long}) == long[:MAX_CODE_VERSION]


def test_without_git_nothing_is_detected_and_nothing_raises(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "no-git-here"))
    config = Config.from_options({"root": str(tmp_path / "fresh")}, environ={})
    assert config.code_version is None
    assert config.root == str(tmp_path / "fresh")
