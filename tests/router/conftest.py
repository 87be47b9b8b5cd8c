"""Router test fixtures: accounts seeded straight into Redis the way the refresher leaves them."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator

import pytest
import redis.asyncio as aioredis

from shared.accounts.model import Account, AccountState
from shared.accounts.pool import Pool, PoolLimits
from shared.accounts.state import AccountStates
from shared.crypto import SecretBox
from shared.keys import Keys
from tests.router.browser import browser, shots  # noqa: F401 - fixtures of the panel tests
from tests.support.accounts import put_account
from tests.support.procs import ServiceProcess, StartWorker, refresher_workers

SeedAccount = Callable[..., Awaitable[Account]]


@pytest.fixture
def states(redis: aioredis.Redis, keys: Keys) -> AccountStates:
    return AccountStates(redis, keys)


@pytest.fixture
def pool(redis: aioredis.Redis, keys: Keys) -> Pool:
    return Pool(redis, keys, PoolLimits(max_concurrency=1000, jitter_ratio=0.0, sticky_ttl_seconds=600))


@pytest.fixture
def seed_account(redis: aioredis.Redis, keys: Keys, box: SecretBox, states: AccountStates) -> SeedAccount:
    """Write an account with a fresh access token (as after a refresh) and put it in the pool."""

    async def seed(
        account_id: str,
        *,
        weight: int = 100,
        token: str | None = None,
        expires_in: float = 3600,
        state: AccountState = AccountState.ACTIVE,
        until: float = 0.0,
        **fields: object,
    ) -> Account:
        values: dict[str, object] = {
            "label": account_id,
            "weight": weight,
            "refresh_token_enc": box.encrypt(f"aor-refresh-{account_id}"),
            "access_token_enc": box.encrypt(token or f"access-{account_id}"),
            "access_expires_at": time.time() + expires_in,
            "profile_arn": f"arn:aws:codewhisperer:us-east-1:000000000000:profile/{account_id}",
            "machine_id": f"machine-{account_id}",
            "token_version": 1,
            **fields,
        }
        account = Account(id=account_id, **values)  # type: ignore[arg-type]
        await put_account(redis, keys, account)
        await states.set(account_id, state, "seeded", until, notify=False)
        return account

    return seed


@pytest.fixture
def router(stack_env: dict[str, str]) -> Iterator[ServiceProcess]:
    """A router of its own with no gateway behind it (admin API tests); a test module may override it."""
    env = {**stack_env, "GATEWAY_URLS": "http://127.0.0.1:9"}
    with ServiceProcess("services.router", env=env, name="router") as proc:
        yield proc


@pytest.fixture
def emulated_router(stack_env: dict[str, str], emulator: ServiceProcess) -> Iterator[ServiceProcess]:
    """A router with no gateway whose own Kiro calls (device logins, the account check's queue) meet the
    emulator: the panel's tests."""
    env = {**stack_env, "GATEWAY_URLS": "http://127.0.0.1:9", "KIRO_EMULATOR_URL": emulator.url}
    with ServiceProcess("services.router", env=env, name="router") as proc:
        yield proc


@pytest.fixture
def start_refresher(stack_env: dict[str, str], emulator: ServiceProcess) -> Iterator[StartWorker]:
    """Refresher worker processes for this test's prefix, the emulator as Kiro (`refresher_workers`)."""
    with refresher_workers({**stack_env, "KIRO_EMULATOR_URL": emulator.url}) as start:
        yield start
