"""Every captured real client request, replayed through the gateway to the (strict) emulator, succeeds."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.gateway.support import Emulator, sse_events
from tests.gateway.translate.fixtures import fixtures_dir
from tests.support.procs import ServiceProcess

_DROP = {"host", "content-length", "authorization", "x-api-key", "accept-encoding", "connection"}


def _captures() -> list[Path]:
    return sorted((fixtures_dir() / "clients").glob("*.json"))


@pytest.mark.parametrize("path", _captures(), ids=lambda p: p.stem)
def test_captured_request_is_served(gateway: ServiceProcess, emu: Emulator, path: Path) -> None:
    capture = json.loads(path.read_text())
    account = emu.account()
    headers = {k: v for k, v in capture["headers"].items() if k.lower() not in _DROP}
    headers.update(account.headers())
    body = capture.get("body")
    r = httpx.request(
        capture["method"],
        gateway.url + capture["path"],
        params=capture.get("query") or None,
        content=json.dumps(body).encode() if body is not None else None,
        headers={**headers, **({"content-type": "application/json"} if body is not None else {})},
        timeout=30,
    )
    assert r.status_code == 200, r.text[:500]
    if capture["method"] == "HEAD" or body is None:
        return
    if capture["path"].endswith("count_tokens"):
        assert r.json()["input_tokens"] >= 1
        return
    if not body.get("stream"):
        answer = r.json()
        assert answer.get("content") or answer.get("choices")
        return
    events = sse_events(r.text)
    names = [name for name, _ in events]
    if capture["path"].startswith("/v1/messages"):
        assert names[0] == "message_start" and names[-2] == "message_stop"
    elif capture["path"].startswith("/v1/responses"):
        named = [name for name in names if name not in (None, "comment")]  # pings, the usage trailer
        assert named[0] == "response.created" and named[-1] == "response.completed"
    else:
        assert [d for name, d in events if name is None][-1] == "[DONE]"
