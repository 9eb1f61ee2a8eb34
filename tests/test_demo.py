"""The README's main command, run as a user runs it."""

import os
import sqlite3
import subprocess
import sys
from contextlib import closing

import pytest

from rollbar_notifier.devserver import DevServer

pytestmark = pytest.mark.slow


def run_demo(*args, **variables):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROLLBAR_")}
    env.update(variables)
    return subprocess.run([sys.executable, "-m", "rollbar_notifier", "demo", *args],
                          capture_output=True, text=True, timeout=90, env=env)


def test_demo_reports_every_path_and_prints_what_was_stored(tmp_path):
    db = tmp_path / "demo.sqlite3"
    result = run_demo("--db", str(db))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "items stored (4)" in out
    assert "payment provider acme-pay timed out after 3000 ms" in out
    assert "RuntimeError: could not charge order 42" in out
    assert "inventory low" in out
    assert "ZeroDivisionError" in out
    assert "deploys stored (1)" in out
    assert "all items delivered" in out
    assert "ZeroDivisionError" in result.stderr  # the crashed thread's own traceback
    with closing(sqlite3.connect(db)) as connection:
        tables = {row[0] for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables


def test_demo_twice_on_one_database_groups_the_repeats(tmp_path):
    db = str(tmp_path / "demo.sqlite3")
    assert run_demo("--db", db).returncode == 0
    second = run_demo("--db", db)
    assert second.returncode == 0, second.stderr
    assert "items stored (4)" in second.stdout
    assert "deploys stored (2)" in second.stdout
    with DevServer(db=db) as server:
        assert sorted(item["total_occurrences"] for item in server.items()) == [2, 2, 2, 2]


def test_the_users_rollbar_variables_do_not_break_the_demo():
    result = run_demo(ROLLBAR_ENABLED="false", ROLLBAR_MODE="blocking",
                      ROLLBAR_ENDPOINT="http://127.0.0.1:9/api/1/")
    assert result.returncode == 0, result.stderr
    assert "all items delivered" in result.stdout
