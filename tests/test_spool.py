"""The spool directory: atomic files, oldest first, bounded, corrupt files set aside."""

from __future__ import annotations

import json
import os
from pathlib import Path

from rollbar_notifier.spool import CORRUPT_SUFFIX, Spool, uuid_of


def item(uuid: str, size: int = 10) -> bytes:
    return json.dumps({"data": {"uuid": uuid, "pad": "x" * size}}).encode()


def test_items_come_back_oldest_first_with_their_bytes(tmp_path: Path) -> None:
    spool = Spool(str(tmp_path / "spool"), max_items=10, max_bytes=10**6)
    for n in range(5):
        assert spool.write(f"uuid-{n}", item(f"u{n}")) == (True, 0)
    names = spool.pending()
    assert [uuid_of(name) for name in names] == [f"uuid-{n}" for n in range(5)]
    assert [spool.read(name) for name in names] == [item(f"u{n}") for n in range(5)]
    spool.remove(names[0])
    spool.remove(names[0])
    assert len(spool.pending()) == 4
    assert not [n for n in os.listdir(tmp_path / "spool") if n.startswith(".tmp")]


def test_bounds_evict_the_oldest(tmp_path: Path) -> None:
    spool = Spool(str(tmp_path), max_items=3, max_bytes=10**6)
    evicted = sum(spool.write(str(n), item(str(n)))[1] for n in range(5))
    assert evicted == 2
    assert [uuid_of(n) for n in spool.pending()] == ["2", "3", "4"]

    by_bytes = Spool(str(tmp_path / "b"), max_items=100, max_bytes=2500)
    for n in range(5):
        by_bytes.write(str(n), item(str(n), size=1000))
    assert [uuid_of(n) for n in by_bytes.pending()] == ["3", "4"]


def test_corrupt_files_are_moved_aside(tmp_path: Path) -> None:
    spool = Spool(str(tmp_path), max_items=10, max_bytes=10**6)
    spool.write("good", item("good"))
    for name, content in [("0-0-bad.json", b"{not json"), ("1-0-list.json", b"[1]"),
                          ("2-0-bin.json", b"\xff\xfe")]:
        (tmp_path / name).write_bytes(content)
    bodies = [spool.read(name) for name in spool.pending()]
    assert bodies.count(None) == 3 and item("good") in bodies
    assert len(spool.pending()) == 1
    assert len([n for n in os.listdir(tmp_path) if n.endswith(CORRUPT_SUFFIX)]) == 3


def test_an_unusable_directory_never_raises(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    spool = Spool(str(blocker / "spool"), max_items=10, max_bytes=10**6)
    assert spool.write("u", item("u")) == (False, 0)
    assert spool.pending() == []
    assert spool.read("missing.json") is None


def test_the_directory_and_files_are_private(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    spool = Spool(str(directory), 10, 10**6)
    assert spool.write("a", item("a"))[0]
    assert directory.stat().st_mode & 0o777 == 0o700
    (name,) = spool.pending()
    assert (directory / name).stat().st_mode & 0o777 == 0o600


def test_leftovers_are_aged_out_and_corrupt_files_bounded(tmp_path: Path) -> None:
    from rollbar_notifier.spool import MAX_CORRUPT, STALE_TMP_SECONDS

    stale, fresh = tmp_path / ".tmp-1-stale.json", tmp_path / ".tmp-2-fresh.json"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"being written")
    old = os.path.getmtime(stale) - STALE_TMP_SECONDS - 60
    os.utime(stale, (old, old))
    spool = Spool(str(tmp_path), 100, 10**6)
    assert not stale.exists() and fresh.exists()
    for n in range(MAX_CORRUPT + 5):
        spool.write(f"bad{n}", b"not json")
    for name in spool.pending():
        assert spool.read(name) is None
    corrupt = sorted(p.name for p in tmp_path.glob("*" + CORRUPT_SUFFIX))
    assert len(corrupt) == MAX_CORRUPT
    assert any("bad14" in name for name in corrupt) and not any("bad0" in n for n in corrupt)
