"""Whole processes: exit flush, sys.exit, fork, the spool across restarts, a 50,000 burst."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
from child_process import environment
from scripted_server import Reply, ScriptedServer

pytestmark = pytest.mark.slow


def run_child(code: str, endpoint: str, timeout: float = 60,
              env: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess[str]:
    prelude = "import os, sys, json\nimport rollbar_notifier.default as rn\n"
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)],
                          env=environment(endpoint, **(env or {})), capture_output=True,
                          text=True, timeout=timeout)


def printed(result: subprocess.CompletedProcess[str], prefix: str) -> List[Any]:
    return [json.loads(line[len(prefix):]) for line in result.stdout.splitlines()
            if line.startswith(prefix)]


@pytest.mark.parametrize("ending,code", [("return", 0), ("sys.exit(1)", 1)])
def test_queued_reports_are_delivered_at_exit(server: ScriptedServer, ending: str,
                                              code: int) -> None:
    server.script(default=Reply(delay=0.005))
    result = run_child(f"""
        rn.init()
        uuids = [rn.report_message(f"message {{n}}") for n in range(100)]
        print("UUIDS", json.dumps(uuids))
        def main():
            {ending}
        main()
    """, server.api_url)
    assert result.returncode == code, result.stderr
    [uuids] = printed(result, "UUIDS ")
    assert len(set(uuids)) == 100
    assert sorted(set(server.delivered())) == sorted(uuids)
    assert result.stderr == ""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_reports_its_own_items(server: ScriptedServer) -> None:
    server.script(default=Reply(delay=0.05))
    result = run_child("""
        import warnings
        warnings.simplefilter("ignore", DeprecationWarning)
        rn.init(senders=1)
        before = [rn.report_message(f"parent {n}") for n in range(10)]
        pid = os.fork()
        if pid == 0:
            child = [rn.report_message(f"child {n}") for n in range(10)]
            print("CHILD", json.dumps([os.getpid(), child]), flush=True)
            sys.exit(0)
        os.waitpid(pid, 0)
        after = [rn.report_message(f"parent after {n}") for n in range(5)]
        print("PARENT", json.dumps([os.getpid(), before + after]), flush=True)
    """, server.api_url)
    assert result.returncode == 0, result.stderr
    [[child_pid, child_uuids]] = printed(result, "CHILD ")
    [[parent_pid, parent_uuids]] = printed(result, "PARENT ")
    sender_of: Dict[str, set] = {}
    for request in server.requests():
        pid = request.json()["data"]["server"]["pid"]
        sender_of.setdefault(str(request.uuid), set()).add(pid)
    assert {u: sender_of.get(u) for u in child_uuids} == {u: {child_pid} for u in child_uuids}
    assert {u: sender_of.get(u) for u in parent_uuids} == {u: {parent_pid} for u in parent_uuids}


def test_the_spool_carries_items_to_the_next_process(server: ScriptedServer,
                                                     tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    server.stop()
    first = run_child("""
        rn.init(shutdown_timeout=1)
        print("UUIDS", json.dumps([rn.report_message(f"during outage {n}") for n in range(5)]))
    """, server.api_url, env={"ROLLBAR_SPOOL_DIR": str(spool)})
    assert first.returncode == 0, first.stderr
    [uuids] = printed(first, "UUIDS ")
    assert len(list(spool.glob("*.json"))) == 5
    server.start()
    second = run_child("rn.init()", server.api_url, env={"ROLLBAR_SPOOL_DIR": str(spool)})
    assert second.returncode == 0, second.stderr
    assert sorted(server.delivered()) == sorted(uuids)
    assert list(spool.glob("*.json")) == []


def test_a_burst_keeps_memory_and_threads_bounded(server: ScriptedServer) -> None:
    result = run_child("""
        import threading, time

        def rss_kib():
            with open("/proc/self/status") as status:
                return next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))

        def burst(notifier, count):
            for n in range(count):
                try:
                    raise ValueError(f"burst {n}")
                except ValueError:
                    notifier.report_exception(extra={"n": n})

        notifier = rn.init()
        at_init = rss_kib()
        burst(notifier, 3000)
        notifier.flush(30)
        threads, base = threading.active_count(), rss_kib()
        started = time.monotonic()
        burst(notifier, 50_000)
        elapsed = time.monotonic() - started
        peak = rss_kib()
        flushed = notifier.flush(60)
        print("RESULT", json.dumps({
            "growth_kib": peak - base, "growth_from_init_kib": peak - at_init,
            "threads": [threads, threading.active_count()],
            "seconds": elapsed, "flushed": flushed, "stats": notifier.stats()}))
    """, server.api_url, timeout=150)
    assert result.returncode == 0, result.stderr
    [report] = printed(result, "RESULT ")
    print(f"\n50,000-report burst: RSS growth {report['growth_kib'] / 1024:.1f} MiB during the "
          f"burst, {report['growth_from_init_kib'] / 1024:.1f} MiB since init, in "
          f"{report['seconds']:.1f} s; stats {report['stats']}")
    assert report["growth_kib"] < 20 * 1024
    assert report["growth_from_init_kib"] < 40 * 1024
    assert report["threads"][0] == report["threads"][1]
    assert report["flushed"]
    lost = report["stats"]["dropped"]["queue_full"]
    assert lost > 0 and report["stats"]["dropped"] == {"queue_full": lost}
    warned = [r.json()["data"]["custom"]["dropped"] for r in server.requests()
              if r.json()["data"]["level"] == "warning"]
    assert warned and sum(warned) == lost
    assert report["stats"]["sent"] == report["stats"]["queued"]


def test_exit_waits_once_for_a_server_that_never_answers(server: ScriptedServer) -> None:
    """Excepthook flush, atexit close, logging.shutdown()'s flush and close: one budget."""
    server.script(default=Reply(delay=30))
    started = time.monotonic()
    result = run_child("""
        import logging
        rn.init(shutdown_timeout=1)
        from rollbar_notifier import RollbarHandler
        logging.getLogger().addHandler(RollbarHandler())
        logging.getLogger("app").error("before the crash")
        raise RuntimeError("uncaught")
    """, server.api_url, env={"ROLLBAR_INSTALL_HOOKS": "1"})
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert "RuntimeError: uncaught" in result.stderr
    assert "2 item(s) were not delivered" in result.stderr
    assert elapsed < 3, f"exit took {elapsed:.1f} s with shutdown_timeout=1"


