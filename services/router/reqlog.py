"""The request log: one entry per finished request in a capped Redis stream, read back by the admin API.

An entry says who (client key name and id), what (route, model asked for and the model that served it,
as the gateway named it), where (account, accounts failed over),
how it ended (status, outcome, reason), how much (tokens, credits) and how fast (TTFB, duration).
Never prompt or answer content, never a key or a token. A served request's entry is appended by the
settle script (`Pool.release(log_entry=...)`), in the round trip that frees its lease.

Outcomes: `served`, `error` (an error status or a failure inside the stream), `cut` (the gateway stream
broke), `disconnected` (the client hung up), `failed_over` (every account tried failed before the first
byte), `refused` (the key's admission said no: disabled, model, RPM, budget).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import orjson
from redis.exceptions import RedisError

from shared.accounts.pool import ScriptCall, run_script
from shared.accounts.scripts import register
from shared.clientkey_record import ClientKey
from shared.keys import Keys
from shared.logging import log_fields
from shared.redis_topology import StackRedis

log = logging.getLogger(__name__)

SERVED = "served"
#: the one field of a stream entry: the entry as JSON
FIELD = "e"
#: the fields of an entry and what a missing or mistyped one reads as
_DEFAULTS: dict[str, Any] = {
    "request_id": "",
    "key": "",
    "key_id": "",
    "route": "",
    "model": "",
    "served_model": "",
    "account": "",
    "tried": [],
    "status": 0,
    "outcome": "",
    "reason": "",
    "input_tokens": 0,
    "output_tokens": 0,
    "credits": 0.0,
    "ttfb_ms": None,  # no byte was relayed
    "duration_ms": 0.0,
}
#: a stream id as XADD makes them (`<ms>-<seq>`), the only `before` the reader takes
STREAM_ID = re.compile(r"^\d{1,20}-\d{1,20}$")
_SCAN_BATCH = 200
_SCAN_MAX = 20_000  # entries a filtered read looks through at most before answering


@dataclass(frozen=True)
class Finished:
    """What the log keeps of one request (the caller fills it from what it already has)."""

    route: str
    model: str
    key: ClientKey | None
    request_id: str
    status: int
    outcome: str
    served_model: str = ""  # the Kiro model the gateway served `model` with ("" when none served)
    account: str = ""
    trail: tuple[str, ...] = ()  # "account:reason" of each account failed over, in order
    reason: str = ""  # why the router ended the request itself (an error code)
    input_tokens: int = 0
    output_tokens: int = 0
    credits: float = 0.0
    ttfb_ms: float = -1.0  # -1: no byte was relayed
    duration_ms: float = 0.0


@dataclass(frozen=True)
class Page:
    entries: list[dict[str, Any]]
    next_before: str | None  # pass as `before` for older entries; None at the end of the log


class RequestLog:
    """Writes and reads the request log stream (`keys.request_log()`), capped at `size` entries (0 = off)."""

    def __init__(self, client: StackRedis, keys: Keys, size: int) -> None:
        self._client = client
        self._stream = keys.request_log()
        self.size = size
        self._append = register(client, "reqlog")

    def call(self, done: Finished) -> ScriptCall | None:
        """KEYS and ARGV of `reqlog.lua` for one entry, to run alone or inside the settle script.

        The entry travels as one JSON field: packing a dozen fields as separate command arguments cost the
        router more CPU than the rest of the settle call.
        """
        if self.size <= 0:
            return None
        key = done.key
        entry = {
            "request_id": done.request_id,
            "key": key.name if key else "",
            "key_id": key.id if key else "",
            "route": done.route,
            "model": done.model,
            "served_model": done.served_model,
            "account": done.account,
            "tried": done.trail,
            "status": done.status,
            "outcome": done.outcome,
            "reason": done.reason,
            "input_tokens": done.input_tokens,
            "output_tokens": done.output_tokens,
            "credits": round(done.credits, 6),
            "ttfb_ms": round(done.ttfb_ms, 1) if done.ttfb_ms >= 0 else None,
            "duration_ms": round(done.duration_ms, 1),
        }
        return ScriptCall([self._stream], [self.size, orjson.dumps(entry).decode()])

    async def append(self, done: Finished) -> None:
        """Append one entry on its own (requests the router ends itself, which settle no lease).

        A Redis error only loses the entry: it is logged, never raised into the request's answer.
        """
        try:
            await self.write(self.call(done))
        except RedisError as exc:
            log.warning("request not logged", extra=log_fields(error=repr(exc)))

    async def write(self, call: ScriptCall | None) -> None:
        """Run one `call` result on its own (nothing when the log is off)."""
        if call is not None:
            await run_script(self._append, call.keys, call.args)

    async def read(
        self,
        limit: int,
        before: str | None = None,
        *,
        errors: bool | None = None,
        account: str | None = None,
        key: str | None = None,
    ) -> Page:
        """Newest first, older than `before`; `errors` True keeps only not-served requests, False served.

        `account` matches the account that served or any account failed over; `key` the key's name or id.
        """
        found: list[dict[str, Any]] = []
        upper = _upper_bound(before)
        if upper is None:
            return Page(found, None)
        scanned = 0
        while len(found) < limit and scanned < _SCAN_MAX:
            rows = await self._client.xrevrange(self._stream, upper, "-", count=_SCAN_BATCH)
            if not rows:
                return Page(found, None)
            for stream_id, fields in rows:
                scanned += 1
                entry = _entry(stream_id, fields)
                if _matches(entry, errors, account, key):
                    found.append(entry)
                    if len(found) == limit:
                        return Page(found, stream_id)
            upper = f"({rows[-1][0]}"
            if len(rows) < _SCAN_BATCH:
                return Page(found, None)
        return Page(found, upper[1:])


_MAX_ID_PART = 2**64 - 1


def _upper_bound(before: str | None) -> str | None:
    """XREVRANGE's exclusive upper end for `before` (`<ms>-<seq>`); None when nothing can be older.

    Redis refuses `(0-0` and parts beyond 64 bits, which a client may well send: an id past the largest
    one means the whole log.
    """
    if not before:
        return "+"
    ms, seq = (int(part) for part in before.split("-", 1))
    if ms > _MAX_ID_PART or seq > _MAX_ID_PART:
        return "+"
    if ms == 0 and seq == 0:
        return None
    return f"({ms}-{seq}"


def _matches(entry: dict[str, Any], errors: bool | None, account: str | None, key: str | None) -> bool:
    if errors is not None and (entry["outcome"] != SERVED) != errors:
        return False
    if account and entry["account"] != account and all(t["account"] != account for t in entry["tried"]):
        return False
    return not key or key in (entry["key"], entry["key_id"])


def _entry(stream_id: str, raw: dict[str, str]) -> dict[str, Any]:
    """One stream entry as the admin API shows it: its JSON, the trail split, the time from the id."""
    try:
        data = orjson.loads(raw.get(FIELD, "{}"))
    except orjson.JSONDecodeError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    entry: dict[str, Any] = {"id": stream_id, "at": int(stream_id.split("-", 1)[0]) / 1000}
    for name, default in _DEFAULTS.items():
        value = data.get(name, default)
        entry[name] = value if isinstance(value, _kinds(default)) else default
    entry["tried"] = [
        {"account": account, "reason": reason}
        for account, _, reason in (str(step).rpartition(":") for step in entry["tried"])
    ]
    return entry


def _kinds(default: Any) -> tuple[type, ...]:
    """The JSON types a field with this default may have."""
    if default is None or isinstance(default, float):
        return (int, float) if default is not None else (int, float, type(None))
    return (type(default),)
