"""Everything the emulator remembers, kept per account so concurrent tests do not see each other.

One asyncio loop owns it; no locks needed. Tokens are indexed for O(1) lookups on every request.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any, Literal

from services.kiro_emulator.accounts import (
    Account,
    AccountPatch,
    AccountSpec,
    QueuedScript,
    build_models,
    new_token,
    profile_arn_for,
)
from services.kiro_emulator.plan import Continuation
from services.kiro_emulator.scripts import FaultRule, Script
from services.kiro_emulator.validate import ChatRequest

DEMO_ACCOUNT = "demo"
DEMO_ACCESS_TOKEN = "emu-demo-access-token"
DEMO_REFRESH_TOKEN = "emu-demo-refresh-token"
DEMO_PROFILE_ARN = "arn:aws:codewhisperer:us-east-1:000000000000:profile/EMULATOR"
UNATTRIBUTED = "_unattributed"


@dataclass
class OidcClient:
    client_id: str
    client_secret: str
    expires_at: float


@dataclass
class DeviceFlow:
    device_code: str
    user_code: str
    client_id: str
    client_secret: str
    expires_at: float
    interval: int
    status: Literal["pending", "approved", "denied", "used"] = "pending"
    last_poll: float = 0.0
    account: str | None = None

    def view(self) -> dict[str, Any]:
        status = "expired" if self.status == "pending" and time.time() >= self.expires_at else self.status
        return {
            "user_code": self.user_code,
            "device_code": self.device_code,
            "client_id": self.client_id,
            "status": status,
            "expires_at": self.expires_at,
            "account": self.account,
        }


class EmulatorState:
    """Accounts, token indexes, OIDC clients, device flows, global queues and counters."""

    def __init__(self, *, access_token_ttl: int, history_size: int, demo_account: bool) -> None:
        self.access_token_ttl = access_token_ttl
        self.history_size = history_size
        self.demo_account = demo_account
        self.reset()

    def reset(self) -> None:
        self.accounts: dict[str, Account] = {}
        self.access_index: dict[str, str] = {}
        self.refresh_index: dict[str, str] = {}
        self.retired_refresh: dict[str, str] = {}  # rotated-away token -> account (to count stale uses)
        self.clients: dict[str, OidcClient] = {}
        self.device_flows: dict[str, DeviceFlow] = {}
        self.user_codes: dict[str, str] = {}
        self.global_scripts: deque[QueuedScript] = deque()
        self.global_faults: list[FaultRule] = []
        self.releases: dict[str, asyncio.Event] = {}  # rule id -> ends the delays it holds now
        self.total: Counter[str] = Counter()
        self.unattributed: deque[dict[str, Any]] = deque(maxlen=self.history_size)
        if self.demo_account:
            self.register(
                AccountSpec(
                    name=DEMO_ACCOUNT,
                    access_token=DEMO_ACCESS_TOKEN,
                    refresh_token=DEMO_REFRESH_TOKEN,
                    profile_arn=DEMO_PROFILE_ARN,
                )
            )

    # accounts and tokens

    def register(self, spec: AccountSpec) -> Account:
        if spec.name in self.accounts:
            self.delete(spec.name)
        client_id, client_secret = spec.client_id or "", spec.client_secret or ""
        if spec.auth_kind in ("idc", "external_idp") and not client_id:
            client_id, client_secret = new_token("client"), new_token("secret")
        account = Account(
            name=spec.name,
            auth_kind=spec.auth_kind,
            refresh_token=spec.refresh_token or new_token("refresh"),
            client_id=client_id,
            client_secret=client_secret,
            profile_arn=spec.profile_arn
            or (profile_arn_for(spec.name) if spec.auth_kind == "social" else ""),
            expires_in=spec.expires_in or self.access_token_ttl,
            rotate_refresh=spec.rotate_refresh,
            revoke_old_access=spec.revoke_old_access,
            suspended=spec.suspended,
            models=build_models(spec.models),
            usage=spec.usage,
            requests=deque(maxlen=self.history_size),
        )
        for token in (account.refresh_token, spec.access_token):
            if token and (token in self.refresh_index or token in self.access_index):
                owner = self.refresh_index.get(token) or self.access_index.get(token)
                raise ValueError(f"token already belongs to account {owner!r}")
        self.accounts[account.name] = account
        self.refresh_index[account.refresh_token] = account.name
        self.issue_access_token(account, spec.access_token)
        return account

    def patch(self, account: Account, patch: AccountPatch) -> None:
        changes = patch.model_dump(exclude_unset=True)
        if "models" in changes:
            account.models = build_models(patch.models)
        if patch.usage is not None:
            account.usage = patch.usage
        for name in ("expires_in", "rotate_refresh", "revoke_old_access", "suspended", "profile_arn"):
            if name in changes and changes[name] is not None:
                setattr(account, name, changes[name])

    def delete(self, name: str) -> None:
        account = self.accounts.pop(name)
        for token in account.access_tokens:
            self.access_index.pop(token, None)
        for token in account.retired_refresh_tokens:
            self.retired_refresh.pop(token, None)
        self.refresh_index.pop(account.refresh_token, None)

    def issue_access_token(self, account: Account, token: str | None = None) -> str:
        if account.revoke_old_access:
            for old in account.access_tokens:
                self.access_index.pop(old, None)
            account.access_tokens.clear()
        token = token or new_token("access")
        account.access_tokens[token] = time.time() + account.expires_in
        self.access_index[token] = account.name
        return token

    def rotate_refresh_token(self, account: Account) -> str:
        self.refresh_index.pop(account.refresh_token, None)
        self.retired_refresh[account.refresh_token] = account.name
        account.retired_refresh_tokens.append(account.refresh_token)
        account.refresh_token = new_token("refresh")
        self.refresh_index[account.refresh_token] = account.name
        return account.refresh_token

    def expire_access_tokens(self, account: Account, token: str | None = None) -> int:
        now = time.time()
        targets = [token] if token else list(account.access_tokens)
        expired = 0
        for t in targets:
            if t in account.access_tokens:
                account.access_tokens[t] = min(account.access_tokens[t], now - 1)
                expired += 1
        return expired

    def account_by_access(self, token: str) -> tuple[Account | None, bool]:
        """(account owning the token, whether it is still valid)."""
        name = self.access_index.get(token)
        account = self.accounts.get(name) if name else None
        if account is None:
            return None, False
        return account, account.access_tokens.get(token, 0) > time.time()

    def account_by_refresh(self, token: str) -> tuple[Account | None, bool]:
        """(account the refresh token belongs or belonged to, whether it is its current one)."""
        name = self.refresh_index.get(token)
        if name is not None:
            return self.accounts.get(name), True
        name = self.retired_refresh.get(token)
        return (self.accounts.get(name) if name else None), False

    def resolve(self, ref: str) -> Account | None:
        """An account by name or by one of its access tokens (control API)."""
        if ref in self.accounts:
            return self.accounts[ref]
        return self.account_by_access(ref)[0]

    # activity

    def count(self, account: Account | None, endpoint: str, record: dict[str, Any]) -> None:
        self.total[endpoint] += 1
        if account is None:
            self.unattributed.append(record)
            return
        account.counts[endpoint] += 1
        account.requests.append(record)

    def count_status(self, account: Account | None, endpoint: str, status: int) -> None:
        if account is not None:
            account.statuses.setdefault(endpoint, Counter())[status] += 1

    def take_fault(self, account: Account | None, endpoint: str) -> FaultRule | None:
        """The first matching fault rule (account rules first), with one use taken off it."""
        for rules in (account.faults if account else [], self.global_faults):
            for rule in rules:
                if rule.matches_endpoint(endpoint):
                    if rule.times == 1:
                        rules.remove(rule)
                    elif rule.times > 1:
                        rule.times -= 1
                    return rule
        return None

    async def hold(self, rule: FaultRule) -> None:
        """Wait out a rule's first-byte delay, or less if a test releases the rule (`release`)."""
        released = self.releases.setdefault(rule.id or "", asyncio.Event())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(released.wait(), (rule.first_byte_delay_ms or 0) / 1000)

    def release(self, rule_id: str) -> None:
        """Answer now the requests a rule holds back (later ones wait out its delay again)."""
        self.releases.pop(rule_id, asyncio.Event()).set()

    def take_script(self, account: Account | None, chat: ChatRequest) -> Script | None:
        """The first queued script whose conditions match (account queue first), one use taken off it."""
        for queue in (account.scripts if account else deque(), self.global_scripts):
            for queued in queue:
                if not queued.script.applies_to(chat.content, chat.model_id, chat.has_tools):
                    continue
                if queued.remaining == 1:
                    queue.remove(queued)
                elif queued.remaining > 1:
                    queued.remaining -= 1
                return queued.script
        return None

    def take_continuation(
        self, account: Account, conversation_id: str, raw_body: bytes
    ) -> Continuation | None:
        for pending in account.continuations:
            if pending.matches(conversation_id, raw_body):
                account.continuations.remove(pending)
                return pending
        return None

    def counters_view(self) -> dict[str, Any]:
        return {
            "total": dict(self.total),
            "accounts": {name: dict(a.counts) for name, a in self.accounts.items() if a.counts},
            "statuses": {
                name: {ep: {str(s): n for s, n in c.items()} for ep, c in a.statuses.items()}
                for name, a in self.accounts.items()
                if a.statuses
            },
        }

    # OIDC clients and device flows

    def register_client(self, lifetime: float) -> OidcClient:
        client = OidcClient(new_token("client"), new_token("secret"), time.time() + lifetime)
        self.clients[client.client_id] = client
        return client

    def client_ok(self, client_id: str, client_secret: str) -> bool:
        client = self.clients.get(client_id)
        if client is not None:
            return (
                secrets.compare_digest(client.client_secret, client_secret)
                and client.expires_at > time.time()
            )
        return any(
            a.client_id == client_id and secrets.compare_digest(a.client_secret, client_secret)
            for a in self.accounts.values()
            if a.client_id
        )

    def start_device_flow(self, client: OidcClient, *, interval: int, expires_in: int) -> DeviceFlow:
        letters = "BCDFGHJKLMNPQRSTVWXZ"
        user_code = "".join(secrets.choice(letters) for _ in range(4)) + "-"
        user_code += "".join(secrets.choice(letters) for _ in range(4))
        flow = DeviceFlow(
            device_code=new_token("device"),
            user_code=user_code,
            client_id=client.client_id,
            client_secret=client.client_secret,
            expires_at=time.time() + expires_in,
            interval=interval,
        )
        self.device_flows[flow.device_code] = flow
        self.user_codes[user_code] = flow.device_code
        return flow

    def find_flow(self, user_code: str | None, device_code: str | None) -> DeviceFlow | None:
        if device_code:
            return self.device_flows.get(device_code)
        if user_code:
            code = self.user_codes.get(user_code.upper())
            return self.device_flows.get(code) if code else None
        return None