def test_records_a_memory_handler_flushes_at_exit_are_delivered(server: ScriptedServer) -> None:
    result = run_child("""
        import logging, logging.handlers
        from rollbar_notifier import RollbarHandler
        target = RollbarHandler(access_token=os.environ["ROLLBAR_ACCESS_TOKEN"])
        buffered = logging.handlers.MemoryHandler(1000, flushLevel=logging.CRITICAL,
                                                  target=target)
        logging.getLogger().addHandler(buffered)
        for n in range(5):
            logging.getLogger("app").error("buffered %d", n)
    """, server.api_url)
    assert result.returncode == 0, result.stderr
    bodies = sorted(r.json()["data"]["body"]["message"]["body"] for r in server.requests())
    assert bodies == [f"buffered {n}" for n in range(5)]
    assert result.stderr == ""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_multiprocessing_fork_children_deliver_before_os_exit(server: ScriptedServer) -> None:
    server.script(default=Reply(delay=0.05))
    result = run_child("""
        import multiprocessing, warnings
        warnings.simplefilter("ignore", DeprecationWarning)

        def child(n):
            rn.report_message(f"from child {n}")

        if __name__ == "__main__":
            rn.init()
            context = multiprocessing.get_context("fork")
            processes = [context.Process(target=child, args=(n,)) for n in range(3)]
            for process in processes:
                process.start()
            for process in processes:
                process.join(30)
            print("CODES", json.dumps([p.exitcode for p in processes]))
    """, server.api_url)
    assert result.returncode == 0, result.stderr
    assert printed(result, "CODES ") == [[0, 0, 0]]
    bodies = sorted(r.json()["data"]["body"]["message"]["body"] for r in server.requests())
    assert bodies == [f"from child {n}" for n in range(3)]


