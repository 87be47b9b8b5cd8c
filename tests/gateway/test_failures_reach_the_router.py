"""A Kiro failure in the middle of a stream reaches the router's account policy through the usage trailer."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from services.kiro_emulator.control import directive
from shared.accounts.model import AccountState
from tests.router.stack import Seeder, Stack
from tests.support.accounts import column_of

pytestmark = pytest.mark.e2e

SUSPENSION = "Your account has been temporarily suspended. Please contact support to appeal."


async def test_a_suspension_mid_stream_disables_the_account(stack: Stack, seeder: Seeder) -> None:
    account = await seeder.account()
    key = await seeder.client_key()
    exception = {"after_frames": 2, "type": "AccessDeniedException", "message": SUSPENSION}
    body = {
        "model": "claude-sonnet-4.5",
        "max_tokens": 64,
        "stream": True,
        "messages": [
            {"role": "user", "content": directive(text="some text first", chunks=4, exception=exception)}
        ],
    }
    async with httpx.AsyncClient(timeout=30) as client:
        r = await client.post(
            stack.routers[0].url + "/v1/messages",
            json=body,
            headers={"x-api-key": key, "anthropic-version": "2023-06-01"},
        )
    assert r.status_code == 200
    assert "event: error" in r.text and "content_block_delta" in r.text
    state = None
    for _ in range(200):  # the router applies the failure as the stream ends
        state = await column_of(seeder.redis, seeder.keys, account, "state")
        if state == AccountState.DISABLED.value:
            break
        await asyncio.sleep(0.05)
    assert state == AccountState.DISABLED.value
