"""Debian chromium through Playwright for the admin panel tests (never `playwright install`)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

CHROMIUM = shutil.which("chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: the panel reloads the shown tab this often (admin_ui/js/tabs.js); a test that installed the page's
#: clock moves it on by this much (and a little) for one reload instead of waiting for it
REFRESH_MS = 5_000


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if CHROMIUM is None:
        pytest.fail("chromium is missing: `make system-deps` (scripts/system-deps.sh) installs it")
    async with async_playwright() as pw:
        instance = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        await instance.close()


@pytest.fixture
def shots() -> Iterator[Path]:
    """Screenshots for a human to judge the design (kept when KEEP_SCREENSHOTS is set)."""
    path = Path(tempfile.mkdtemp(prefix="admin-panel-"))
    yield path
    if not os.environ.get("KEEP_SCREENSHOTS"):
        shutil.rmtree(path, ignore_errors=True)