def test_losses_at_exit_are_named_once_by_reason(server: ScriptedServer) -> None:
    """The queue overflows and never drains before exit, so the item that would report
    the overflow is never sent either: the exit line names both losses."""
    server.script(default=Reply(delay=30))
    result = run_child("""
        rn.init(queue_size=2, senders=1, shutdown_timeout=0.5)
        print("UUIDS", json.dumps([rn.report_message(f"burst {n}") for n in range(10)]))
    """, server.api_url)
    assert result.returncode == 0, result.stderr
    [uuids] = printed(result, "UUIDS ")
    lost_to_queue = uuids.count(None)
    assert lost_to_queue >= 7
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("rollbar_notifier: 10 item(s) were not delivered: ")
    assert f"{lost_to_queue} queue_full (" in lines[0]
    assert f"{10 - lost_to_queue} shutdown_timeout (" in lines[0]
    assert lines[0].endswith("; set spool_dir to keep such items")


@pytest.mark.parametrize("logging_setup,where", [("", "stderr"),
                                                 ("logging.basicConfig(stream=sys.stdout)",
                                                  "stdout")])
def test_a_refused_token_is_said_even_without_logging(server: ScriptedServer,
                                                      logging_setup: str, where: str) -> None:
    """With logging unconfigured the package's NullHandler used to hide every warning: a
    bad token printed nothing and flush() returned True. Now the first refusal reaches
    stderr (once), unless the program's own handler shows it."""
    server.script(default=Reply(status=403, body=b'{"err": 1, "message": "invalid token"}'))
    result = run_child(f"""
        import logging
        {logging_setup}
        notifier = rn.init()
        for n in range(3):
            rn.report_message(f"refused {{n}}")
        print("FLUSHED", json.dumps([rn.flush(5), notifier.stats()["dropped"]]))
    """, server.api_url)
    assert result.returncode == 0, result.stderr
    assert printed(result, "FLUSHED ") == [[True, {"http_403": 3}]]
    warning = "rollbar_notifier: the server refused an item (http_403): invalid token"
    shown = result.stderr if where == "stderr" else result.stdout
    assert shown.count(warning) == 1
    assert (result.stdout if where == "stderr" else result.stderr).count(warning) == 0
    assert "3 http_403 (refused by the server)" in result.stderr


def test_a_missing_token_and_a_dead_endpoint_are_said(server: ScriptedServer) -> None:
    server.stop()
    tokenless = run_child("rn.init()", server.api_url, env={"ROLLBAR_ACCESS_TOKEN": ""})
    assert tokenless.stderr.count("no access_token") == 1
    dead = run_child("""
        rn.init(shutdown_timeout=0.5)
        rn.report_message("to nowhere")
    """, server.api_url)
    lines = dead.stderr.splitlines()
    assert len(lines) == 2, dead.stderr
    assert lines[0].startswith("rollbar_notifier: could not deliver an item (network): "
                               "ConnectionError")
    assert lines[1].startswith("rollbar_notifier: 1 item(s) were not delivered: 1 "
                               "shutdown_timeout")


def test_a_bad_environment_value_is_said_once_and_defaulted(server: ScriptedServer) -> None:
    result = run_child("""
        first = rn.init()
        second = rn.init()
        print("TIMEOUTS", json.dumps([first.config.timeout, second.config.timeout]))
        try:
            rn.init(timeout="abc")
        except ValueError as exc:
            print("RAISED", json.dumps(str(exc)))
    """, server.api_url, env={"ROLLBAR_TIMEOUT": "abc"})
    assert result.returncode == 0, result.stderr
    assert printed(result, "TIMEOUTS ") == [[5.0, 5.0]]
    assert printed(result, "RAISED ") == ["timeout must be a number, got 'abc'"]
    assert result.stderr.splitlines() == [
        "rollbar_notifier: ROLLBAR_TIMEOUT must be a number, got 'abc'; ignoring "
        "ROLLBAR_TIMEOUT and using the default"]
