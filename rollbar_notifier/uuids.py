"""Item uuids without a system call per report.

``uuid.uuid4()`` reads 16 bytes from ``os.urandom`` on every call; that call releases
the GIL and takes it back at once, which restarts the switch interval of every thread
waiting for it, so a burst of reports starves the host's other threads. A uuid only has
to be unique (the API deduplicates retries by it), not unpredictable: one generator
per process, seeded from ``os.urandom`` once and again in a forked child (which would
otherwise repeat its parent's uuids), gives RFC 4122 version 4 uuids from 122 random
bits each.
"""

from __future__ import annotations

import os
import random

from . import lifecycle

_VERSION_MASK = ~(0xF000 << 64)
_VERSION_4 = 0x4000 << 64
_VARIANT_MASK = ~(0xC000 << 48)
_VARIANT_RFC_4122 = 0x8000 << 48

_generator = random.Random(os.urandom(32))


def _reseed() -> None:
    _generator.seed(os.urandom(32))


lifecycle.on_fork_in_child(_reseed)


def new_uuid() -> str:
    """A version 4 uuid in its canonical form (lowercase, dashed)."""
    bits = (_generator.getrandbits(128) & _VERSION_MASK & _VARIANT_MASK
            | _VERSION_4 | _VARIANT_RFC_4122)
    text = f"{bits:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
