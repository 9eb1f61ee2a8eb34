"""SIGTERM: what is queued goes out (or to the spool) and the process still dies of SIGTERM."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest
from child_process import environment
from scripted_server import Reply, ScriptedServer

import rollbar_notifier.default as module
from rollbar_notifier.notifier import Notifier

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGTERM") or sys.platform == "win32",
                                reason="needs POSIX signals")

QUEUED = 40
WAIT_SECONDS = 30.0


def run_until_killed(code: str, endpoint: str, env: Optional[Dict[str, str]] = None
                     ) -> Tuple[int, List[str], str]:
    """Run ``code`` under a shell, SIGTERM the Python process once it prints ``READY``, and
    return the exit status the shell saw, the uuids it printed, and its stderr."""
    prelude = "import json, os, signal, sys, time\nimport rollbar_notifier.default as rn\n"
    shell = '"$@"; echo "STATUS $?"'
    process = subprocess.Popen(["sh", "-c", shell, "sh", sys.executable, "-c",
                                prelude + textwrap.dedent(code)],
                               env=environment(endpoint, **(env or {})),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        ready = process.stdout.readline()
        assert ready.startswith("READY "), ready + (process.stderr.read() if process.stderr
                                                    else "")
        pid, uuids = json.loads(ready[len("READY "):])
        os.kill(pid, signal.SIGTERM)
        out, err = process.communicate(timeout=WAIT_SECONDS)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    status = [line for line in out.splitlines() if line.startswith("STATUS ")]
    return int(status[-1].split()[1]), uuids, err


REPORT_AND_WAIT = textwrap.dedent(f"""
    rn.init(shutdown_timeout=float(os.environ.get("TEST_SHUTDOWN", "10")))
    uuids = [rn.report_message(f"queued {{n}}") for n in range({QUEUED})]
    print("READY", json.dumps([os.getpid(), uuids]), flush=True)
    time.sleep({WAIT_SECONDS})
    print("NOT KILLED", flush=True)
