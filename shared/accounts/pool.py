"""The account pool: weighted pick with leases and governor, release, failure cooldowns — one Lua call each.

Every replica shares this state through Redis, so two routers behave as one: the pick, the concurrency
slots, the governor spacing and the circuit breaker all live in scripts that read time from Redis.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass, replace
from typing import Any, NamedTuple, cast

from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from shared.accounts import columns
from shared.accounts.model import AccountState, effective_state
from shared.accounts.scripts import argv, register, source, with_schema
from shared.keys import Keys
from shared.redis_topology import BoundedCluster, StackRedis

#: a pool with at most this many usable accounts is read whole by each pick (exact weights)
PICK_FULL_SCAN = 32
#: a larger pool is first tried on this many randomly drawn usable accounts (see pick.lua)
PICK_SAMPLE = 16

#: per-account daily stats are kept this long
STATS_TTL_SECONDS = 35 * 86400


class ScriptCall(NamedTuple):
    """The KEYS and ARGV of one script run, so callers can run it alone or inside a composed script."""

    keys: list[str]
    args: list[str | int | float]


#: defined before the parts of a composed script: `slice(t, i, j)` is `{t[i], ..., t[j]}`
_COMPOSE_PRELUDE = "local function slice(t, i, j) return {unpack(t, i, j)} end\n"


def composed_script(client: StackRedis, main: str, *parts: str) -> AsyncScript:
    """`scripts/<main>.lua` run with each part defined as a local function `<part>(KEYS, ARGV)`.

    The parts keep their own files (and their own tests); the main script only slices its KEYS and ARGV
    between them, so several steps cost one round trip without a second copy of their logic.
    """
    functions = "".join(f"local function {part}(KEYS, ARGV)\n{source(part)}\nend\n" for part in parts)
    return AsyncScript(client, with_schema(_COMPOSE_PRELUDE + functions + source(main)))  # type: ignore[arg-type]


async def run_script(script: AsyncScript, keys: list[str], args: list[str | int | float]) -> Any:
    """EVALSHA of a registered script, loading it on NOSCRIPT, as `AsyncScript.__call__` does.

    Without that method's per-call pipeline check (an isinstance against a Protocol) and argument copies:
    the scripts run several times per proxied request.
    """
    client = script.registered_client
    values: list[Any] = [*keys, *args]
    try:
        return await cast(Awaitable[Any], client.evalsha(script.sha, len(keys), *values))
    except NoScriptError:
        script.sha = await cast(Awaitable[str], client.script_load(script.script))
        return await cast(Awaitable[Any], client.evalsha(script.sha, len(keys), *values))


async def run_scripts(
    client: StackRedis, calls: list[tuple[AsyncScript, list[str], list[str | int | float]]]
) -> list[Any]:
    """Several registered scripts in one round trip (a pipeline, no transaction: their keys may live in
    different slots); one that Redis did not know yet is loaded and run again on its own (NOSCRIPT means
    it did not run). Raises the first error of any call. On a Cluster (whose client pipelines no scripts)
    they run side by side, each on its slot's primary."""
    if len(calls) == 1:
        return [await run_script(*calls[0])]
    results: list[Any]
    if isinstance(client, BoundedCluster):
        results = list(await asyncio.gather(*(run_script(*call) for call in calls), return_exceptions=True))
    else:
        pipe = client.pipeline(transaction=False)
        for script, keys, args in calls:
            values: list[Any] = [*keys, *args]
            pipe.evalsha(script.sha, len(keys), *values)
        results = await pipe.execute(raise_on_error=False)
        for n, result in enumerate(results):
            if isinstance(result, NoScriptError):
                results[n] = await run_script(*calls[n])
    for result in results:
        if isinstance(result, Exception):
            raise result
    return results


@dataclass(frozen=True)
class PoolLimits:
    """Stack defaults for the pick; accounts may override concurrency and spacing."""

    lease_ttl_seconds: float = 120.0
    max_concurrency: int = 8
    min_interval_ms: int = 0
    jitter_ratio: float = 0.2
    token_margin_seconds: float = 60.0
    sticky_ttl_seconds: int = 3600


