"""An emulated Kiro account: its tokens, models, usage and its own scripts, faults and activity."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.kiro_emulator.catalog import ModelInfo, UsageSpec, default_models, model_from_spec
from services.kiro_emulator.plan import Continuation
from services.kiro_emulator.scripts import FaultRule, Script


def new_token(kind: str) -> str:
    return f"emu-{kind}-{secrets.token_urlsafe(24)}"


class AccountSpec(BaseModel):
    """The control call that registers an account (README: Control API)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    access_token: str | None = Field(None, min_length=1)
    refresh_token: str | None = Field(None, min_length=1)
    auth_kind: Literal["social", "idc", "external_idp"] = "social"
    client_id: str | None = None
    client_secret: str | None = None
    profile_arn: str | None = None
    expires_in: int | None = Field(None, ge=1)
    rotate_refresh: bool = False
    revoke_old_access: bool = False
    suspended: bool = False
    models: list[str | dict[str, Any]] | None = None
    usage: UsageSpec = Field(default_factory=UsageSpec)


class AccountPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expires_in: int | None = Field(None, ge=1)
    rotate_refresh: bool | None = None
    revoke_old_access: bool | None = None
    suspended: bool | None = None
    models: list[str | dict[str, Any]] | None = None
    usage: UsageSpec | None = None
    profile_arn: str | None = None


@dataclass
class QueuedScript:
    script: Script
    remaining: int  # 0 = until cleared


@dataclass
class Account:
    name: str
    auth_kind: str
    refresh_token: str
    client_id: str
    client_secret: str
    profile_arn: str
    expires_in: int
    rotate_refresh: bool
    revoke_old_access: bool
    suspended: bool
    models: dict[str, ModelInfo]
    usage: UsageSpec
    access_tokens: dict[str, float] = field(default_factory=dict)  # token -> expires at (unix s)
    retired_refresh_tokens: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    statuses: dict[str, Counter[int]] = field(default_factory=dict)
    requests: deque[dict[str, Any]] = field(default_factory=deque)
    scripts: deque[QueuedScript] = field(default_factory=deque)
    faults: list[FaultRule] = field(default_factory=list)
    continuations: list[Continuation] = field(default_factory=list)

    def view(self) -> dict[str, Any]:
        now = time.time()
        return {
            "name": self.name,
            "auth_kind": self.auth_kind,
            "refresh_token": self.refresh_token,
            "access_token": self.newest_access_token(),
            "access_tokens": {t: round(exp - now, 3) for t, exp in self.access_tokens.items() if exp > now},
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "profile_arn": self.profile_arn,
            "expires_in": self.expires_in,
            "rotate_refresh": self.rotate_refresh,
            "revoke_old_access": self.revoke_old_access,
            "suspended": self.suspended,
            "models": list(self.models),
            "usage": self.usage.model_dump(),
        }

    def newest_access_token(self) -> str | None:
        return max(self.access_tokens, key=lambda t: self.access_tokens[t]) if self.access_tokens else None

    def clear_activity(self) -> None:
        self.counts.clear()
        self.statuses.clear()
        self.requests.clear()
        self.scripts.clear()
        self.faults.clear()
        self.continuations.clear()


def profile_arn_for(name: str) -> str:
    digest = hashlib.sha256(name.encode()).hexdigest()
    account_number = int(digest[:10], 16) % 10**12
    return f"arn:aws:codewhisperer:us-east-1:{account_number:012d}:profile/{digest[10:22].upper()}"


def build_models(specs: list[str | dict[str, Any]] | None) -> dict[str, ModelInfo]:
    models = default_models() if specs is None else [model_from_spec(s) for s in specs]
    return {m.model_id: m for m in models}
