"""Memory stays bounded whatever the stored bodies' size (benchmarks/devserver_memory.py)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "devserver_memory.py"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads RSS from /proc")
def test_400_occurrences_of_123_kb_grow_the_server_by_less_than_32_mb() -> None:
    """The item page and every read API page: before paging and the summary columns,
    the item page alone took the server from 38 to 175 MB, and `instances` was 49 MB."""
    done = subprocess.run([sys.executable, str(BENCHMARK), "--limit-mb", "32"],
                          capture_output=True, text=True, timeout=120)
    print(done.stdout)
    growth = re.search(r"growth ([\d.]+) MB", done.stdout)
    assert growth is not None, done.stdout + done.stderr
    assert done.returncode == 0 and float(growth[1]) < 32
    largest = re.search(r"largest answer ([\d.]+) MB", done.stdout)
    assert largest is not None and float(largest[1]) < 3, "one page of bodies at most"
