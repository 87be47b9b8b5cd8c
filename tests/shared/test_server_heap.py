"""A started server hands the heap pages its start-up freed back to the kernel (`shared/server.py`)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.procs import ROOT

pytestmark = pytest.mark.e2e  # starts a Python process: its resident memory is what is checked

# 200 000 small blocks (≈ 9 MiB of heap) freed behind one kept block: malloc alone keeps them resident
CODE = """
import ctypes
from shared.server import trim_heap

def rss_kib():
    return next(int(line.split()[1]) for line in open('/proc/self/status') if line.startswith('VmRSS:'))

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
blocks = [libc.malloc(40) for _ in range(200_000)]
kept = libc.malloc(40)
for block in blocks:
    libc.free(block)
before = rss_kib()
trim_heap()
print(before - rss_kib())
"""


def test_trim_heap_returns_freed_heap_pages_to_the_kernel() -> None:
    out = subprocess.run(
        [sys.executable, "-c", CODE], capture_output=True, text=True, check=True, timeout=60, cwd=ROOT
    )
    assert int(out.stdout) > 4 * 1024  # KiB
