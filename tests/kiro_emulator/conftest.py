"""Fixtures for the emulator's own tests: a control client, a fresh account per test, a chat caller."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest

from services.kiro_emulator.control import EmulatorControl, unique_name
from shared.kiro.endpoints import EMULATOR_PATHS
from shared.kiro.eventstream import EventStreamDecoder, Frame
from tests.support.procs import ServiceProcess


@dataclass
class Answer:
    """A chat answer: status, headers, decoded frames (or the JSON error body)."""

    status: int
    headers: httpx.Headers
    frames: list[Frame]
    error: Any = None

    @property
    def events(self) -> list[tuple[str | None, dict[str, Any]]]:
        return [
            (f.event_type or f.exception_type, orjson.loads(f.payload) if f.payload else {})
            for f in self.frames
        ]

    @property
    def text(self) -> str:
        return "".join(p["content"] for t, p in self.events if t == "assistantResponseEvent")

    def tool_inputs(self) -> dict[str, str]:
        """Concatenated input fragments per toolUseId, in first-seen order."""
        out: dict[str, str] = {}
        for t, p in self.events:
            if t == "toolUseEvent":
                out[p["toolUseId"]] = out.get(p["toolUseId"], "") + p.get("input", "")
        return out


def decode(body: bytes) -> list[Frame]:
    decoder = EventStreamDecoder()
    frames = decoder.feed(body)
    decoder.close()
    return frames


def kiro_body(
    content: str = "Hello", *, model: str = "claude-sonnet-4.5", origin: str = "AI_EDITOR", **state: Any
) -> dict[str, Any]:
    """A minimal valid generateAssistantResponse body; `state` adds/overrides conversationState keys."""
    body: dict[str, Any] = {
        "conversationState": {
            "chatTriggerType": "MANUAL",
            "conversationId": "conv-" + unique_name("c"),
            "currentMessage": {"userInputMessage": {"content": content, "modelId": model, "origin": origin}},
        }
    }
    body["conversationState"].update(state)
    return body


class Kiro:
    """Calls the emulator's Kiro endpoints like the gateway does."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=30.0)

    def chat(
        self,
        token: str,
        body: Any,
        *,
        endpoint: str = "chat_codewhisperer",
        raw: bytes | None = None,
    ) -> Answer:
        content = raw if raw is not None else orjson.dumps(body)
        r = self.http.post(
            EMULATOR_PATHS[endpoint],
            content=content,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        if r.status_code != 200:
            return Answer(r.status_code, r.headers, [], r.json())
        return Answer(r.status_code, r.headers, decode(r.content))

    def post(self, endpoint: str, body: Any) -> httpx.Response:
        return self.http.post(EMULATOR_PATHS[endpoint], json=body)

    def get(self, endpoint: str, token: str) -> httpx.Response:
        return self.http.get(EMULATOR_PATHS[endpoint], headers={"Authorization": f"Bearer {token}"})


@pytest.fixture(scope="session")
def ctl(emulator: ServiceProcess) -> Iterator[EmulatorControl]:
    with EmulatorControl(emulator.url) as control:
        yield control


@pytest.fixture(scope="session")
def kiro(emulator: ServiceProcess) -> Iterator[Kiro]:
    client = Kiro(emulator.url)
    yield client
    client.http.close()


@pytest.fixture
def account(ctl: EmulatorControl) -> Iterator[dict[str, Any]]:
    """A social account of its own for this test (deleted afterwards)."""
    view = ctl.register_account(unique_name("emu"))
    yield view
    ctl.delete_account(view["name"])


@pytest.fixture
def token(account: dict[str, Any]) -> str:
    return str(account["access_token"])
