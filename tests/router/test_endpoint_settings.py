"""The chat endpoint order and origins set in the admin API reach the gateway and Kiro (the emulator)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.router.stack import Seeder, Stack

pytestmark = pytest.mark.e2e

ADMIN_KEY = "test-admin-key-" + uuid.uuid4().hex
Q_TARGET = "AmazonQDeveloperStreamingService.SendMessage"


async def _chat(url: str, key: str, text: str) -> httpx.Response:
    body = {"model": "claude-sonnet-4.5", "max_tokens": 64, "messages": [{"role": "user", "content": text}]}
    headers = {"x-api-key": key, "anthropic-version": "2023-06-01"}
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.post(url + "/v1/messages", json=body, headers=headers)


def _chat_calls(stack: Stack, account: str) -> list[tuple[str, str | None, str | None]]:
    return [
        (r["path"], r["origin"], r["amz_target"])
        for r in stack.control.requests(account)
        if r["endpoint"].startswith("chat_")
    ]


async def test_endpoint_order_and_origins_round_trip_through_the_settings_api_to_kiro(
    stack: Stack, seeder: Seeder
) -> None:
    router = stack.start_router(stack.gateway.url, ADMIN_API_KEY=ADMIN_KEY)
    account = await seeder.account()
    key = await seeder.client_key()
    bearer = {"Authorization": f"Bearer {ADMIN_KEY}"}
    async with httpx.AsyncClient(base_url=router.url + "/admin/api", headers=bearer, timeout=10) as admin:
        defaults = (await admin.get("/settings")).json()
        assert (defaults["endpoint_order"], defaults["endpoint_origins"]) == ("auto", {})

        assert (await _chat(router.url, key, "default")).status_code == 200
        changed = await admin.put(
            "/settings", json={"endpoint_order": " Kiro , amazonq", "endpoint_origins": {"kiro": "CLI"}}
        )
        assert changed.status_code == 200, changed.text
        assert (changed.json()["endpoint_order"], changed.json()["endpoint_origins"]) == (
            "kiro,amazonq",
            {"kiro": "CLI"},
        )
        assert (await _chat(router.url, key, "changed")).status_code == 200

        bad: list[tuple[dict[str, Any], str]] = [
            ({"endpoint_order": "bedrock,amazonq"}, "codewhisperer, amazonq, kiro"),
            ({"endpoint_order": "amazonq,amazonq"}, "repeats"),
            ({"endpoint_origins": {"amazonq": "IDE"}}, "AI_EDITOR, CLI"),
            ({"endpoint_origins": {"q": "CLI"}}, "codewhisperer, amazonq, kiro"),
        ]
        for body, hint in bad:
            r = await admin.put("/settings", json=body)
            assert r.status_code == 400, (body, r.text)
            assert hint in r.json()["detail"], (body, r.text)
        after = (await admin.get("/settings")).json()
        assert (after["endpoint_order"], after["endpoint_origins"]) == ("kiro,amazonq", {"kiro": "CLI"})

    # the seeded account has the emulator's us-east-1 profile: CodeWhisperer first by default
    assert _chat_calls(stack, account) == [
        ("/codewhisperer/generateAssistantResponse", "AI_EDITOR", (
            "AmazonCodeWhispererStreamingService.GenerateAssistantResponse"
        )),
        ("/kiro/generateAssistantResponse", "CLI", Q_TARGET),
    ]  # fmt: skip
