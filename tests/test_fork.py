"""``fork()`` while senders are busy: the child must deliver everything, every time.

A fork copies only the forking thread, so any lock another thread holds at that moment
stays held in the child forever. The first send of a process used to import ``netrc``
(``requests`` with ``trust_env``); a fork during that import left the child's senders
waiting on the import lock for good. These tests fork right after the first reports,
many times, and check what the child delivers; and they check that a sender imports
nothing, since any import is such a lock.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from typing import Any, Dict, List

import pytest
from child_process import environment
from scripted_server import ScriptedServer

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

RUNS = 50
PER_PROCESS = 5
RUN_SECONDS = 10.0
"""A run that delivers takes a fraction of a second; one stuck on a lock is killed then."""

ZYGOTE = """
import json, os, signal, sys, time, warnings
warnings.simplefilter("ignore", DeprecationWarning)
import rollbar_notifier.default as rn

RUNS, PER, LIMIT = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])


def say(**fields):
    os.write(1, (json.dumps(fields) + "\\n").encode())


def wait_or_kill(pid, deadline):
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return True
        time.sleep(0.005)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return False


def one_run(run):
    # A fresh process that has sent nothing yet: reports, then forks at once, while its
    # senders make their first requests.
    rn.init(senders=4, shutdown_timeout=1)
    parent = [rn.report_message(f"run {run} parent {n}") for n in range(PER)]
    pid = os.fork()
    if pid == 0:
        child = [rn.report_message(f"run {run} child {n}") for n in range(PER)]
        say(run=run, child=child, flushed=rn.flush(LIMIT))
        os._exit(0)
    exited = wait_or_kill(pid, time.monotonic() + LIMIT + 2)
    say(run=run, parent=parent, flushed=rn.flush(LIMIT), child_exited=exited,
        stats=rn.get_notifier().stats())
    os._exit(0)


for run in range(RUNS):
    pid = os.fork()
    if pid == 0:
        one_run(run)
    if not wait_or_kill(pid, time.monotonic() + 2 * LIMIT + 4):
        say(run=run, killed=True)
"""


@pytest.mark.slow
def test_a_fork_right_after_the_first_reports_never_hangs_the_child(
        server: ScriptedServer) -> None:
    """50 fresh processes each fork during their first sends; every child delivers."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(ZYGOTE), str(RUNS), str(PER_PROCESS),
         str(RUN_SECONDS / 2)],
        env=environment(server.api_url), capture_output=True, text=True, timeout=RUNS * RUN_SECONDS)
    assert done.returncode == 0, done.stderr[-3000:]
    lines: List[Dict[str, Any]] = [json.loads(line) for line in done.stdout.splitlines()]
    delivered = set(server.delivered())
    hung = sorted({line["run"] for line in lines
                   if line.get("killed") or line.get("flushed") is False
                   or line.get("child_exited") is False})
    children = [line for line in lines if "child" in line]
    missing = {line["run"]: len(set(line["child"]) - delivered) for line in children
               if not set(line["child"]) <= delivered}
    assert len(children) == RUNS
    assert hung == [], f"{len(hung)} of {RUNS} runs hung: {hung}"
    assert missing == {}, f"children lost items: {missing}"
    parents = [uuid for line in lines for uuid in line.get("parent", [])]
    lost = [line["stats"] for line in lines
            if "parent" in line and not set(line["parent"]) <= delivered]
    assert len(parents) == RUNS * PER_PROCESS and lost == [], f"parents lost items: {lost}"


