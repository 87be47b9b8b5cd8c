"""A bare clone, with nothing beside it, collects the whole suite: no test reads data outside the repo."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.e2e  # runs git and a second pytest


def test_a_bare_clone_collects_every_test_without_errors(tmp_path: Path) -> None:
    clone = tmp_path / "alone" / "kiro-stack"  # its parent holds nothing else (no ../shared)
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(ROOT), str(clone)], check=True)
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=clone,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    summary = collected.stdout.strip().splitlines()[-1] if collected.stdout.strip() else collected.stderr
    assert collected.returncode == 0, collected.stdout[-3000:] + collected.stderr[-3000:]
    assert "error" not in summary
    assert int(summary.split()[0].split("/")[0]) > 1000, summary
    # the clone's own code was collected, not this checkout's
    assert (
        str(clone)
        in subprocess.run(
            [sys.executable, "-c", "import services; print(services.__file__)"],
            cwd=clone,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
