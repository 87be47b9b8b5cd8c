"""Locate and load the shared event-stream fixtures (`<repo>/../shared/fixtures/eventstream`)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any


@cache
def eventstream_dir() -> Path:
    """`$KIRO_FIXTURES/eventstream`, else the first `shared/fixtures/eventstream` above this file."""
    configured = os.environ.get("KIRO_FIXTURES")
    if configured:
        candidates = [Path(configured) / "eventstream"]
    else:
        candidates = [parent / "shared" / "fixtures" / "eventstream" for parent in Path(__file__).parents]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"event-stream fixtures not found; looked in {[str(c) for c in candidates]}")


def fixture_names() -> list[str]:
    return sorted(path.stem for path in eventstream_dir().glob("*.bin"))


def load(name: str) -> tuple[bytes, dict[str, Any]]:
    """The fixture's bytes and its .json twin."""
    directory = eventstream_dir()
    return (directory / f"{name}.bin").read_bytes(), json.loads((directory / f"{name}.json").read_text())


def chunks(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]
