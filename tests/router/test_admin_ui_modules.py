"""The panel's scripts stay small ES modules, and the router serves every one of them as JavaScript."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from services.router.routes.admin import UI_DIR
from tests.support.procs import ServiceProcess

MAX_LINES = 400
SCRIPT_TAG = re.compile(r'<script\s+type="module"\s+src="([^"]+)"')
IMPORT = re.compile(r'^import\s[^;]*?from\s+"(\./[^"]+)";?$', re.MULTILINE)
JS_TYPES = ("text/javascript", "application/javascript")


def _modules() -> list[str]:
    """Every module the page loads: index.html's module scripts and, transitively, what they import."""
    entries = SCRIPT_TAG.findall((UI_DIR / "index.html").read_text())
    assert entries, "index.html loads no module script"
    seen: list[str] = []
    todo = list(entries)
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.append(path)
        base = Path(path).parent
        text = (UI_DIR / path).read_text()
        todo += [(base / spec).as_posix().removeprefix("./") for spec in IMPORT.findall(text)]
    return sorted(seen)


def test_no_panel_module_grows_past_the_size_of_one_job() -> None:
    too_long = {
        path.relative_to(UI_DIR).as_posix(): lines
        for path in UI_DIR.rglob("*.js")
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not too_long, f"split these panel modules (over {MAX_LINES} lines): {too_long}"


def test_every_panel_module_on_disk_is_loaded_by_the_page() -> None:
    on_disk = sorted(p.relative_to(UI_DIR).as_posix() for p in UI_DIR.rglob("*.js"))
    assert _modules() == on_disk


@pytest.mark.e2e
def test_router_serves_every_panel_module_as_javascript(router: ServiceProcess) -> None:
    modules = _modules()
    assert "js/main.js" in modules
    with httpx.Client(base_url=router.url, timeout=5) as client:
        for path in modules:
            response = client.get(f"/admin/{path}")
            assert response.status_code == 200, path
            assert response.headers["content-type"].startswith(JS_TYPES), (
                path,
                response.headers["content-type"],
            )
            assert response.headers["x-content-type-options"] == "nosniff", path
            assert response.text == (UI_DIR / path).read_text(), path
