"""The gateway's model list: what Kiro's ListAvailableModels answers, read defensively."""

from __future__ import annotations

import asyncio
import logging

import pytest

from services.gateway.credentials import KiroCredentials
from services.gateway.kiro.models import ModelCatalog
from tests.support.polling import wait_for

CREDS = KiroCredentials(access_token="access")


async def test_entries_that_name_no_model_are_skipped_not_fatal_to_the_list() -> None:
    async def fetch(_: KiroCredentials) -> list[object]:
        return [{"modelName": "no id"}, "not an object", {"modelId": ""}, {"modelId": "claude-new-9"}]

    catalog = ModelCatalog(fetch, ttl=60, default_window=200_000)
    await catalog.refresh(CREDS)

    assert [m.id for m in catalog.models] == ["claude-new-9"]


async def test_a_refresh_that_fails_unexpectedly_is_logged_when_it_happens(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def fetch(_: KiroCredentials) -> list[object]:
        raise RuntimeError("a bug in the fetch")

    catalog = ModelCatalog(fetch, ttl=60, default_window=200_000)

    def logged() -> bool:
        return any("background task failed" in r.getMessage() and r.exc_info for r in caplog.records)

    with caplog.at_level(logging.ERROR):
        catalog.refresh_in_background(CREDS)
        await wait_for(lambda: asyncio.sleep(0, logged()), what="the failure logged")
