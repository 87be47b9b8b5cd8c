"""A client API key's record and the verdicts on its requests (no Redis here: `shared.clientkeys` stores
them and runs the admission).

The record holds the key's SHA-256 hash, never the key; its field names are the `K.` names the Lua
scripts read (`shared/accounts/schema.py`).
"""

from __future__ import annotations

import calendar
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

NOTE_MAX_CHARS = 500


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
    max_concurrency: int = 0  # requests in flight at once, 0 = unlimited
    monthly_credits: int = 0  # Kiro credits per UTC calendar month, 0 = unlimited
    expires_at: int = 0  # unix seconds after which the key is refused, 0 = never
    note: str = ""  # free text for the admin
    hint: str = ""  # last characters of the plain key, to tell keys apart in the panel
    created_at: float = field(default_factory=time.time)
    last_used_at: float = 0.0

    def allows_model(self, model: str) -> bool:
        return not self.allowed_models or model in self.allowed_models

    def expired(self, now: float) -> bool:
        return 0 < self.expires_at <= now

    def to_redis(self) -> dict[str, str]:
        return {
            "id": self.id,
            "name": self.name,
            "hash": self.key_hash,
            "enabled": "1" if self.enabled else "0",
            "allowed_models": orjson.dumps(list(self.allowed_models)).decode(),
            "rpm": str(self.rpm),
            "daily_tokens": str(self.daily_tokens),
            "max_concurrency": str(self.max_concurrency),
            "monthly_credits": str(self.monthly_credits),
            "expires_at": str(self.expires_at),
            "note": self.note,
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
            max_concurrency=int(data.get("max_concurrency") or 0),
            monthly_credits=int(data.get("monthly_credits") or 0),
            expires_at=int(data.get("expires_at") or 0),
            note=data.get("note", ""),
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
            "max_concurrency": self.max_concurrency,
            "monthly_credits": self.monthly_credits,
            "expires_at": self.expires_at,
            "note": self.note,
            "hint": self.hint,
            "created_at": self.created_at,
            "last_used_at": self.last_used_at,
        }


@dataclass(frozen=True)
class Admission:
    """The verdict on one request: `ok`, or why not (`gone`, `disabled`, `expired`, `model`, `credits`,
    `tokens`, `concurrency`, `rpm`); `request_id` names an admitted request's in-flight entry ('' = none)."""

    verdict: str
    retry_after: float = 0.0
    request_id: str = ""

    @property
    def ok(self) -> bool:
        return self.verdict == "ok"


_COUNTS = ("rpm", "daily_tokens", "max_concurrency", "monthly_credits", "expires_at")


def check_limits(values: dict[str, Any], *, now: float | None = None) -> None:
    """ValueError unless the limits are non-negative ints and the note fits; with `now` (a new key) the
    expiry must be after it or 0."""
    for name in _COUNTS:
        value = values.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a whole number >= 0, not {value!r}")
    if len(values.get("note", "")) > NOTE_MAX_CHARS:
        raise ValueError(f"note is longer than {NOTE_MAX_CHARS} characters")
    if now is not None and 0 < values.get("expires_at", 0) <= now:
        raise ValueError("expires_at must be in the future (or 0 = never)")


def next_utc_day(now: float) -> float:
    """Unix time of the next 00:00 UTC (when a daily token budget starts again)."""
    return now - now % 86400 + 86400


def next_utc_month(now: float) -> float:
    """Unix time of the first of next month, 00:00 UTC (when a monthly credit budget starts again)."""
    year, month = time.gmtime(now)[:2]
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return float(calendar.timegm((year, month, 1, 0, 0, 0)))
