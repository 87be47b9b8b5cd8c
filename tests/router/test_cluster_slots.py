"""Every Lua script call of a representative flow names keys of one Redis Cluster slot (a Cluster refuses
any other call): with a plain key prefix the stack's keys spread over slots (the pool's under `{pool}`,
each account's bulk under `{acct:ID}`), with a hash-tagged one they all share one.

The flow runs on the real Redis through a client that records the KEYS of each EVALSHA, and the slot of
every key is computed as a Cluster computes it (`redis.crc.key_slot`): account creation, token writes and
the refresh lock, state changes, the pick (with and without a conversation), admission + pick, release
and settle with client key usage and the request log, lease renewal, failure reports, admin login.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import redis as sync_redis
import redis.asyncio as aioredis
from redis.crc import key_slot

from services.router.reqlog import Finished, RequestLog
from services.router.routes import admin_login_limit
from shared.accounts.model import Account, AccountState
from shared.accounts.pool import Lease, Pool, PoolLimits
from shared.accounts.state import AccountStates
from shared.accounts.store import AccountStore
from shared.accounts.tokens import TokenStore
from shared.clientkeys import ClientKeys
from shared.crypto import SecretBox
from shared.keys import Keys
from tests.support.redis_server import PrivateRedis

Call = tuple[str, tuple[str, ...]]  # (script sha, KEYS)


@pytest.fixture
async def recorded(redis_url: str) -> AsyncIterator[tuple[aioredis.Redis, list[Call]]]:
    """A client whose EVALSHA calls are recorded (sha and KEYS) before they are sent."""
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    calls: list[Call] = []
    evalsha: Callable[..., Awaitable[Any]] = client.evalsha

    async def recording(sha: str, numkeys: int, *keys_and_args: Any) -> Any:
        calls.append((sha, tuple(str(k) for k in keys_and_args[:numkeys])))
        return await evalsha(sha, numkeys, *keys_and_args)

    client.evalsha = recording  # type: ignore[method-assign]
    yield client, calls
    await client.aclose()


@pytest.fixture(params=["plain", "tagged"])
def flow_keys(request: pytest.FixtureRequest, redis_url: str) -> Iterator[Keys]:
    """A prefix of the test's own, plain (`kst-...:`) or hash-tagged (`{kst-...}:`); its keys are deleted
    afterwards."""
    name = f"kst-{uuid.uuid4().hex[:12]}"
    keys = Keys(f"{name}:" if request.param == "plain" else f"{{{name}}}:")
    yield keys
    client = sync_redis.Redis.from_url(redis_url)
    try:
        stale = list(client.scan_iter(match=f"{keys.prefix}*", count=1000))
        if stale:
            client.delete(*stale)
    finally:
        client.close()


async def _flow(client: aioredis.Redis, keys: Keys, box: SecretBox) -> None:
    """What the stack does to Redis through its scripts, one of each kind."""
    store, states = AccountStore(client, keys, box), AccountStates(client, keys)
    tokens = TokenStore(client, keys, box)
    pool = Pool(client, keys, PoolLimits(max_concurrency=10, sticky_ttl_seconds=600))
    for account_id in ("a1", "a2"):
        account = Account(id=account_id, label=account_id, refresh_token_enc=box.encrypt("r"))
        assert await store.create(account)
        written = await tokens.write(
            account_id, expected_version=0, access_token="t", access_expires_at=time.time() + 3600
        )
        assert written.written
        assert await states.set(account_id, AccountState.ACTIVE, "ready", 0.0, notify=False)
    owner = await tokens.acquire_lock("a1", 5000)
    assert owner is not None
    assert await tokens.extend_lock("a1", owner, 5000)
    assert await tokens.release_lock("a1", owner)
    assert await store.update("a2", {"weight": 50})

    lease = await pool.pick()
    sticky = await pool.pick(exclude=["a2"], conversation="conv-1")
    assert isinstance(lease, Lease) and isinstance(sticky, Lease)
    assert await pool.renew(lease)
    await pool.release(lease)

    client_keys = ClientKeys(client, keys)
    key, plain = await client_keys.create("flow")
    _, admission = await client_keys.authorize(plain, "claude-sonnet-4.5")
    assert admission.ok
    _, admission, picked = await client_keys.authorize_and_pick(plain, "claude-sonnet-4.5", pool, "conv-2")
    assert admission.ok and isinstance(picked, Lease)
    log = RequestLog(client, keys, 100)
    done = Finished("/v1/messages", "claude-sonnet-4.5", key, "req-1", 200, "ok", account=picked.account_id)
    await pool.release(picked, key_usage=client_keys.usage_call(key, 10, 20), log_entry=log.call(done))
    await log.append(done)

    await pool.cool_down("a1", "throttled", min_seconds=1.0)
    await pool.cool_down("a2", "transient", min_seconds=1.0, after=3)
    assert await states.cool_down("a2", time.time() + 60, "invalid token; refreshing")
    assert await states.end_cooldown("a2", "invalid token; refreshing")

    ctx = SimpleNamespace(redis=client, keys=keys)
    reservation = await admin_login_limit.reserve(ctx, "127.0.0.1")  # type: ignore[arg-type]
    await admin_login_limit.release(ctx, reservation)  # type: ignore[arg-type]
    assert await store.delete("a1")


def _cross_slot(calls: list[Call]) -> list[Call]:
    return [call for call in calls if len({key_slot(k.encode()) for k in call[1]}) > 1]


async def test_every_script_call_stays_in_one_slot(
    recorded: tuple[aioredis.Redis, list[Call]], flow_keys: Keys, box: SecretBox
) -> None:
    client, calls = recorded

    await _flow(client, flow_keys, box)

    assert len({sha for sha, _ in calls}) >= 18  # the flow ran (nearly) every script
    assert all(call[1] for call in calls)  # no call without keys: a Cluster could not route it
    assert all("" not in call[1] for call in calls)  # an empty name would hash to a slot of its own
    assert _cross_slot(calls) == []
    slots = {key_slot(k.encode()) for _, names in calls for k in names}
    pool_slot = key_slot(flow_keys.pool().encode())
    if flow_keys.prefix.startswith("{"):
        assert slots == {pool_slot}
    else:  # the pool's slot, the admin sign-in limiter's, and one per account
        accounts = {key_slot(flow_keys.account(a).encode()) for a in ("a1", "a2")}
        admin = key_slot(flow_keys.admin_login_turn().encode())
        assert slots == {pool_slot, admin, *accounts} and len(slots) == 4


def test_the_check_sees_a_call_that_crosses_slots() -> None:
    keys = Keys()
    crossing = ("sha", (keys.account("a1"), keys.pool()))
    assert _cross_slot([crossing, ("sha", (keys.pool(), keys.leases()))]) == [crossing]


_ARG = re.compile(r'"((?:[^"\\]|\\.)*)"')
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "a": "\a", "b": "\b", '"': '"', "\\": "\\"}


def _monitor_args(line: str) -> tuple[bool, list[str]]:
    """(run by a script, the command's arguments) of one MONITOR line."""
    head, _, rest = line.partition("] ")
    args = [
        re.sub(r"\\(x[0-9a-f]{2}|.)", lambda m: _ESCAPES.get(m[1]) or chr(int(m[1][1:], 16)), raw)
        for raw in _ARG.findall(rest)
    ]
    return head.endswith(" lua"), args


def _watch(port: int, lines: list[str], ready: threading.Event) -> None:
    client = sync_redis.Redis(port=port, decode_responses=True)
    conn = client.connection_pool.get_connection()
    conn.send_command("MONITOR")
    conn.read_response()
    ready.set()
    try:
        while True:
            lines.append(str(conn.read_response()))
    except (sync_redis.ConnectionError, OSError):
        pass


@pytest.mark.e2e
async def test_every_key_a_script_touches_is_one_it_named_in_keys(box: SecretBox) -> None:
    # MONITOR shows each command a script runs ("[0 lua]") right after the script call: every key of
    # each is checked against the KEYS of that call, as Redis itself reads a command's keys (COMMAND
    # GETKEYS). A key built inside a script would pass on one server and fail on a Cluster.
    with PrivateRedis() as server:
        lines: list[str] = []
        ready = threading.Event()
        watcher = threading.Thread(target=_watch, args=(server.port, lines, ready), daemon=True)
        watcher.start()
        assert ready.wait(5)
        client = aioredis.Redis.from_url(server.url, decode_responses=True)
        try:
            await _flow(client, Keys(), box)
            for entry in await client.client_list():
                if "O" in entry["flags"]:  # the monitor: its reader thread ends
                    await client.client_kill_filter(_id=entry["id"])
        finally:
            await client.aclose()
        watcher.join(5)
        probe = sync_redis.Redis(port=server.port, decode_responses=True)
        try:
            declared: list[str] | None = None
            checked, undeclared = 0, []
            for line in lines:
                in_script, args = _monitor_args(line)
                if not in_script:
                    verb = args[0].upper() if args else ""
                    declared = args[3 : 3 + int(args[2])] if verb in ("EVALSHA", "EVAL") else None
                    continue
                assert declared is not None, line
                try:
                    touched = probe.command_getkeys(*args)
                except sync_redis.ResponseError:  # TIME and the like name no key
                    continue
                checked += 1
                undeclared += [(args[0], key) for key in touched if key not in declared]
        finally:
            probe.close()
    assert checked > 50
    assert undeclared == []
