"""The unit tier (`make test-fast`) starts no process: a unit test that tries is told how to mark it."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_a_unit_test_that_starts_a_process_fails_with_the_fix_named(request: pytest.FixtureRequest) -> None:
    assert request.node.get_closest_marker("unit") is not None
    with pytest.raises(
        RuntimeError, match=r"test_tiers\.py::.* unit tier: add `pytestmark = pytest.mark.e2e`"
    ):
        subprocess.run([sys.executable, "-c", "pass"], check=True)


@pytest.mark.e2e
def test_an_e2e_test_may_start_processes() -> None:
    assert (
        subprocess.run([sys.executable, "-c", "print('ok')"], capture_output=True, check=True).stdout
        == b"ok\n"
    )
