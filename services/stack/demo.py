"""`make demo`: the stack against the Kiro emulator with a demo account, and one streamed request."""

from __future__ import annotations

from pathlib import Path


def run_demo(root: Path, state_dir: Path, *, keep: bool) -> int:
    raise NotImplementedError