def test_senders_import_nothing(server: ScriptedServer) -> None:
    """An import takes a lock that a fork can leave held, so every module a send needs is
    loaded by the time the notifier exists: exceptions, messages, log telemetry."""
    code = """
        import logging, sys
        import rollbar_notifier.default as rn
        rn.init(install_hooks=False)
        loaded = set(sys.modules)
        logging.getLogger("app").warning("telemetry")
        try:
            raise ValueError("boom")
        except ValueError:
            rn.report_exception(extra={"order": 1},
                                request={"url": "http://example.com/?q=1",
                                         "headers": {"Authorization": "Bearer x"}})
        rn.report_message("hello", person={"id": 1})
        assert rn.flush(10)
        print(sorted(set(sys.modules) - loaded))
    """
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                          env=environment(server.api_url),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    assert len(server.delivered()) == 2


HOLD_EVERY_LOCK = """
import collections, json, os, signal, sys, threading, time, types, warnings
warnings.simplefilter("ignore", DeprecationWarning)
import rollbar_notifier, rollbar_notifier.default as rn

LOCKS = (type(threading.Lock()), type(threading.RLock()))
SKIP = (str, bytes, int, float, bool, type(None), type, types.FunctionType,
        types.BuiltinFunctionType, types.MethodType, threading.Thread)


def locks_of(root, seen, depth=0):
    # Every lock reachable from ``root`` through attributes and containers.
    if id(root) in seen or depth > 12 or isinstance(root, SKIP):
        return
    seen.add(id(root))
    if isinstance(root, LOCKS):
        yield root
        return
    if isinstance(root, threading.Condition):  # its waiters' locks belong to the waiters
        yield from locks_of(root._lock, seen, depth + 1)
        return
    if isinstance(root, types.ModuleType):
        if not root.__name__.startswith("rollbar_notifier"):
            return
        children = list(vars(root).values())
    elif isinstance(root, dict):
        children = list(root.values())
    elif isinstance(root, (list, tuple, set, frozenset, collections.deque)):
        children = list(root)
    else:
        children = list(getattr(root, "__dict__", {}).values())
        children += [getattr(root, name, None) for name in getattr(type(root), "__slots__", ())]
    for child in children:
        yield from locks_of(child, seen, depth + 1)


notifier = rn.init(spool_dir=sys.argv[1])
assert rn.report_message("parent") and rn.flush(10)
modules = [m for name, m in sorted(sys.modules.items()) if name.startswith("rollbar_notifier")]
locks = list(locks_of([notifier, *modules], set()))
held, release = threading.Event(), threading.Event()


def hold_them_all():
    for lock in locks:
        lock.acquire()
    held.set()
    release.wait(60)
    for lock in reversed(locks):
        lock.release()


threading.Thread(target=hold_them_all, daemon=True).start()
if not held.wait(10):
    os.write(2, b"could not take every lock\\n")
    os._exit(1)
pid = os.fork()
if pid == 0:
    uuids = [rn.report_message(f"child {n}") for n in range(3)]
    os.write(1, (json.dumps({"uuids": uuids, "flushed": rn.flush(10)}) + "\\n").encode())
    os._exit(0)
deadline = time.monotonic() + 20  # a lock left held hangs the child: end it then
while not os.waitpid(pid, os.WNOHANG)[0] and time.monotonic() < deadline:
    time.sleep(0.01)
hung = time.monotonic() >= deadline
if hung:
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
release.set()
print(json.dumps({"locks": len(locks), "hung": hung}))
"""


def test_a_child_forked_while_every_lock_is_held_still_delivers(server: ScriptedServer,
                                                                tmp_path: Any) -> None:
    """The audit, as a test: another thread holds every lock of the notifier (queue,
    counters, delivery, spool, lifecycle, the session's pool...) when the process forks;
    the child replaces them all, so it reports and delivers as if nothing were held."""
    done = subprocess.run([sys.executable, "-c", HOLD_EVERY_LOCK, str(tmp_path / "spool")],
                          env=environment(server.api_url), capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    *child_lines, parent = [json.loads(line) for line in done.stdout.splitlines()]
    assert not parent["hung"], "a lock the child needs stayed held"
    assert parent["locks"] >= 12
    (child,) = child_lines
    assert child["flushed"] and set(child["uuids"]) <= set(server.delivered())
