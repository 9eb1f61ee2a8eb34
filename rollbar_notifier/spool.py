"""A directory of encoded items that could not be delivered yet.

One file per item, holding the exact bytes that were (or would have been) sent, so a
replay carries the same uuid and the server stores it once. Files are written to a
temporary name and renamed, so a crash never leaves half an item under a real name
(no fsync: surviving the process matters here, and a flush of many items at exit
must stay fast);
names start with a nanosecond timestamp so sorting them gives the oldest first.
Every method swallows filesystem errors: a full or read-only disk must not harm the
host program, it only loses the items it could not keep.

Items hold scrubbed but still private data (locals, request data), so the directory is
made owner-only (0700) and every file 0600. Leftovers count against the bounds too:
temporary files of a process that died mid-write are removed once an hour old, and
only the newest ``MAX_CORRUPT`` unusable items are kept for inspection.

Several processes may share one spool (workers of one server, a restart while the old
process still drains). A sender claims a file by renaming it before reading it, so only
one of them ever sends it; the claim is removed once the item is delivered or refused,
and renamed back when it is not. A claim left by a process that died is taken back
after ``CLAIM_TIMEOUT_SECONDS``. A file that cannot be used (unreadable, not an item,
nested too deep to parse, over ``MAX_READ_BYTES``) is moved aside, so nothing in one
file can hold up the others.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import time
from typing import List, Optional, Tuple

from .contract import MAX_BODY_BYTES

log = logging.getLogger(__name__)

SUFFIX = ".json"
CORRUPT_SUFFIX = ".corrupt"
TMP_PREFIX = ".tmp-"
CLAIM_PREFIX = ".claim-"
MAX_CORRUPT = 10
STALE_TMP_SECONDS = 3600.0
"""A write takes milliseconds; a temporary file this old belongs to a dead process."""
CLAIM_TIMEOUT_SECONDS = 3600.0
"""A claim this old belongs to a process that died while sending: its item is pending
again. Far longer than one delivery lasts (``retry_for`` is 300 s by default); a live
sender outlasting it (a long rate-limit pause) at worst sends the item twice, and the
server stores a uuid once."""
MAX_READ_BYTES = 32 * MAX_BODY_BYTES
"""A spooled item is at most ``max_body_bytes``; a bigger file (an older version's, or
not ours) is fitted to the limit when replayed, and one over this is moved aside
unread."""
_counter = itertools.count()


class Spool:
    """Bounded by item count and total bytes; the oldest items are evicted first."""

    def __init__(self, directory: str, max_items: int, max_bytes: int) -> None:
        self.directory = directory
        self.max_items = max_items
        self.max_bytes = max_bytes
        self._estimate: Optional[Tuple[int, int]] = None
        """(items, bytes) as of the last scan plus what this process wrote since."""
        self._remove_leftovers()

    def write(self, uuid: str, body: bytes) -> Tuple[bool, int]:
        """Keep ``body``; returns whether it was written and how many old items were evicted."""
        name = f"{time.time_ns():020d}-{next(_counter):06d}-{uuid}{SUFFIX}"
        path = os.path.join(self.directory, name)
        tmp = os.path.join(self.directory, f"{TMP_PREFIX}{os.getpid()}-{name}")
        try:
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
            descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with open(descriptor, "wb") as handle:
                handle.write(body)
            os.replace(tmp, path)
        except OSError as exc:
            log.warning("rollbar_notifier could not write to the spool %s: %s",
                        self.directory, exc)
            _remove(tmp)
            return False, 0
        return True, self._account(len(body))

    def pending(self) -> List[str]:
        """Names of the stored items, oldest first; claims past their timeout are taken back."""
        try:
            names = os.listdir(self.directory)
        except OSError:
            return []
        stale_before = time.time_ns() - int(CLAIM_TIMEOUT_SECONDS * 1e9)
        found = []
        for name in names:
            if name.startswith(CLAIM_PREFIX):
                claimed_at, original = _claim_parts(name)
                if claimed_at < stale_before and self._rename(name, original):
                    found.append(original)
            elif name.endswith(SUFFIX) and not name.startswith("."):
                found.append(name)
        return sorted(found)

    def claim(self, name: str) -> Optional[str]:
        """Take ``name`` for this sender; the claim's name, or ``None`` if another took it."""
        claim = f"{CLAIM_PREFIX}{time.time_ns():020d}-{name}"
        return claim if self._rename(name, claim) else None

    def release(self, claim: str) -> None:
        """Give a claimed item back, under its first name so it keeps its place."""
        self._rename(claim, _claim_parts(claim)[1])

    def read(self, name: str) -> Optional[bytes]:
        """The item's bytes; ``None`` if it is gone or unusable (then it is moved aside)."""
        body, why = self._load(name)
        if why is not None:
            self._set_aside(name, why)
        return body

    def _load(self, name: str) -> Tuple[Optional[bytes], Optional[str]]:
        """(the item's bytes, or ``None``; why it is unusable, if it is)."""
        path = os.path.join(self.directory, name)
        too_large = f"it is over {MAX_READ_BYTES} bytes"
        try:
            with open(path, "rb") as handle:
                if os.fstat(handle.fileno()).st_size > MAX_READ_BYTES:
                    return None, too_large
                body = handle.read(MAX_READ_BYTES + 1)
        except FileNotFoundError:
            return None, None
        except OSError as exc:
            return None, f"it cannot be read ({exc})"
        if len(body) > MAX_READ_BYTES:
            return None, too_large
        try:
            valid = isinstance(json.loads(body.decode("utf-8")).get("data"), dict)
        except (ValueError, AttributeError, RecursionError, MemoryError):
            valid = False
        return (body, None) if valid else (None, "it is not an item")

    def remove(self, name: str) -> None:
        _remove(os.path.join(self.directory, name))

    def _set_aside(self, name: str, why: str) -> None:
        original = _claim_parts(name)[1] if name.startswith(CLAIM_PREFIX) else name
        log.warning("rollbar_notifier: spooled item %s is unusable (%s); moving it aside",
                    original, why)
        if not self._rename(name, original + CORRUPT_SUFFIX):
            self.remove(name)
        self._remove_leftovers()

    def _rename(self, name: str, new_name: str) -> bool:
        try:
            os.rename(os.path.join(self.directory, name), os.path.join(self.directory, new_name))
        except OSError:
            return False
        return True

    def _remove_leftovers(self) -> None:
        """Stale temporary files, and corrupt items beyond the newest ``MAX_CORRUPT``."""
        try:
            names = sorted(os.listdir(self.directory))
        except OSError:
            return
        stale_before = time.time() - STALE_TMP_SECONDS
        for name in names:
            path = os.path.join(self.directory, name)
            try:
                if name.startswith(TMP_PREFIX) and os.path.getmtime(path) < stale_before:
                    _remove(path)
            except OSError:
                continue
        corrupt = [name for name in names if name.endswith(CORRUPT_SUFFIX)]
        for name in corrupt[:-MAX_CORRUPT]:
            _remove(os.path.join(self.directory, name))

    def _account(self, size: int) -> int:
        """Scan the directory only when the running estimate says a bound may be passed.

        Scanning after every write would make spooling n items at exit cost n squared
        stat calls. Other processes can make the estimate stale; a scan corrects it.
        """
        if self._estimate is not None:
            items, total = self._estimate
            self._estimate = (items + 1, total + size)
            if items + 1 <= self.max_items and total + size <= self.max_bytes:
                return 0
        return self._evict()

    def _evict(self) -> int:
        """Unlocked on purpose: two writers evicting at once at worst remove one extra item."""
        names = self.pending()
        sizes = []
        for name in names:
            try:
                sizes.append(os.path.getsize(os.path.join(self.directory, name)))
            except OSError:
                sizes.append(0)
        total = sum(sizes)
        evicted = 0
        while names and (len(names) > self.max_items or total > self.max_bytes):
            self.remove(names.pop(0))
            total -= sizes.pop(0)
            evicted += 1
        self._estimate = (len(names), total)
        if evicted:
            log.warning("rollbar_notifier: spool %s is full; evicted the %d oldest item(s)",
                        self.directory, evicted)
        return evicted


def uuid_of(name: str) -> str:
    """The uuid part of a spool file name (``<time_ns>-<n>-<uuid>.json``), claimed or not."""
    if name.startswith(CLAIM_PREFIX):
        name = _claim_parts(name)[1]
    parts = name[: -len(SUFFIX)].split("-", 2) if name.endswith(SUFFIX) else []
    return parts[2] if len(parts) == 3 else name


def _claim_parts(claim: str) -> Tuple[int, str]:
    """(when it was claimed, in ns, the item's own name) of ``.claim-<time_ns>-<name>``."""
    stamp, _, original = claim[len(CLAIM_PREFIX):].partition("-")
    return (int(stamp) if stamp.isdigit() else 0), original


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass
