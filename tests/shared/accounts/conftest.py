"""Fixtures for account tests: stores bound to the test's own key prefix on the real Redis."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from shared.accounts.ops import AccountOps
from shared.accounts.store import AccountStore
from shared.accounts.tokens import TokenStore
from shared.crypto import SecretBox
from shared.keys import Keys


@pytest.fixture
def store(redis: aioredis.Redis, keys: Keys, box: SecretBox) -> AccountStore:
    return AccountStore(redis, keys, box)


@pytest.fixture
def tokens(redis: aioredis.Redis, keys: Keys, box: SecretBox) -> TokenStore:
    return TokenStore(redis, keys, box)


@pytest.fixture
def ops(redis: aioredis.Redis, keys: Keys, box: SecretBox) -> AccountOps:
    """Operations without an arq pool: nothing is enqueued."""
    return AccountOps(redis, keys, box)
