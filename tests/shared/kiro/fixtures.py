"""Locate and load the golden event-stream fixtures (`tests/fixtures/eventstream`, in the repository)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any


@cache
def eventstream_dir() -> Path:
    """`$KIRO_FIXTURES/eventstream`, else the repository's own `tests/fixtures/eventstream`."""
    configured = os.environ.get("KIRO_FIXTURES")
    root = Path(configured) if configured else Path(__file__).resolve().parents[2] / "fixtures"
    directory = root / "eventstream"
    if not directory.is_dir():
        raise FileNotFoundError(f"event-stream fixtures not found in {directory}")
    return directory


def fixture_names() -> list[str]:
    return sorted(path.stem for path in eventstream_dir().glob("*.bin"))


def load(name: str) -> tuple[bytes, dict[str, Any]]:
    """The fixture's bytes and its .json twin."""
    directory = eventstream_dir()
    return (directory / f"{name}.bin").read_bytes(), json.loads((directory / f"{name}.json").read_text())


def chunks(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]
