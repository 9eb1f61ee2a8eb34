"""The README's main command, run as a user runs it."""

import os
import re
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


def titles(out):
    """The item titles in the order the table lists them."""
    table = out.split("items stored", 1)[1].split("\n\n", 1)[0]
    return [re.split(r"\s{2,}", line.strip(), maxsplit=3)[3] for line in table.splitlines()[3:]]


def test_demo_reports_every_path_and_prints_what_was_stored(tmp_path):
    db = tmp_path / "demo.sqlite3"
    result = run_demo("--db", str(db))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "items stored (5)" in out
    assert titles(out) == [
        "RecursionError: maximum recursion depth exceeded",
        "RuntimeError: could not charge order 42",
        "ZeroDivisionError: integer division or modulo by zero",
        "inventory low",
        "payment provider acme-pay timed out after 3000 ms",
    ], "sorted by title, so every run lists them alike"
    assert "deploys stored (1)" in out
    assert "all items delivered" in out
    assert "ZeroDivisionError" in result.stderr  # the crashed thread's own traceback
    with closing(sqlite3.connect(db)) as connection:
        tables = {row[0] for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables


def test_demo_shows_what_the_notifier_did_and_how_to_keep_the_page():
    result = run_demo()
    assert result.returncode == 0, result.stderr
    highlights = result.stdout.split("what the notifier sent:\n", 1)[1]
    assert re.search(r"RuntimeError: could not charge order 42  \(demo\.py:\d+ in _charge\)\n"
                     r"    caused by KeyError: 'receipt_url'  \(demo\.py:\d+ in "
                     r"_gateway_request\)", highlights)
    assert "order['card_token'] = '********'  (local of _charge)" in highlights
    assert "tok_visa_4242" not in result.stdout
    assert re.search(r"\d\d:\d\d:\d\d\.\d{3} INFO    demo\.shop  checkout started for order 42",
                     highlights)
    fitted = re.search(r"a huge item \(RecursionError\), fitted under the 131,072-byte limit:\n"
                       r"    ([\d,]+) bytes cut to ([\d,]+) by frames_", highlights)
    assert fitted is not None
    original, sent = (int(group.replace(",", "")) for group in fitted.groups())
    assert original > 131072 >= sent
    assert re.search(r"[\d,]+ frames left out in all, marked where they were", highlights)
    assert "rollbar-notifier demo --serve" in result.stdout.splitlines()[-1]


def test_demo_twice_on_one_database_groups_the_repeats(tmp_path):
    db = str(tmp_path / "demo.sqlite3")
    first = run_demo("--db", db)
    assert first.returncode == 0, first.stderr
    second = run_demo("--db", db)
    assert second.returncode == 0, second.stderr
    assert "items stored (5)" in second.stdout
    assert "deploys stored (2)" in second.stdout
    assert titles(second.stdout) == titles(first.stdout)
    with DevServer(db=db) as server:
        assert sorted(item["total_occurrences"] for item in server.items()) == [2] * 5


def test_the_users_rollbar_variables_do_not_break_the_demo():
    result = run_demo(ROLLBAR_ENABLED="false", ROLLBAR_MODE="blocking",
                      ROLLBAR_ENDPOINT="http://127.0.0.1:9/api/1/")
    assert result.returncode == 0, result.stderr
    assert "all items delivered" in result.stdout


def test_an_unusable_database_is_one_line_and_exit_status_2(tmp_path):
    result = run_demo("--db", str(tmp_path / "missing" / "demo.sqlite3"))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (f"rollbar-notifier demo: cannot open the database "
                             f"{tmp_path / 'missing' / 'demo.sqlite3'}: "
                             "unable to open database file\n")
