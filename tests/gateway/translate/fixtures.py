"""Golden fixtures (`tests/fixtures`, in the repository) and a checker for the Kiro request rules of §3."""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

from shared.kiro.events import KiroEvent, parse_stream


@cache
def fixtures_dir() -> Path:
    """`$KIRO_FIXTURES`, else the repository's own `tests/fixtures`."""
    configured = os.environ.get("KIRO_FIXTURES")
    directory = Path(configured) if configured else Path(__file__).resolve().parents[2] / "fixtures"
    if not (directory / "clients").is_dir():
        raise FileNotFoundError(f"client fixtures not found in {directory}")
    return directory


def client_captures() -> list[Path]:
    """Captured requests that carry a body for the messages, chat or count_tokens endpoints."""
    paths = []
    for path in sorted((fixtures_dir() / "clients").glob("*.json")):
        capture = json.loads(path.read_text())
        if capture.get("body") and capture["path"].startswith(("/v1/messages", "/v1/chat/completions")):
            paths.append(path)
    return paths


def load_capture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((fixtures_dir() / "clients" / f"{name}.json").read_text())
    return data


def kiro_events(name: str) -> list[KiroEvent]:
    """The events of `eventstream/<name>.bin`, decoded by the shared codec (fed 7 bytes at a time)."""
    raw = (fixtures_dir() / "eventstream" / f"{name}.bin").read_bytes()
    return parse_stream(raw[i : i + 7] for i in range(0, len(raw), 7))


def eventstream_meta(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((fixtures_dir() / "eventstream" / f"{name}.json").read_text())
    return data


def golden(name: str) -> bytes:
    return (fixtures_dir() / "sse" / f"{name}.txt").read_bytes()


def assert_valid_kiro_payload(payload: dict[str, Any]) -> None:
    """The rules of kiro-protocol.md §3 that make Kiro answer "Improperly formed request" when broken."""
    _no_nulls_or_empty_arrays(payload, "payload")
    state = payload["conversationState"]
    assert state["chatTriggerType"] == "MANUAL"
    assert isinstance(state["conversationId"], str) and state["conversationId"]
    history = state.get("history", [])
    messages = [*history, state["currentMessage"]]
    for i, item in enumerate(messages):
        assert len(item) == 1, f"history[{i}] has keys {list(item)}"
        expected = "userInputMessage" if i % 2 == 0 else "assistantResponseMessage"
        assert expected in item, f"message {i} should be {expected}: alternation broken"
        body = item[expected]
        assert isinstance(body["content"], str) and body["content"].strip(), f"message {i} has empty content"
        if expected == "userInputMessage":
            assert body["modelId"] and body["origin"]
            for image in body.get("images", []):
                assert image["format"] in {"png", "jpeg", "gif", "webp"}
                assert not image["source"]["bytes"].startswith("data:")
    _check_tool_pairing(messages)
    current = state["currentMessage"]["userInputMessage"]
    tools = current.get("userInputMessageContext", {}).get("tools", [])
    declared = {t["toolSpecification"]["name"].lower() for t in tools}
    for tool in tools:
        spec = tool["toolSpecification"]
        assert 1 <= len(spec["name"]) <= 64
        assert spec["description"] and len(spec["description"]) <= 10_000
        assert isinstance(spec["inputSchema"]["json"], dict)
    for item in history:
        for use in item.get("assistantResponseMessage", {}).get("toolUses", []):
            assert use["name"].lower() in declared, f"history tool {use['name']} is not declared"
            assert isinstance(use["input"], dict)


def _check_tool_pairing(messages: list[dict[str, Any]]) -> None:
    for i in range(1, len(messages), 2):
        uses = [u["toolUseId"] for u in messages[i]["assistantResponseMessage"].get("toolUses", [])]
        context = messages[i + 1]["userInputMessage"].get("userInputMessageContext", {})
        results = [r["toolUseId"] for r in context.get("toolResults", [])]
        assert len(results) == len(set(results)), f"duplicate tool results after message {i}"
        assert sorted(uses) == sorted(results), f"tool uses {uses} and results {results} are not paired"
        for result in context.get("toolResults", []):
            assert result["status"] in {"success", "error"}
            assert [list(c) for c in result["content"]] == [["text"]]
    first = messages[0]["userInputMessage"]
    assert not first.get("userInputMessageContext", {}).get("toolResults"), "results before any tool use"


def _no_nulls_or_empty_arrays(value: Any, where: str) -> None:
    if value is None:
        raise AssertionError(f"null at {where}")
    if isinstance(value, list):
        assert value, f"empty array at {where}"
        for i, item in enumerate(value):
            _no_nulls_or_empty_arrays(item, f"{where}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            if key in ("json", "input"):  # tool schemas and inputs are the client's own documents
                continue
            _no_nulls_or_empty_arrays(item, f"{where}.{key}")
