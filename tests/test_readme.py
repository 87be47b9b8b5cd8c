"""The README a newcomer reads first is true: the two commands first, every setting documented."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.procs import ROOT


def test_readme_shows_make_run_and_make_test_before_anything_else() -> None:
    text = (ROOT / "README.md").read_text()
    first_block = text.split("```", 2)[1]
    assert "make run" in first_block
    assert "make test" in first_block


@pytest.mark.e2e
def test_configuration_table_lists_every_setting_of_every_service() -> None:
    done = subprocess.run(
        [sys.executable, "scripts/config_table.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
