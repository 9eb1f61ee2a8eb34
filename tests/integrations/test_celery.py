"""The Celery example under a real worker (prefork, one process), its broker a folder."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest

from rollbar_notifier.devserver import DevServer

from .served import EXAMPLES, Served, environ, python, stored, telemetry

pytest.importorskip("celery")
TASKS = 30.0
"""Seconds for the worker to start and run both tasks, the retry included."""


@pytest.mark.slow
def test_a_failed_task_and_a_retried_one_from_a_real_worker(devserver: DevServer,
                                                            tmp_path: Path) -> None:
    env = environ(devserver, CELERY_DATA_DIR=str(tmp_path))
    worker = python("-m", "celery", "-A", "celery_app", "worker", "-c", "1", "-l", "WARNING",
                    "--without-heartbeat", "--without-gossip", "--without-mingle")
    with Served(worker, cwd=EXAMPLES, env=env) as served:
        queued = subprocess.run(python("celery_app.py"), cwd=EXAMPLES, env=env, timeout=TASKS,
                                capture_output=True, text=True, check=False)
        assert queued.returncode == 0, queued.stderr
        devserver.wait_for_occurrences(2, TASKS)
        assert served.stop() in (0, -signal.SIGTERM), "a warm shutdown"
        assert "raised unexpected: ValueError" in served.output(), "Celery logged it too"
    charge, stock = sorted(stored(devserver, 2), key=lambda data: data["context"])

    assert (charge["context"], charge["framework"]) == ("shop.charge", "celery")
    task = charge["custom"]["celery"]
    assert task["arguments"] == {"order_id": 7, "card_number": "********"}
    assert (task["task"], task["retries"]) == ("shop.charge", 0) and task["task_id"]
    frames = charge["body"]["trace"]["frames"]
    assert [frame["method"] for frame in frames] == ["charge"], "the task's code only"
    assert frames[0]["locals"]["card_number"] == "********"
    assert "4111" not in json.dumps(charge)
    assert telemetry(charge)[-1] == "charging order 7"

    assert (stock["context"], stock["custom"]["celery"]["retries"]) == ("shop.sync_stock", 1)
    assert stock["body"]["trace"]["exception"]["class"] == "ConnectionError"
    assert {frame["method"] for frame in stock["body"]["trace"]["frames"]} == {"sync_stock"}
    messages = telemetry(stock)
    assert [m for m in messages if m.startswith("task shop.sync_stock[")
            and " retry 1: " in m], "the retry, logged by the first run"
    assert messages[-1] == "syncing SKU-42, attempt 2"
    assert "syncing SKU-42, attempt 1" not in messages, "the first run's own records stay with it"
