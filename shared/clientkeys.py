"""Client API keys: stored as SHA-256 hashes, with per-key model list, RPM, daily token budget, monthly
credit budget, concurrency cap and expiry.

Limits are enforced in Redis (one Lua call per request), so every router replica shares them. An admitted
request holds an entry in the key's in-flight set until it is settled (`usage_call`, or `release_slot` for
a request that ends without one); an entry nobody removes stops counting when it expires.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

from shared.accounts.pool import Lease, PickMiss, Pool, ScriptCall, composed_script, run_script, today
from shared.accounts.schema import Counter
from shared.accounts.scripts import argv, register
from shared.clientkey_record import Admission, ClientKey, check_limits, next_utc_day, next_utc_month
from shared.crypto import constant_time_equals, new_api_key, sha256_hex
from shared.keys import Keys
from shared.redis_topology import StackRedis

USAGE_TTL_SECONDS = 35 * 86400
#: how long an admitted request counts against the concurrency cap unless renewed (the router passes its
#: lease ttl; streams renew both together)
SLOT_TTL_SECONDS = 120.0


_EDITABLE = frozenset(
    {"name", "enabled", "allowed_models", "rpm", "daily_tokens", "max_concurrency", "monthly_credits"}
    | {"expires_at", "note"}
)


class ClientKeys:
    """Client key store and limiter bound to one Redis client and key prefix."""

    def __init__(self, client: StackRedis, keys: Keys, clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self._keys = keys
        self._clock = clock  # picks the day and month whose usage counts (Redis's clock judges expiry)
        self._admit = register(client, "clientkey_admit")
        self._usage = register(client, "clientkey_usage")
        self._renew = register(client, "clientkey_renew")
        self._admit_pick = composed_script(client, "admit_pick", "clientkey_admit", "pick")

    async def create(
        self,
        name: str,
        *,
        plain: str | None = None,
        allowed_models: tuple[str, ...] = (),
        rpm: int = 0,
        daily_tokens: int = 0,
        max_concurrency: int = 0,
        monthly_credits: int = 0,
        expires_at: int = 0,
        note: str = "",
    ) -> tuple[ClientKey, str]:
        """Store a new key (generated unless `plain` is given); the plain key is returned only here."""
        limits = {"rpm": rpm, "daily_tokens": daily_tokens, "max_concurrency": max_concurrency}
        check_limits(
            {**limits, "monthly_credits": monthly_credits, "expires_at": expires_at, "note": note},
            now=self._clock(),
        )
        plain = plain or new_api_key()
        key = ClientKey(
            id=secrets.token_hex(6),
            name=name,
            key_hash=sha256_hex(plain),
            allowed_models=allowed_models,
            rpm=rpm,
            daily_tokens=daily_tokens,
            max_concurrency=max_concurrency,
            monthly_credits=monthly_credits,
            expires_at=expires_at,
            note=note,
            hint="…" + plain[-4:],
        )
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.hset(self._keys.client_key(key.key_hash), mapping=key.to_redis())
            pipe.sadd(self._keys.client_keys(), key.key_hash)
            await pipe.execute()
        return key, plain

    async def ensure(self, plain: str, name: str = "bootstrap") -> bool:
        """Store `plain` (the PROXY_API_KEY bootstrap key) unless it exists; True when added."""
        if await self._client.exists(self._keys.client_key(sha256_hex(plain))):
            return False
        await self.create(name, plain=plain)
        return True

    async def authenticate(self, plain: str) -> ClientKey | None:
        """The enabled-or-not record of a presented key, or None when it is unknown."""
        if not plain:
            return None
        digest = sha256_hex(plain)
        data = await _hgetall(self._client, self._keys.client_key(digest))
        if not data or not constant_time_equals(data.get("hash", ""), digest):
            return None
        return ClientKey.from_redis(data)

    async def authorize(self, plain: str, model: str = "") -> tuple[ClientKey | None, Admission]:
        """Find the presented key and count one request against its limits, in one Redis call.

        Returns (None, gone) for an unknown key; otherwise the record and the verdict (see `Admission`).
        """
        if not plain:
            return None, Admission("gone")
        return await self._authorize(sha256_hex(plain), model)

    async def admit(self, key: ClientKey, model: str = "") -> Admission:
        """Count one request of a known key against its limits (see `Admission`)."""
        _, admission = await self._authorize(key.key_hash, model)
        return admission

    async def authorize_and_pick(
        self, plain: str, model: str, pool: Pool, conversation: str | None = None
    ) -> tuple[ClientKey | None, Admission, Lease | PickMiss | None]:
        """`authorize`, then only for an admitted request `Pool.pick`, in one Redis call.

        The pick is None when the request was refused: a refused request takes no account slot.
        """
        if not plain:
            return None, Admission("gone"), None
        digest = sha256_hex(plain)
        admit = self._admit_call(digest, model, pool.limits.lease_ttl_seconds)
        pick = pool.pick_call((), conversation)
        result = await run_script(self._admit_pick, admit.keys + pick.keys, admit.args + pick.args)
        key, admission = self._admission(result[0], digest, str(admit.args[0]))
        if not admission.ok or len(result) < 2:
            return key, admission, None
        return key, admission, pool.pick_result(result[1])

    async def _authorize(self, digest: str, model: str) -> tuple[ClientKey | None, Admission]:
        call = self._admit_call(digest, model, SLOT_TTL_SECONDS)
        result = await run_script(self._admit, call.keys, call.args)
        return self._admission(result, digest, str(call.args[0]))

    def _admit_call(self, digest: str, model: str, slot_ttl: float) -> ScriptCall:
        now = self._clock()
        return ScriptCall(
            [
                self._keys.client_key(digest),
                self._keys.client_key_rate(digest),
                self._keys.client_key_usage(digest, today(now)),
                self._keys.client_key_month_credits(digest, _month(now)),
                self._keys.client_key_usage_total(digest),
                self._keys.client_key_inflight(digest),
            ],
            argv(
                "clientkey_admit",
                request_id=secrets.token_hex(8),
                ttl=USAGE_TTL_SECONDS,
                model=model,
                slot_ms=int(slot_ttl * 1000),
            ),
        )

    def _admission(
        self, result: list[Any], digest: str, request_id: str
    ) -> tuple[ClientKey | None, Admission]:
        verdict, retry_ms, raw = result
        data = dict(zip(raw[0::2], raw[1::2], strict=True))
        if not data or not constant_time_equals(data.get("hash", ""), digest):
            return None, Admission("gone")
        key = ClientKey.from_redis(data)
        now = self._clock()
        if verdict == "ok":  # only a capped key's request holds an in-flight entry
            return key, Admission("ok", request_id=request_id if key.max_concurrency else "")
        if verdict == "tokens":
            return key, Admission("tokens", next_utc_day(now) - now)
        if verdict == "credits":
            return key, Admission("credits", next_utc_month(now) - now)
        return key, Admission(str(verdict), int(retry_ms) / 1000)

    async def record_usage(
        self,
        key: ClientKey,
        input_tokens: int,
        output_tokens: int,
        *,
        credits: float = 0.0,
        error: bool = False,
        request_id: str = "",
    ) -> None:
        """Settle a request of the key on its own (see `usage_call`)."""
        call = self.usage_call(
            key, input_tokens, output_tokens, credits=credits, error=error, request_id=request_id
        )
        await self.write_usage(call)

    async def write_usage(self, call: ScriptCall) -> None:
        """Run one `usage_call` result on its own."""
        await run_script(self._usage, call.keys, call.args)

    def usage_call(
        self,
        key: ClientKey,
        input_tokens: int,
        output_tokens: int,
        *,
        credits: float = 0.0,
        error: bool = False,
        request_id: str = "",
    ) -> ScriptCall:
        """KEYS and ARGV of `clientkey_usage.lua`, to run alone or with the lease release (`Pool.release`):
        frees the request's in-flight entry (`Admission.request_id`) and adds its usage to the day, the
        month and the all-time totals."""
        now, digest = self._clock(), key.key_hash
        return ScriptCall(
            [
                self._keys.client_key_usage(digest, today(now)),
                self._keys.client_key_month_credits(digest, _month(now)),
                self._keys.client_key_usage_total(digest),
                self._keys.client_key_inflight(digest),
            ],
            argv(
                "clientkey_usage",
                input=input_tokens,
                output=output_tokens,
                credits=credits,
                failed="1" if error else "0",
                ttl=USAGE_TTL_SECONDS,
                request_id=request_id,
            ),
        )

    async def release_slot(self, key: ClientKey, request_id: str) -> None:
        """Free an admitted request's in-flight entry when it ends without a settle (client gone)."""
        if request_id:
            await cast(
                Awaitable[int], self._client.zrem(self._keys.client_key_inflight(key.key_hash), request_id)
            )

    async def renew_slot(self, key: ClientKey, request_id: str, ttl: float) -> None:
        """Keep a long stream's in-flight entry counting for another `ttl` seconds (with its lease)."""
        if request_id:
            keys = [self._keys.client_key_inflight(key.key_hash)]
            await run_script(
                self._renew, keys, argv("clientkey_renew", request_id=request_id, slot_ms=int(ttl * 1000))
            )

    async def in_flight(self, key: ClientKey) -> int:
        """Admitted requests of the key not yet settled (entries past their expiry do not count)."""
        inflight = self._keys.client_key_inflight(key.key_hash)
        now_ms = int(self._clock() * 1000)
        return await cast(Awaitable[int], self._client.zcount(inflight, f"({now_ms}", "+inf"))

    async def standing(self, keys: list[ClientKey]) -> dict[str, dict[str, float | int]]:
        """Per key id: credits of the current UTC month and requests in flight, read in one round trip."""
        now = self._clock()
        month, now_ms = _month(now), int(now * 1000)
        async with self._client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hget(self._keys.client_key_month_credits(key.key_hash, month), Counter.CREDITS)
                pipe.zcount(self._keys.client_key_inflight(key.key_hash), f"({now_ms}", "+inf")
            rows = await pipe.execute()
        return {
            key.id: {"month_credits": round(float(credits or 0), 4), "in_flight": int(count)}
            for key, credits, count in zip(keys, rows[0::2], rows[1::2], strict=True)
        }

    async def usage(self, key: ClientKey, day: str | None = None) -> dict[str, float]:
        """Counters of one UTC day (default today): requests, errors, input_tokens, output_tokens, tokens,
        credits."""
        return await self._counters(self._keys.client_key_usage(key.key_hash, day or today(self._clock())))

    async def usage_total(self, key: ClientKey) -> dict[str, float]:
        """All-time counters of the key (the same names as `usage`)."""
        return await self._counters(self._keys.client_key_usage_total(key.key_hash))

    async def _counters(self, name: str) -> dict[str, float]:
        return {counter: float(value) for counter, value in (await _hgetall(self._client, name)).items()}

    async def list(self) -> list[ClientKey]:
        hashes = sorted(await cast(Awaitable[set[str]], self._client.smembers(self._keys.client_keys())))
        if not hashes:
            return []
        async with self._client.pipeline(transaction=False) as pipe:
            for digest in hashes:
                pipe.hgetall(self._keys.client_key(digest))
            rows = await pipe.execute()
        return sorted((ClientKey.from_redis(r) for r in rows if r), key=lambda k: k.created_at)

    async def get(self, key_id: str) -> ClientKey | None:
        return next((k for k in await self.list() if k.id == key_id), None)

    async def update(self, key_id: str, **changes: Any) -> ClientKey | None:
        """Change any of `_EDITABLE` (name, enabled, the limits, expiry, note); None when unknown."""
        unknown = set(changes) - _EDITABLE
        if unknown:
            raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
        check_limits(changes)
        key = await self.get(key_id)
        if key is None:
            return None
        for name, value in changes.items():
            setattr(key, name, tuple(value) if name == "allowed_models" else value)
        fields = {k: v for k, v in key.to_redis().items() if k in changes}
        await cast(Awaitable[int], self._client.hset(self._keys.client_key(key.key_hash), mapping=fields))
        return key

    async def delete(self, key_id: str) -> bool:
        key = await self.get(key_id)
        if key is None:
            return False
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.delete(
                self._keys.client_key(key.key_hash),
                self._keys.client_key_rate(key.key_hash),
                self._keys.client_key_usage_total(key.key_hash),
                self._keys.client_key_inflight(key.key_hash),
            )
            pipe.srem(self._keys.client_keys(), key.key_hash)
            await pipe.execute()
        return True


def _hgetall(client: StackRedis, key: str) -> Awaitable[dict[str, str]]:
    return cast(Awaitable[dict[str, str]], client.hgetall(key))


def _month(now: float) -> str:
    """The UTC month (`YYYY-MM`) of `now`: its day's label cut short (`today` remembers the day)."""
    return today(now)[:7]
