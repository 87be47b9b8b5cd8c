"""CRUD on accounts: read (malformed records flagged, never dropped), create, update, delete.

An account is its record (`{acct:ID}`) and its pick state, the columns under the pick's tag
(`shared.accounts.columns`); the store reads both as one and writes each in its own slot.
The store writes tokens only when it creates a record; every later token write belongs to the refresher
(`shared.accounts.tokens`). Writes to an existing account go through scripts that refuse to touch a
deleted one, so a slow writer can never resurrect it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, fields
from typing import Any, cast

from shared.accounts import columns
from shared.accounts.model import Account, mask_proxy_url
from shared.accounts.scripts import register
from shared.crypto import SecretBox, SecretDecryptError
from shared.errors import KiroStackError
from shared.keys import Keys, match_prefix
from shared.kiro.regions import check_region
from shared.redis_topology import StackRedis

#: Fields an operator may change on an existing account (tokens, state and bookkeeping are not here).
EDITABLE_FIELDS = frozenset(
    {"label", "weight", "enabled", "proxy_url", "max_concurrency", "min_interval_ms", "api_region", "email"}
)
#: Fields only the refresher writes (through `TokenStore`).
TOKEN_FIELDS = frozenset(
    {"refresh_token_enc", "prev_refresh_token_enc", "access_token_enc", "access_expires_at", "token_version"}
)
_FIELD_NAMES = frozenset(f.name for f in fields(Account))


@dataclass(frozen=True)
class InvalidRecord:
    """A stored account that cannot be parsed; shown to operators instead of being dropped."""

    id: str
    reason: str


@dataclass(frozen=True)
class AccountListing:
    """Every account: the ones that parse, and the malformed ones with the reason."""

    accounts: list[Account]
    invalid: list[InvalidRecord]


class MalformedAccountError(KiroStackError, ValueError):
    """A stored account record does not parse (the message names the field)."""


def to_fields(values: dict[str, object]) -> dict[str, str]:
    """Render field values the way `Account.to_redis` does (booleans as 0/1, enums by value)."""
    out: dict[str, str] = {}
    for name, value in values.items():
        if name not in _FIELD_NAMES:
            raise ValueError(f"unknown account field {name!r}")
        if isinstance(value, bool):
            out[name] = "1" if value else "0"
        elif hasattr(value, "value"):
            out[name] = str(value.value)
        else:
            out[name] = str(value)
    return out


class AccountStore:
    """Account records in Redis, bound to one client, key prefix and secret box."""

    def __init__(self, client: StackRedis, keys: Keys, box: SecretBox) -> None:
        self._client = client
        self._keys = keys
        self._box = box
        self._register = register(client, "register_account")
        self._create = register(client, "create_account")
        self._hset_existing = register(client, "hset_existing")
        self._hset_columns = register(client, "hset_columns")
        self._forget = register(client, "forget_account")

    @property
    def keys(self) -> Keys:
        return self._keys

    @property
    def box(self) -> SecretBox:
        return self._box

    # --- reading --------------------------------------------------------------------------------
    async def get(self, account_id: str) -> Account | None:
        """The account, or None when it does not exist; raises MalformedAccountError on a bad record."""
        pipe = self._client.pipeline(transaction=False)
        pipe.hgetall(self._keys.account(account_id))
        pipe.hmget(self._keys.account_columns(), columns.columns_of(account_id, columns.ACCOUNT_COLUMNS))
        data, values = await pipe.execute()
        if not data:
            return None
        return _parse(account_id, columns.merge(data, values))

    async def exists(self, account_id: str) -> bool:
        """True when a record with this id is stored."""
        return bool(await self._client.exists(self._keys.account(account_id)))

    async def ids(self) -> list[str]:
        """Every account id, sorted."""
        return sorted(await cast(Awaitable[set[str]], self._client.smembers(self._keys.accounts())))

    async def list(self) -> AccountListing:
        """Every account; malformed records are returned in `invalid` with the reason, never dropped."""
        ids = await self.ids()
        pipe = self._client.pipeline(transaction=False)
        for account_id in ids:
            pipe.hgetall(self._keys.account(account_id))
        if ids:
            pipe.hmget(self._keys.account_columns(), columns.fields_of(ids, columns.ACCOUNT_COLUMNS))
        rows = await pipe.execute()
        states = columns.by_account(rows.pop(), len(columns.ACCOUNT_COLUMNS)) if ids else []
        accounts: list[Account] = []
        invalid: list[InvalidRecord] = []
        for account_id, data, state in zip(ids, rows, states, strict=True):
            if not data:
                invalid.append(InvalidRecord(account_id, "listed in the accounts set but has no record"))
                continue
            try:
                accounts.append(_parse(account_id, columns.merge(data, state)))
            except MalformedAccountError as exc:
                invalid.append(InvalidRecord(account_id, str(exc)))
        return AccountListing(accounts, invalid)

    # --- writing --------------------------------------------------------------------------------
    async def create(self, account: Account) -> bool:
        """Store a new account (with its encrypted secrets); False when the id is taken.

        The id and the pick state are registered first: the id is taken from then on, and should the
        record's write never come, the account is listed as one without a record (`list`), not lost.
        """
        values = account.to_redis()
        if account.proxy_url:  # given plain (new account, restore): stored encrypted
            values |= self._proxy_fields(account.proxy_url)
        record, state = columns.stored(values)
        registered = await self._register(
            keys=[self._keys.accounts(), self._keys.account_columns()], args=[account.id, *_pairs(state)]
        )
        if not registered:
            return False
        await self._create(keys=[self._keys.account(account.id)], args=_pairs(record))
        return True

    async def update(self, account_id: str, changes: dict[str, object]) -> bool:
        """Change editable fields of an existing account; False when it does not exist.

        Raises ValueError for a field that is unknown or not editable (tokens, state, bookkeeping).
        Pool membership does not follow `enabled` by itself: `AccountOps.update` re-applies the state.
        """
        bad = sorted(set(changes) - EDITABLE_FIELDS)
        if bad:
            raise ValueError(f"not editable: {', '.join(bad)}")
        plain = dict(changes)
        if plain.get("api_region"):
            check_region(str(plain["api_region"]), "api_region")  # goes into the chat host name
        values = self._proxy_fields(str(plain.pop("proxy_url"))) if "proxy_url" in plain else {}
        return await self.set_fields(account_id, to_fields(plain) | values)

    def _proxy_fields(self, url: str) -> dict[str, str]:
        """The stored form of a proxy URL: encrypted, and no plain copy left behind."""
        return {"proxy_url_enc": self._box.encrypt(url) if url else "", "proxy_url": ""}

    async def encrypt_plain_proxy_urls(self) -> int:
        """Encrypt proxy URLs stored in plain text before they were encrypted; how many were."""
        done = 0
        for account in (await self.list()).accounts:
            if account.proxy_url and not account.proxy_url_enc:
                done += await self.set_fields(account.id, self._proxy_fields(account.proxy_url))
        return done

    async def set_fields(self, account_id: str, values: dict[str, str], *, increment: str = "") -> bool:
        """Write non-token fields of an existing account (refresh bookkeeping, usage snapshot).

        `increment` names one integer field to add 1 to. Token fields are refused: they belong to
        `TokenStore`. Returns False when the account does not exist.
        """
        if TOKEN_FIELDS & set(values) or increment in TOKEN_FIELDS:
            raise ValueError("token fields are written by the refresher's TokenStore only")
        record, state = columns.split(values)
        if increment:
            if columns.is_column(increment):
                raise ValueError(f"{increment} is pick state: it is not counted here")
            record[f"+{increment}"] = "1"
        done = True
        if state:
            done = bool(
                await self._hset_columns(
                    keys=[self._keys.account_columns(), self._keys.accounts()],
                    args=[account_id, *_pairs(state)],
                )
            )
        if done and (record or not state):
            done = bool(await self._hset_existing(keys=[self._keys.account(account_id)], args=_pairs(record)))
        return done

    async def delete(self, account_id: str) -> bool:
        """Remove the account from the pool and the accounts set and delete every key it owns."""
        removed = await self._forget(
            keys=[
                self._keys.accounts(),
                self._keys.pool(),
                self._keys.account_columns(),
                self._keys.leases(),
            ],
            args=[account_id, *columns.COLUMNS],
        )
        existed = await self._client.exists(self._keys.account(account_id))
        pattern = match_prefix(self._keys.account_prefix(account_id))
        doomed = [key async for key in self._client.scan_iter(match=pattern, count=500)]
        if doomed:
            await self._client.delete(*doomed)
        return bool(removed or existed)

    # --- secrets --------------------------------------------------------------------------------
    def refresh_token(self, account: Account) -> str:
        """The plain refresh token ('' when none is stored)."""
        return self._box.decrypt(account.refresh_token_enc) if account.refresh_token_enc else ""

    def prev_refresh_token(self, account: Account) -> str:
        """The refresh token replaced by the last rotation ('' when none is kept)."""
        return self._box.decrypt(account.prev_refresh_token_enc) if account.prev_refresh_token_enc else ""

    def client_secret(self, account: Account) -> str:
        """The plain OIDC client secret ('' for social logins)."""
        return self._box.decrypt(account.client_secret_enc) if account.client_secret_enc else ""

    def access_token(self, account: Account) -> str:
        """The plain access token ('' before the first refresh)."""
        return self._box.decrypt(account.access_token_enc) if account.access_token_enc else ""

    def proxy_url(self, account: Account) -> str:
        """The account's plain proxy URL ('' = the global VPN_PROXY_URL)."""
        return plain_proxy_url(account, self._box)

    def public_view(self, account: Account) -> dict[str, Any]:
        """`Account.public_view()` with the proxy URL masked (`http://user:****@host:port`)."""
        try:
            shown = mask_proxy_url(self.proxy_url(account))
        except SecretDecryptError:
            shown = "(stored proxy URL does not decrypt with KIRO_SECRET_KEY)"
        return {**account.public_view(), "proxy_url": shown}