""")


@pytest.mark.slow
def test_sigterm_delivers_every_queued_item_and_exits_143(server: ScriptedServer) -> None:
    server.script(default=Reply(delay=0.05))
    status, uuids, err = run_until_killed(REPORT_AND_WAIT, server.api_url)
    assert status == 128 + signal.SIGTERM == 143
    assert len(set(uuids)) == QUEUED
    assert sorted(server.delivered()) == sorted(uuids)
    assert "rollbar_notifier" not in err, "nothing was lost, so nothing is said"


@pytest.mark.slow
def test_sigterm_spools_what_the_server_does_not_take(server: ScriptedServer,
                                                      tmp_path: Path) -> None:
    server.stop()
    spool = tmp_path / "spool"
    status, uuids, err = run_until_killed(REPORT_AND_WAIT, server.api_url,
                                          env={"ROLLBAR_SPOOL_DIR": str(spool),
                                               "TEST_SHUTDOWN": "0.5"})
    assert status == 143
    kept = sorted(json.loads(path.read_bytes())["data"]["uuid"] for path in spool.glob("*.json"))
    assert kept == sorted(uuids)
    assert "not delivered" not in err, "spooled items are not lost"


@pytest.mark.slow
def test_a_handler_of_the_program_still_runs_after_the_flush(server: ScriptedServer) -> None:
    server.script(default=Reply(delay=0.05))
    status, uuids, err = run_until_killed(textwrap.dedent("""
        def graceful(signum, frame):
            print("GRACEFUL", flush=True)
            sys.exit(3)
        signal.signal(signal.SIGTERM, graceful)
    """) + REPORT_AND_WAIT, server.api_url)
    assert status == 3
    assert sorted(server.delivered()) == sorted(uuids)
    assert "rollbar_notifier" not in err


def test_init_installs_the_handler_and_close_restores_the_default(
        server: ScriptedServer) -> None:
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    module.init(access_token="t", endpoint=server.api_url, install_hooks=False,
                flush_on_signals=())
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    module.init(access_token="t", endpoint=server.api_url, install_hooks=False)
    try:
        installed = signal.getsignal(signal.SIGTERM)
        assert callable(installed)
        module.init(access_token="t", endpoint=server.api_url, install_hooks=False)
        assert signal.getsignal(signal.SIGTERM) is installed
    finally:
        module.close()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_init_outside_the_main_thread_leaves_signals_alone(
        server: ScriptedServer, caplog: pytest.LogCaptureFixture) -> None:
    made: List[Any] = []
    with caplog.at_level(logging.DEBUG, logger="rollbar_notifier"):
        thread = threading.Thread(target=lambda: made.append(module.init(
            access_token="t", endpoint=server.api_url, install_hooks=False)))
        thread.start()
        thread.join(10)
    try:
        assert made and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
        assert "SIGTERM" in caplog.text and "main thread" in caplog.text
    finally:
        module.close()


def test_bad_signal_names_are_refused() -> None:
    for bad in (("SIGNOPE",), ("SIGKILL",), "SIGTERM,SIGSTOP"):
        with pytest.raises(ValueError, match="flush_on_signals"):
            Notifier(flush_on_signals=bad, enabled=False)
    assert Notifier(flush_on_signals="SIGTERM, SIGHUP",
                           enabled=False).config.flush_on_signals == ("SIGTERM", "SIGHUP")


def test_flush_on_signals_takes_none_from_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROLLBAR_FLUSH_ON_SIGNALS", "none")
    assert Notifier(enabled=False).config.flush_on_signals == ()


@pytest.mark.slow
def test_sigterm_that_lands_just_before_the_main_thread_blocks_still_ends_it(
        server: ScriptedServer) -> None:
    """A pool worker that ``Pool.terminate()`` reaches after its last bytecode check, on its
    way to wait on the task-queue lock the parent holds: the handler must still run."""
    code = textwrap.dedent("""
        import collections, itertools, multiprocessing, os, sys
        import rollbar_notifier.default as rn
        rn.init()
        print("UUID", rn.report_message("reported before the SIGTERM"), flush=True)
        never = multiprocessing.get_context("fork").Semaphore(0)
        # In C throughout, no bytecode in between: say READY, stay busy while the test
        # sends SIGTERM (only its C-level handler runs), then block on a semaphore.
        collections.deque(itertools.chain(map(os.write, [1], [b"READY\\n"]),
                                          itertools.repeat(None, 3 * 10**8),
                                          map(never.acquire, [True])), maxlen=0)
        print("NOT KILLED", flush=True)
    """)
    process = subprocess.Popen([sys.executable, "-c", code], env=environment(server.api_url),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        uuid = process.stdout.readline().split()[-1]
        assert process.stdout.readline() == "READY\n"
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=WAIT_SECONDS)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == -signal.SIGTERM, err
    assert server.delivered() == [uuid]


@pytest.mark.slow
def test_sigterm_sent_to_a_child_as_it_is_forked_still_ends_it(server: ScriptedServer) -> None:
    """``Pool.terminate()`` soon after the pool started: the interpreter of a child forgets
    a signal that reaches it before it has reset after the fork."""
    code = textwrap.dedent("""
        import json, os, signal, threading, time
        import rollbar_notifier.default as rn
        rn.init()
        statuses = []
        for _ in range(5):
            pid = os.fork()
            if pid == 0:
                never = threading.Lock()
                never.acquire()
                never.acquire()
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while True:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    statuses.append(os.waitstatus_to_exitcode(status))
                    break
                if time.monotonic() > deadline:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    statuses.append("hung")
                    break
                time.sleep(0.01)
        print(json.dumps(statuses))
    """)
    done = subprocess.run([sys.executable, "-c", code], env=environment(server.api_url),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [-signal.SIGTERM] * 5
