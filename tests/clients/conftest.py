"""Fixtures of the client tests: the real CLIs, installed on first use (see installs.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.clients.installs import InstallError, ensure_aider, ensure_codex


@pytest.fixture(scope="session")
def aider_bin() -> Path:
    try:
        return ensure_aider()
    except InstallError as exc:
        pytest.fail(f"aider-chat could not be installed: {exc}")


@pytest.fixture(scope="session")
def codex_bin() -> Path:
    try:
        return ensure_codex()
    except InstallError as exc:
        pytest.fail(f"@openai/codex could not be installed: {exc}")