@dataclass(frozen=True)
class Lease:
    """An in-flight slot on one account; give it back with `Pool.release`."""

    account_id: str
    lease_id: str


@dataclass(frozen=True)
class PickMiss:
    """Why no account was picked: `empty`, `cooling`, `busy`, `no_token` or `excluded`."""

    reason: str
    retry_after: float  # seconds; 0 when unknown


class Pool:
    """Pool operations bound to one Redis client and key prefix."""

    def __init__(self, client: StackRedis, keys: Keys, limits: PoolLimits | None = None) -> None:
        self._client = client
        self._keys = keys
        self.limits = limits or PoolLimits()
        self._pick = register(client, "pick")
        self._release = register(client, "release")
        self._count = register(client, "count_request")
        self._report = register(client, "report")
        self._renew = register(client, "renew")
        self._settle = composed_script(client, "settle", "release", "clientkey_usage", "reqlog")
        self._pick_keys = [keys.pool(), keys.account_columns(), keys.leases()]
        self._release_keys = [keys.leases(), keys.account_columns(), keys.pool(), keys.accounts()]

    def set_governor_defaults(self, max_concurrency: int, min_interval_ms: int) -> None:
        """The concurrency cap and start spacing of accounts without their own, from the next pick on."""
        if (max_concurrency, min_interval_ms) != (self.limits.max_concurrency, self.limits.min_interval_ms):
            self.limits = replace(
                self.limits, max_concurrency=max_concurrency, min_interval_ms=min_interval_ms
            )

    async def pick(self, exclude: Iterable[str] = (), conversation: str | None = None) -> Lease | PickMiss:
        """Weighted pick among usable accounts not in `exclude`; prefers the conversation's last account."""
        call = self.pick_call(exclude, conversation)
        return self.pick_result(await run_script(self._pick, call.keys, call.args))

    def pick_call(self, exclude: Iterable[str] = (), conversation: str | None = None) -> ScriptCall:
        """KEYS and ARGV of `pick.lua` for one pick (a new lease id each time)."""
        lim = self.limits
        keys = [*self._pick_keys]
        if conversation and lim.sticky_ttl_seconds > 0:
            keys.append(self._keys.sticky(conversation))
        return ScriptCall(
            keys,
            argv(
                "pick",
                lease_id=secrets.token_hex(8),
                ttl_ms=int(lim.lease_ttl_seconds * 1000),
                def_cap=lim.max_concurrency,
                def_interval=lim.min_interval_ms,
                jitter=lim.jitter_ratio,
                margin=lim.token_margin_seconds,
                sticky_ttl=lim.sticky_ttl_seconds,
                full_scan=PICK_FULL_SCAN,
                sample=PICK_SAMPLE,
                tried=list(exclude),
            ),
        )

    @staticmethod
    def pick_result(result: list[str]) -> Lease | PickMiss:
        """What `pick.lua` answered, typed."""
        if result[0] == "ok":
            return Lease(str(result[1]), str(result[2]))
        return PickMiss(str(result[1]), int(result[2]) / 1000)

    async def release(
        self,
        lease: Lease,
        outcome: str = "ok",
        *,
        input_tokens: int = 0,
        output_tokens: int = 0,
        credits: float = 0.0,
        key_usage: ScriptCall | None = None,
        log_entry: ScriptCall | None = None,
    ) -> None:
        """Free the lease; `outcome` ok / error counts a served request, `none` only frees the slot.

        `key_usage` (from `ClientKeys.usage_call`) adds the request to its client key's usage and
        `log_entry` (KEYS and ARGV of `reqlog.lua`) appends it to the request log, in the same call. The
        account's stats follow in a second call: they live with the account, in its own slot.
        """
        account = lease.account_id
        keys = [*self._release_keys]
        args = argv("release", account_id=account, lease_id=lease.lease_id, outcome=outcome)
        script = self._release
        if key_usage is not None or log_entry is not None:
            script = self._settle
            args.append("0" if key_usage is None else "1")
            for part in (key_usage, log_entry):
                if part is not None:
                    keys += part.keys
                    args += part.args
        calls = [(script, keys, args)]
        if outcome != "none":  # the stats live with the account, in its own slot: a second call, same trip
            count_keys = [
                self._keys.account(account),
                self._keys.account_stats(account, today()),
                self._keys.account_stats_total(account),
            ]
            count_args = argv(
                "count_request",
                outcome=outcome,
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                credits=credits,
                stats_ttl=STATS_TTL_SECONDS,
            )
            calls.append((self._count, count_keys, count_args))
        await run_scripts(self._client, calls)

    async def renew(self, lease: Lease) -> bool:
        """Extend a long stream's lease; False when it had already expired."""
        done = await self._renew(
            keys=[self._keys.leases()],
            args=[f"{lease.account_id}|{lease.lease_id}", int(self.limits.lease_ttl_seconds * 1000)],
        )
        return bool(done)

    async def cool_down(
        self,
        account_id: str,
        reason: str,
        *,
        min_seconds: float,
        breaker_base: float = 0.0,
        breaker_cap: float = 0.0,
        jitter_ratio: float = 0.0,
        after: int = 1,
    ) -> float | None:
        """Count a failure; cool the account down once `after` of them came in a row (outlier detection).

        Returns when the account is usable again, 0.0 when it stays in rotation (fewer than `after`
        failures in a row so far), None when it is not pooled.
        """
        until = await self._report(
            keys=[self._keys.account_columns(), self._keys.pool(), self._keys.accounts()],
            args=argv(
                "report",
                account_id=account_id,
                reason=reason,
                min_wait=min_seconds,
                breaker_base=breaker_base,
                breaker_cap=breaker_cap,
                jitter=jitter_ratio,
                after=after,
            ),
        )
        return float(until) if until else None

    async def in_flight(self, account_id: str) -> int:
        """Leases currently held on the account (expired ones not counted)."""
        now_ms = int(time.time() * 1000)
        held = await self._client.zrangebyscore(self._keys.leases(), now_ms, "+inf")
        mine = f"{account_id}|"
        return sum(1 for member in held if member.startswith(mine) and "|" not in member[len(mine) :])

    async def summary(self) -> PoolSummary:
        """Accounts by state and the soonest reset among waiting ones (for gauges and 503 messages)."""
        ids = list(await cast(Awaitable[set[str]], self._client.smembers(self._keys.accounts())))
        counts = {state.value: 0 for state in AccountState}
        soonest = 0.0
        if ids:
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.hmget(self._keys.account_columns(), columns.fields_of(ids, ("state", "enabled")))
                pipe.zmscore(self._keys.pool(), ids)
                values, scores = await pipe.execute()
            now = time.time()
            for (state, enabled), score in zip(columns.by_account(values, 2), scores, strict=True):
                name = state if state in counts else AccountState.INVALID.value
                if score is not None:  # a lapsed cooldown counts as active, as the panel shows it
                    name = effective_state(AccountState(name), float(score), now).value
                if enabled == "0" and name in (AccountState.ACTIVE, AccountState.COOLDOWN):
                    name = AccountState.DISABLED.value
                counts[name] += 1
                if score is not None and float(score) > now and (soonest == 0 or float(score) < soonest):
                    soonest = float(score)
        return PoolSummary(counts, soonest)


@dataclass(frozen=True)
class PoolSummary:
    counts: dict[str, int]
    soonest_reset: float  # unix s, 0 = none waiting

    @property
    def total(self) -> int:
        return sum(self.counts.values())


#: [(start, end, label)] of the UTC day `today` named last: several calls per proxied request fall in it
_last_day: list[tuple[float, float, str]] = [(0.0, 0.0, "")]


def today(now: float | None = None) -> str:
    """The UTC day bucket used by stats keys (YYYY-MM-DD), of `now` (unix s) or the present."""
    at = time.time() if now is None else now
    start, end, label = _last_day[0]
    if start <= at < end:
        return label
    label = time.strftime("%Y-%m-%d", time.gmtime(at))
    start = at - at % 86400  # unix time has no leap seconds: every UTC day is 86,400 of them
    _last_day[0] = (start, start + 86400, label)
    return label


def last_days(count: int, now: float | None = None) -> list[str]:
    """The day buckets of the last `count` UTC days up to `now`'s (default the present), oldest first."""
    now = time.time() if now is None else now
    return [today(now - back * 86400) for back in range(count - 1, -1, -1)]
