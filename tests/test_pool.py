"""``with multiprocessing.Pool()``: every report made in a worker arrives, whatever the
start method. The ``with`` block ends by terminating the workers (SIGTERM) while their
senders may still hold queued items; ``close()``/``join()`` ends them with ``os._exit``
after ``multiprocessing``'s finalizers, where ``atexit`` never runs (forkserver)."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from child_process import environment
from scripted_server import Reply, ScriptedServer

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX signals")]

TASKS = 16

APP = """
import json, multiprocessing, os, sys, warnings
warnings.simplefilter("ignore", DeprecationWarning)
import rollbar_notifier.default as rn


def start_worker():
    rn.init()


def task(n):
    return rn.report_message(f"task {n} in {os.getpid()}")


if __name__ == "__main__":
    method, ending = sys.argv[1], sys.argv[2]
    context = multiprocessing.get_context(method)
    # A forked worker inherits the parent's notifier and SIGTERM handler; the others
    # start their own.
    initializer = None
    if method == "fork":
        rn.init()
    else:
        initializer = start_worker
    with context.Pool(4, initializer=initializer) as pool:
        uuids = pool.map(task, range(TASKS), chunksize=1)
        if ending == "join":
            pool.close()
            pool.join()
    print("UUIDS", json.dumps(uuids), flush=True)
""".replace("TASKS", str(TASKS))


@pytest.mark.parametrize("ending", ["terminate", "join"])
@pytest.mark.parametrize("method", [m for m in ("fork", "spawn", "forkserver")
                                    if m in multiprocessing.get_all_start_methods()])
def test_every_report_of_a_pool_worker_arrives(server: ScriptedServer, tmp_path: Path,
                                               method: str, ending: str) -> None:
    if method != "spawn" and not hasattr(os, "fork"):
        pytest.skip("needs os.fork")
    server.script(default=Reply(delay=0.05))
    app = tmp_path / "pool_app.py"
    app.write_text(textwrap.dedent(APP))
    done = subprocess.run([sys.executable, str(app), method, ending],
                          env=environment(server.api_url, PYTHONPATH=os.pathsep.join(sys.path)),
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    [uuids] = [json.loads(line[len("UUIDS "):]) for line in done.stdout.splitlines()
               if line.startswith("UUIDS ")]
    assert None not in uuids and len(set(uuids)) == TASKS
    delivered = set(server.delivered())
    assert sorted(set(uuids) - delivered) == [], f"lost {len(set(uuids) - delivered)} of {TASKS}"
    assert done.stderr == ""
