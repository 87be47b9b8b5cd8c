"""`python -m services.router keys`: client keys from a shell, with the router's settings."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import redis.asyncio as aioredis

from shared.clientkeys import ClientKeys
from shared.keys import Keys
from tests.support.procs import ROOT

pytestmark = pytest.mark.e2e  # starts processes


def _keys(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.router", "keys", *args],
        cwd=ROOT,
        env={**env, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_keys_cli_creates_lists_changes_and_deletes_and_shows_the_key_only_once(
    stack_env: dict[str, str], redis: aioredis.Redis, keys: Keys
) -> None:
    created = _keys(
        stack_env,
        "create",
        "ci-bot",
        "--max-concurrency",
        "2",
        "--monthly-credits",
        "300",
        "--expires",
        "2099-01-31T18:00",
        "--note",
        "the nightly job",
    )
    assert created.returncode == 0, created.stderr
    record = json.loads(created.stdout)
    plain = record["key"]
    changed = _keys(stack_env, "set", "ci-bot", "--disable", "--max-concurrency", "1", "--expires", "never")
    listing = _keys(stack_env, "list")
    refused = _keys(stack_env, "create", "late", "--expires", "2001-01-01")
    stored = await ClientKeys(redis, keys).authenticate(plain)
    deleted = _keys(stack_env, "delete", record["id"])

    assert record["max_concurrency"] == 2 and record["monthly_credits"] == 300
    assert record["expires_at"] == 4073565600 and record["note"] == "the nightly job"
    assert changed.returncode == 0 and plain not in changed.stdout
    assert (
        stored is not None and not stored.enabled and stored.max_concurrency == 1 and stored.expires_at == 0
    )
    assert "ci-bot" in listing.stdout and "0/300" in listing.stdout and plain not in listing.stdout
    assert refused.returncode == 1 and "in the future" in refused.stderr
    assert deleted.returncode == 0 and await ClientKeys(redis, keys).authenticate(plain) is None