def plain_proxy_url(account: Account, box: SecretBox) -> str:
    """The account's plain proxy URL: decrypted, or a plain one stored before proxies were encrypted."""
    return box.decrypt(account.proxy_url_enc) if account.proxy_url_enc else account.proxy_url


async def read_fields(
    client: StackRedis, keys: Keys, ids: list[str], names: Sequence[str]
) -> list[list[str | None]]:
    """The stored values of `names` (account fields, in order) of each account of `ids`: record fields
    and pick-state columns (`shared.accounts.columns`) alike, in one round trip."""
    in_record = [n for n in names if not columns.is_column(n)]
    in_columns = [n for n in names if columns.is_column(n)]
    pipe = client.pipeline(transaction=False)
    if in_record:
        for account_id in ids:
            pipe.hmget(keys.account(account_id), in_record)
    if in_columns and ids:
        pipe.hmget(keys.account_columns(), columns.fields_of(ids, in_columns))
    rows: list[list[str | None]] = await pipe.execute() if len(pipe) else []
    from_columns = columns.by_account(rows.pop(), len(in_columns)) if in_columns and ids else []
    out: list[list[str | None]] = []
    for n in range(len(ids)):
        record = dict(zip(in_record, rows[n], strict=True)) if in_record else {}
        state = dict(zip(in_columns, from_columns[n], strict=True)) if in_columns else {}
        out.append([state[name] if name in state else record[name] for name in names])
    return out


def _pairs(values: dict[str, str]) -> list[str]:
    return [item for pair in values.items() for item in pair]


def _parse(account_id: str, data: dict[str, str]) -> Account:
    try:
        account = Account.from_redis(data)
    except ValueError as exc:
        raise MalformedAccountError(str(exc)) from exc
    if account.id != account_id:
        raise MalformedAccountError(f"record id {account.id!r} does not match its key")
    return account
