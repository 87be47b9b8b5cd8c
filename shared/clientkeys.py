"""Client API keys: stored as SHA-256 hashes, with per-key model list, RPM and daily token budget.

Limits are enforced in Redis (one Lua call per request), so every router replica shares them.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, cast

import orjson

from shared.accounts.pool import Lease, PickMiss, Pool, ScriptCall, composed_script, run_script
from shared.accounts.scripts import argv, register
from shared.crypto import constant_time_equals, new_api_key, sha256_hex
from shared.keys import Keys
from shared.redis_topology import StackRedis

USAGE_TTL_SECONDS = 35 * 86400


@dataclass
class ClientKey:
    """One client API key record (never the plain key)."""

    id: str
    name: str
    key_hash: str
    enabled: bool = True
    allowed_models: tuple[str, ...] = ()  # empty = every model
    rpm: int = 0  # requests per minute, 0 = unlimited
    daily_tokens: int = 0  # input + output tokens per UTC day, 0 = unlimited
    hint: str = ""  # last characters of the plain key, to tell keys apart in the panel
    created_at: float = field(default_factory=time.time)
    last_used_at: float = 0.0

    def allows_model(self, model: str) -> bool:
        return not self.allowed_models or model in self.allowed_models

    def to_redis(self) -> dict[str, str]:
        return {
            "id": self.id,
            "name": self.name,
            "hash": self.key_hash,
            "enabled": "1" if self.enabled else "0",
            "allowed_models": orjson.dumps(list(self.allowed_models)).decode(),
            "rpm": str(self.rpm),
            "daily_tokens": str(self.daily_tokens),
            "hint": self.hint,
            "created_at": str(self.created_at),
            "last_used_at": str(self.last_used_at),
        }

    @classmethod
    def from_redis(cls, data: dict[str, str]) -> ClientKey:
        models = orjson.loads(data.get("allowed_models") or "[]")
        return cls(
            id=data["id"],
            name=data.get("name", ""),
            key_hash=data["hash"],
            enabled=data.get("enabled") == "1",
            allowed_models=tuple(str(m) for m in models),
            rpm=int(data.get("rpm") or 0),
            daily_tokens=int(data.get("daily_tokens") or 0),
            hint=data.get("hint", ""),
            created_at=float(data.get("created_at") or 0),
            last_used_at=float(data.get("last_used_at") or 0),
        )

    def public_view(self) -> dict[str, Any]:
        """What the admin API shows (the hash stays inside)."""
        return {
            "id": self.id,
            "name": self.name,
            "enabled": self.enabled,
            "allowed_models": list(self.allowed_models),
            "rpm": self.rpm,
            "daily_tokens": self.daily_tokens,
            "hint": self.hint,
            "created_at": self.created_at,
            "last_used_at": self.last_used_at,
        }


@dataclass(frozen=True)
class Admission:
    """The verdict on one request: `ok`, or why not (`gone`, `disabled`, `model`, `tokens`, `rpm`)."""

    verdict: str
    retry_after: float = 0.0

    @property
    def ok(self) -> bool:
        return self.verdict == "ok"


_EDITABLE = frozenset({"name", "enabled", "allowed_models", "rpm", "daily_tokens"})


class ClientKeys:
    """Client key store and limiter bound to one Redis client and key prefix."""

    def __init__(self, client: StackRedis, keys: Keys) -> None:
        self._client = client
        self._keys = keys
        self._admit = register(client, "clientkey_admit")
        self._usage = register(client, "clientkey_usage")
        self._admit_pick = composed_script(client, "admit_pick", "clientkey_admit", "pick")

    async def create(
        self,
        name: str,
        *,
        plain: str | None = None,
        allowed_models: tuple[str, ...] = (),
        rpm: int = 0,
        daily_tokens: int = 0,
    ) -> tuple[ClientKey, str]:
        """Store a new key (generated unless `plain` is given); the plain key is returned only here."""
        plain = plain or new_api_key()
        key = ClientKey(
            id=secrets.token_hex(6),
            name=name,
            key_hash=sha256_hex(plain),
            allowed_models=allowed_models,
            rpm=rpm,
            daily_tokens=daily_tokens,
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

        Returns (None, gone) for an unknown key; otherwise the record and the verdict: `ok`, `disabled`,
        `model` (not in the key's model list), `tokens` (daily budget used up) or `rpm`.
        """
        if not plain:
            return None, Admission("gone")
        return await self._authorize(sha256_hex(plain), model)

    async def admit(self, key: ClientKey, model: str = "") -> Admission:
        """Count one request of a known key against its limits (RPM window, daily token budget)."""
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
        admit = self._admit_call(digest, model)
        pick = pool.pick_call((), conversation)
        result = await run_script(self._admit_pick, admit.keys + pick.keys, admit.args + pick.args)
        key, admission = self._admission(result[0], digest)
        if not admission.ok or len(result) < 2:
            return key, admission, None
        return key, admission, pool.pick_result(result[1])

    async def _authorize(self, digest: str, model: str) -> tuple[ClientKey | None, Admission]:
        call = self._admit_call(digest, model)
        return self._admission(await run_script(self._admit, call.keys, call.args), digest)

    def _admit_call(self, digest: str, model: str) -> ScriptCall:
        return ScriptCall(
            [
                self._keys.client_key(digest),
                self._keys.client_key_rate(digest),
                self._keys.client_key_usage(digest, _today()),
            ],
            argv("clientkey_admit", request_id=secrets.token_hex(8), ttl=USAGE_TTL_SECONDS, model=model),
        )

    @staticmethod
    def _admission(result: list[Any], digest: str) -> tuple[ClientKey | None, Admission]:
        verdict, retry_ms, raw = result
        data = dict(zip(raw[0::2], raw[1::2], strict=True))
        if not data or not constant_time_equals(data.get("hash", ""), digest):
            return None, Admission("gone")
        key = ClientKey.from_redis(data)
        if verdict == "tokens":
            return key, Admission("tokens", _seconds_to_utc_midnight())
        return key, Admission(str(verdict), int(retry_ms) / 1000)

    async def record_usage(
        self, key: ClientKey, input_tokens: int, output_tokens: int, *, error: bool = False
    ) -> None:
        """Add a finished request's tokens (and whether it failed) to today's usage of the key."""
        await self.write_usage(self.usage_call(key, input_tokens, output_tokens, error=error))

    async def write_usage(self, call: ScriptCall) -> None:
        """Run one `usage_call` result on its own."""
        await run_script(self._usage, call.keys, call.args)

    def usage_call(
        self, key: ClientKey, input_tokens: int, output_tokens: int, *, error: bool = False
    ) -> ScriptCall:
        """KEYS and ARGV of `clientkey_usage.lua`, to run alone or with the lease release (`Pool.release`)."""
        return ScriptCall(
            [self._keys.client_key_usage(key.key_hash, _today())],
            argv(
                "clientkey_usage",
                input=input_tokens,
                output=output_tokens,
                failed="1" if error else "0",
                ttl=USAGE_TTL_SECONDS,
            ),
        )

    async def usage(self, key: ClientKey, day: str | None = None) -> dict[str, int]:
        """Counters of one UTC day (default today): requests, errors, input_tokens, output_tokens, tokens."""
        raw = await _hgetall(self._client, self._keys.client_key_usage(key.key_hash, day or _today()))
        return {name: int(value) for name, value in raw.items()}

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
        """Change `name`, `enabled`, `allowed_models`, `rpm` or `daily_tokens`; None when unknown."""
        unknown = set(changes) - _EDITABLE
        if unknown:
            raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
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
            pipe.delete(self._keys.client_key(key.key_hash), self._keys.client_key_rate(key.key_hash))
            pipe.srem(self._keys.client_keys(), key.key_hash)
            await pipe.execute()
        return True


def _hgetall(client: StackRedis, key: str) -> Awaitable[dict[str, str]]:
    return cast(Awaitable[dict[str, str]], client.hgetall(key))


def _today() -> str:
    return time.strftime("%Y-%m-%d", time.gmtime())


def _seconds_to_utc_midnight() -> float:
    now = time.time()
    return 86400 - (now % 86400)
