"""Shared payloads and raw-HTTP helpers for the devserver tests (no notifier involved)."""

from __future__ import annotations

import copy
import json
import queue
import threading
import uuid
from typing import IO, Any, Dict, List, Optional, Sequence

import requests

from rollbar_notifier.devserver import DevServer

TIMEOUT = 10


def trace_payload(**data: Any) -> Dict[str, Any]:
    """A pyrollbar-shaped exception item; keyword arguments override `data` keys."""
    payload: Dict[str, Any] = {
        "data": {
            "environment": "test",
            "level": "error",
            "timestamp": 1700000000,
            "platform": "linux",
            "language": "python",
            "uuid": str(uuid.uuid4()),
            "body": {
                "trace": {
                    "frames": [
                        {"filename": "app/main.py", "lineno": 10, "method": "main",
                         "code": "run()", "context": {"pre": ["def main():"], "post": []}},
                        {"filename": "app/work.py", "lineno": 42, "method": "run",
                         "code": "raise ValueError('bad value')",
                         "context": {"pre": ["def run():", "    x = 1"], "post": [""]},
                         "argspec": [], "locals": {"x": "1"}},
                    ],
                    "exception": {"class": "ValueError", "message": "bad value"},
                }
            },
            "server": {"host": "box", "pid": 123, "argv": ["app"]},
            "notifier": {"name": "pyrollbar", "version": "1.0.0"},
        }
    }
    payload["data"].update(data)
    return payload


def message_payload(text: str = "hello", **data: Any) -> Dict[str, Any]:
    payload = trace_payload(**data)
    payload["data"]["body"] = {"message": {"body": text}}
    payload["data"]["level"] = data.get("level", "info")
    return payload


def without(payload: Dict[str, Any], *path: str) -> Dict[str, Any]:
    """A copy of `payload` with the key at `path` removed."""
    result = copy.deepcopy(payload)
    del _parent(result, path)[path[-1]]
    return result


def replaced(payload: Dict[str, Any], value: Any, *path: str) -> Dict[str, Any]:
    """A copy of `payload` with `value` at `path` (list indexes as strings)."""
    result = copy.deepcopy(payload)
    parent = _parent(result, path)
    parent[int(path[-1]) if isinstance(parent, list) else path[-1]] = value
    return result


def _parent(payload: Dict[str, Any], path: Sequence[str]) -> Any:
    target: Any = payload
    for key in path[:-1]:
        target = target[int(key)] if isinstance(target, list) else target[key]
    return target


def post_item(
    server: DevServer,
    payload: Any,
    token: Optional[str] = None,
    session: Optional[requests.Session] = None,
) -> requests.Response:
    """POST item/ with the token in the header (the server-item token by default)."""
    headers = {"X-Rollbar-Access-Token": token or server.tokens["post_server_item"]}
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    sender = session or requests
    return sender.post(server.api_url + "item/", data=body, timeout=TIMEOUT,
                       headers={**headers, "Content-Type": "application/json"})


def api_get(server: DevServer, path: str, **params: str) -> requests.Response:
    return requests.get(server.api_url + path, params=params, timeout=TIMEOUT,
                        headers={"X-Rollbar-Access-Token": server.tokens["read"]})


class LineReader:
    """Lines of a process's output as they come, each waited for at most `timeout` s."""

    def __init__(self, stream: IO[str]) -> None:
        self._lines: queue.Queue[str] = queue.Queue()
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream: IO[str]) -> None:
        for line in iter(stream.readline, ""):
            self._lines.put(line)
        self._lines.put("")

    def next(self, timeout: float = TIMEOUT) -> str:
        """The next line; "" once the stream ended. Fails the test after `timeout`."""
        try:
            return self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no output line within {timeout} s") from None

    def rest(self, timeout: float = TIMEOUT) -> List[str]:
        """Every line until the stream ends (the process must be ending)."""
        lines = []
        for _ in range(10000):
            line = self.next(timeout)
            if not line:
                return lines
            lines.append(line)
        raise AssertionError("the stream did not end")
