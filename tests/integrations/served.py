"""Framework servers run as subprocesses, and the items a DevServer stored, for the
integration tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from rollbar_notifier.devserver import DevServer

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
WAIT = 10.0
STARTUP = 30.0
STOP = 10.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def environ(devserver: DevServer, **extra: str) -> Dict[str, str]:
    """The test's environment without its ROLLBAR_* variables, pointed at ``devserver``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("ROLLBAR_")}
    env.update(ROLLBAR_ACCESS_TOKEN=devserver.tokens["post_server_item"],
               ROLLBAR_ENDPOINT=devserver.api_url,
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
               **extra)
    return env


class Served:
    """A server subprocess, up once ``port`` takes connections; stopped with SIGTERM
    (a graceful stop, which delivers what it queued), killed if it does not stop."""

    def __init__(self, command: Sequence[str], *, cwd: Path, env: Dict[str, str],
                 port: Optional[int] = None) -> None:
        self.port = port
        self._log = tempfile.TemporaryFile(mode="w+")
        self.process = subprocess.Popen(list(command), cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                        stdout=self._log, stderr=subprocess.STDOUT, text=True)
        if port is not None:
            self._wait_for_port(port)

    def _wait_for_port(self, port: int) -> None:
        deadline = time.monotonic() + STARTUP
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited: {self.output()}")
            try:
                socket.create_connection(("127.0.0.1", port), 0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"no server on port {port} after {STARTUP} s: {self.output()}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP)
        return int(self.process.returncode)

    def output(self) -> str:
        self._log.seek(0)
        return self._log.read()

    def __enter__(self) -> Served:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()
        self._log.close()


def python(*args: str) -> List[str]:
    return [sys.executable, *args]


def stored(devserver: DevServer, count: int) -> List[Dict[str, Any]]:
    """The ``data`` of exactly ``count`` stored items (call once nothing more can come)."""
    occurrences = devserver.wait_for_occurrences(count, WAIT)
    assert len(occurrences) == count, [o["data"]["body"] for o in occurrences]
    return [o["data"] for o in occurrences]


def telemetry(data: Dict[str, Any]) -> List[str]:
    return [event["body"]["message"] for event in data["body"].get("telemetry", [])]


def exception_class(data: Dict[str, Any]) -> str:
    body = data["body"]
    trace = body["trace"] if "trace" in body else body["trace_chain"][0]
    return str(trace["exception"]["class"])
