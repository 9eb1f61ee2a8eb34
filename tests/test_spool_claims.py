"""Replaying a shared spool: claims, unusable files and size bounds.

One file must never hold up the others, two processes draining one spool must never send
an item twice, a process that dies holding a claim must not lose the item, and a file
too large for the API is fitted (or, past the read bound, set aside) before it is sent.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import uuid as uuids
from pathlib import Path
from typing import Callable, List

import pytest
from child_process import environment
from scripted_server import CLOSE, Recorded, Reply, ScriptedServer

from rollbar_notifier import spool as spool_module
from rollbar_notifier.contract import MAX_BODY_BYTES
from rollbar_notifier.notifier import Notifier
from rollbar_notifier.spool import CLAIM_PREFIX, CORRUPT_SUFFIX, MAX_READ_BYTES, Spool

WAIT = 20.0


def item(uuid: str, pad: int = 10) -> bytes:
    return json.dumps({"data": {"uuid": uuid, "environment": "production", "level": "error",
                                "body": {"message": {"body": "spooled"}},
                                "custom": {"pad": "x" * pad}}}).encode()


def spooled(directory: Path, count: int) -> List[str]:
    spool = Spool(str(directory), 1000, 10**9)
    written = [str(uuids.uuid4()) for _ in range(count)]
    for uuid in written:
        assert spool.write(uuid, item(uuid))[0]
    return written


def leftovers(directory: Path) -> List[str]:
    return sorted(name for name in os.listdir(directory)
                  if name.endswith(".json") or name.startswith(CLAIM_PREFIX))


def test_a_claim_is_taken_by_one_spool_only_and_hidden_until_released(tmp_path: Path) -> None:
    first, second = Spool(str(tmp_path), 10, 10**6), Spool(str(tmp_path), 10, 10**6)
    older, newer = spooled(tmp_path, 2)
    name = first.pending()[0]
    claim = first.claim(name)
    assert claim is not None and second.claim(name) is None
    assert [spool_module.uuid_of(n) for n in second.pending()] == [newer]
    assert spool_module.uuid_of(claim) == older and first.read(claim) == item(older)
    first.release(claim)
    assert second.pending()[0] == name


def test_a_claim_older_than_the_timeout_is_taken_back(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    spool = Spool(str(tmp_path), 10, 10**6)
    [uuid] = spooled(tmp_path, 1)
    assert spool.claim(spool.pending()[0]) is not None
    assert spool.pending() == []
    monkeypatch.setattr(spool_module, "CLAIM_TIMEOUT_SECONDS", 0.0)
    [name] = spool.pending()
    assert spool_module.uuid_of(name) == uuid and leftovers(tmp_path) == [name]


def test_a_file_nested_too_deep_and_an_unreadable_one_are_set_aside_and_the_rest_sent(
        make_notifier: Callable[..., Notifier], server: ScriptedServer, tmp_path: Path) -> None:
    """Before: ``[`` x 100000 raised RecursionError in the replay, counted as an internal
    error, stayed first and blocked every later item on every start."""
    (tmp_path / "00000000000000000000-000000-deep.json").write_text("[" * 100_000)
    (tmp_path / "00000000000000000001-000000-dir.json").mkdir()
    good = spooled(tmp_path, 3)
    notifier = make_notifier(spool_dir=str(tmp_path))
    assert server.wait_for(lambda: len(server.delivered()) == 3, WAIT)
    assert notifier.flush(WAIT)
    assert sorted(server.delivered()) == sorted(good)
    assert notifier.stats()["dropped"] == {}
    assert sorted(p.name for p in tmp_path.glob("*" + CORRUPT_SUFFIX)) == [
        "00000000000000000000-000000-deep.json" + CORRUPT_SUFFIX,
        "00000000000000000001-000000-dir.json" + CORRUPT_SUFFIX]
    assert leftovers(tmp_path) == []


def test_replay_fits_an_oversized_item_and_sets_aside_one_over_the_read_bound(
        make_notifier: Callable[..., Notifier], server: ScriptedServer, tmp_path: Path) -> None:
    """Before: a 3 MB spool file was posted as it was, and the server refused it."""
    huge, big = str(uuids.uuid4()), str(uuids.uuid4())
    (tmp_path / f"00000000000000000000-000000-{huge}.json").write_bytes(
        item(huge, pad=MAX_READ_BYTES))
    (tmp_path / f"00000000000000000001-000000-{big}.json").write_bytes(item(big, 3_000_000))
    notifier = make_notifier(spool_dir=str(tmp_path), max_body_bytes=65536)
    assert server.wait_for(lambda: len(server.delivered()) == 1, WAIT)
    assert notifier.flush(WAIT)
    [request] = server.requests()
    assert len(request.body) <= 65536
    data = request.json()["data"]
    assert data["uuid"] == big
    assert data["notifier"]["diagnostic"]["truncated"]["original_bytes"] > 3_000_000
    assert list(tmp_path.glob("*" + CORRUPT_SUFFIX)) == [
        tmp_path / f"00000000000000000000-000000-{huge}.json{CORRUPT_SUFFIX}"]
    assert leftovers(tmp_path) == []
    assert MAX_READ_BYTES > 3_000_000 > MAX_BODY_BYTES


def test_an_item_that_could_not_be_sent_goes_back_under_its_name(
        make_notifier: Callable[..., Notifier], server: ScriptedServer, tmp_path: Path) -> None:
    [uuid] = spooled(tmp_path, 1)
    [name] = leftovers(tmp_path)
    server.script(default=Reply(status=503))
    notifier = make_notifier(spool_dir=str(tmp_path), retry_for=0.3)
    assert server.wait_for(lambda: len(server.requests()) >= 2, WAIT)
    assert notifier.flush(WAIT)
    notifier.close(timeout=1)
    assert leftovers(tmp_path) == [name] and server.delivered() == []
    assert spool_module.uuid_of(name) == uuid


CHILD = """
import os, sys, time
import rollbar_notifier.default as rn
go = sys.argv[1]
for _ in range(2000):
    if os.path.exists(go):
        break
    time.sleep(0.01)
rn.init(senders=1)
print("FLUSHED", rn.flush(30), flush=True)
"""


def start_child(server: ScriptedServer, directory: Path, go: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(CHILD), str(go)],
        env=environment(server.api_url, ROLLBAR_SPOOL_DIR=str(directory)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_two_processes_draining_one_spool_send_each_item_once(server: ScriptedServer,
                                                              tmp_path: Path) -> None:
    """Before: both processes posted every item (94 of 94 twice)."""
    directory, go = tmp_path / "spool", tmp_path / "go"
    written = spooled(directory, 60)
    server.script(default=Reply(delay=0.01))
    children = [start_child(server, directory, go) for _ in range(2)]
    go.touch()
    for child in children:
        out, err = child.communicate(timeout=60)
        assert child.returncode == 0 and "FLUSHED True" in out, err
    posted = collections.Counter(record.uuid for record in server.requests())
    assert {uuid: count for uuid, count in posted.items() if count > 1} == {}
    assert sorted(posted) == sorted(written)
    assert len({record.client[1] for record in server.requests()}) >= 2, "one process did all"
    assert leftovers(directory) == []


@pytest.mark.slow
def test_an_item_claimed_by_a_process_that_died_is_sent_after_the_claim_timeout(
        make_notifier: Callable[..., Notifier], server: ScriptedServer, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    directory, go = tmp_path / "spool", tmp_path / "go"
    first, *others = spooled(directory, 3)
    arrived, answer = threading.Event(), threading.Event()

    def hold_the_first(request: Recorded) -> Reply:
        if request.uuid == first and not arrived.is_set():
            arrived.set()
            answer.wait(WAIT)
            return Reply(action=CLOSE)
        return Reply()

    server.handle_with(hold_the_first)
    go.touch()
    child = start_child(server, directory, go)
    try:
        assert arrived.wait(WAIT), "the child never sent the first item"
        os.kill(child.pid, signal.SIGKILL)
        child.communicate(timeout=WAIT)
    finally:
        answer.set()
        if child.poll() is None:
            child.kill()
            child.communicate(timeout=WAIT)
    assert [n for n in os.listdir(directory) if n.startswith(CLAIM_PREFIX)]

    survivor = make_notifier(spool_dir=str(directory))
    assert server.wait_for(lambda: sorted(server.delivered()) == sorted(others), WAIT)
    assert survivor.flush(WAIT)
    assert first not in server.delivered()

    monkeypatch.setattr(spool_module, "CLAIM_TIMEOUT_SECONDS", 0.0)
    heir = make_notifier(spool_dir=str(directory))
    assert server.wait_for(lambda: first in server.delivered(), WAIT)
    assert heir.flush(WAIT)
    assert sorted(server.delivered()) == sorted([first, *others])
    assert leftovers(directory) == []
