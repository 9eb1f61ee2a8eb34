"""How much the devserver's memory grows to serve an item with many large occurrences.

Run: python benchmarks/devserver_memory.py [--occurrences 400] [--kb 123] [--limit-mb 32]
It stores that many occurrences of about that size under one item, restarts the server
on the database (a process of its own, so its memory is measured alone), then fetches
the item page, a few occurrence pages and every page of every read API list, and
reports the peak RSS (VmHWM) against the RSS before those requests. Linux only (/proc).
Exits 1 when the growth is over --limit-mb.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Dict, List

import requests

TOKEN = "memory-benchmark-token"
SERVER = (
    "import sys, time\n"
    "from rollbar_notifier.devserver import DevServer\n"
    "server = DevServer(db=sys.argv[1], tokens={sys.argv[2]: ['post_server_item', 'read']})\n"
    "server.start()\n"
    "print(server.base_url, flush=True)\n"
    "time.sleep(3600)\n"
)


def _payload(kilobytes: int) -> Dict[str, Any]:
    """A trace whose many frames carry context lines and locals, as a deep failure does."""
    frames = []
    for number in range(60):
        frames.append({
            "filename": f"app/module_{number}.py", "lineno": 10 + number,
            "method": f"step_{number}",
            "code": f"result = step_{number + 1}(payload, retries={number})",
            "context": {"pre": [f"    line {n} before, with some code on it" for n in range(4)],
                        "post": [f"    line {n} after, with some code on it" for n in range(4)]},
            "locals": {f"name_{n}": f"value {n} of frame {number}: " + "x" * 40
                       for n in range(12)},
        })
    payload = {"data": {"environment": "memory", "level": "error", "uuid": str(uuid.uuid4()),
                        "timestamp": int(time.time()), "fingerprint": "one-item",
                        "body": {"trace": {"frames": frames, "exception": {
                            "class": "MemoryBenchmarkError", "message": "deep failure"}}}}}
    size = len(json.dumps(payload))
    target = kilobytes * 1000
    payload["data"]["custom"] = {"padding": "p" * max(0, target - size - 40)}
    return payload


def _rss_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/{pid}/status")


def _start(db: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", SERVER, str(db), TOKEN],
                            stdout=subprocess.PIPE, text=True)


def _pages(session: requests.Session, base: str, occurrences: int) -> List[str]:
    """Every read API page (following `total_count` where paged) plus the web pages."""
    api = base + "api/1/"
    urls = [base, base + "items/1", base + "occurrences/1", base + f"occurrences/{occurrences}",
            api + "items/", api + "item/1", api + "deploys/"]
    first = session.get(api + "item/1/instances/", timeout=60).json()["result"]
    per_page = first.get("per_page") or len(first["instances"])
    total = first.get("total_count", len(first["instances"]))
    pages = -(-total // per_page) if per_page else 1
    urls += [api + f"item/1/instances/?page={page}" for page in range(1, pages + 1)]
    return urls


def measure(occurrences: int, kilobytes: int) -> Dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="devserver-memory-") as directory:
        db = Path(directory) / "memory.sqlite3"
        headers = {"X-Rollbar-Access-Token": TOKEN}
        writer = _start(db)
        try:
            assert writer.stdout is not None
            base = writer.stdout.readline().strip()
            payload = _payload(kilobytes)
            with requests.Session() as session:
                for _ in range(occurrences):
                    payload["data"]["uuid"] = str(uuid.uuid4())
                    text = json.dumps(payload)
                    response = session.post(base + "api/1/item/", data=text.encode(),
                                            headers={**headers,
                                                     "Content-Type": "application/json"},
                                            timeout=60)
                    response.raise_for_status()
        finally:
            writer.kill()
            writer.wait()
        reader = _start(db)
        try:
            assert reader.stdout is not None
            base = reader.stdout.readline().strip()
            with requests.Session() as session:
                session.headers.update(headers)
                session.get(base + "api/1/status/ping", timeout=60).raise_for_status()
                before = _rss_kb(reader.pid, "VmRSS")
                largest = 0
                urls = _pages(session, base, occurrences)
                for url in urls:
                    answer = session.get(url, timeout=120)
                    answer.raise_for_status()
                    largest = max(largest, len(answer.content))
                peak = _rss_kb(reader.pid, "VmHWM")
        finally:
            reader.kill()
            reader.wait()
    return {"before_mb": before / 1024, "peak_mb": peak / 1024,
            "growth_mb": (peak - before) / 1024, "requests": len(urls),
            "largest_answer_mb": largest / 1e6, "occurrence_kb": len(text) / 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--occurrences", type=int, default=400)
    parser.add_argument("--kb", type=int, default=123, help="size of each occurrence")
    parser.add_argument("--limit-mb", type=float, default=32.0)
    args = parser.parse_args()
    result = measure(args.occurrences, args.kb)
    print(f"{args.occurrences} occurrences of {result['occurrence_kb']:.0f} KB under one item; "
          f"{result['requests']} requests (item page, occurrence pages, every read API page)")
    print(f"RSS before {result['before_mb']:.1f} MB, peak {result['peak_mb']:.1f} MB: "
          f"growth {result['growth_mb']:.1f} MB (limit {args.limit_mb:g} MB); "
          f"largest answer {result['largest_answer_mb']:.1f} MB")
    raise SystemExit(0 if result["growth_mb"] < args.limit_mb else 1)


if __name__ == "__main__":
    main()
