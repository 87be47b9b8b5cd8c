"""Model list and usage limits as Kiro reports them (kiro-protocol.md §1.1, §4)."""

from __future__ import annotations

import calendar
import time
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

LARGE_WINDOW = 1_000_000
DEFAULT_WINDOW = 200_000
MAX_OUTPUT = 64_000

_DEFAULT_MODELS = (
    ("auto", "Auto", "Picks the best model for the task"),
    ("claude-sonnet-4", "Claude Sonnet 4", "Hybrid reasoning and coding"),
    ("claude-sonnet-4.5", "Claude Sonnet 4.5", "The latest Claude Sonnet model"),
    ("claude-haiku-4.5", "Claude Haiku 4.5", "Fast and economical"),
    ("claude-opus-4.5", "Claude Opus 4.5", "The most capable Claude Opus 4.5"),
    ("claude-sonnet-4.6", "Claude Sonnet 4.6", "Claude Sonnet 4.6 with a 1M context window"),
    ("claude-opus-4.6", "Claude Opus 4.6", "Claude Opus 4.6 with a 1M context window"),
    ("claude-opus-4.7", "Claude Opus 4.7", "Claude Opus 4.7 with a 1M context window"),
    ("deepseek-3.2", "DeepSeek 3.2", "Third-party model"),
    ("glm-5", "GLM 5", "Third-party model"),
    ("minimax-m2.1", "MiniMax M2.1", "Third-party model"),
    ("minimax-m2.5", "MiniMax M2.5", "Third-party model"),
    ("qwen3-coder-next", "Qwen3 Coder Next", "Third-party model"),
)


@dataclass(frozen=True, slots=True)
class ModelInfo:
    model_id: str
    name: str
    description: str
    max_input_tokens: int
    max_output_tokens: int = MAX_OUTPUT

    def as_kiro(self) -> dict[str, Any]:
        return {
            "modelId": self.model_id,
            "modelName": self.name,
            "description": self.description,
            "tokenLimits": {
                "maxInputTokens": self.max_input_tokens,
                "maxOutputTokens": self.max_output_tokens,
            },
        }


def _window(model_id: str) -> int:
    return LARGE_WINDOW if model_id.endswith(("-4.6", "-4.7")) else DEFAULT_WINDOW


def default_models() -> list[ModelInfo]:
    return [ModelInfo(mid, name, desc, _window(mid)) for mid, name, desc in _DEFAULT_MODELS]


def model_from_spec(spec: str | dict[str, Any]) -> ModelInfo:
    """A model from a control call: a Kiro id, or `{"modelId", "modelName"?, "description"?, ...}`."""
    if isinstance(spec, str):
        known = {m.model_id: m for m in default_models()}
        return known.get(spec) or ModelInfo(spec, spec, "Emulated model", _window(spec))
    model_id = str(spec.get("modelId") or "")
    if not model_id:
        raise ValueError("a model object needs modelId")
    limits = spec.get("tokenLimits") or {}
    return ModelInfo(
        model_id,
        str(spec.get("modelName") or model_id),
        str(spec.get("description") or "Emulated model"),
        int(limits.get("maxInputTokens") or _window(model_id)),
        int(limits.get("maxOutputTokens") or MAX_OUTPUT),
    )


def models_body(models: list[ModelInfo]) -> dict[str, Any]:
    return {"models": [m.as_kiro() for m in models], "defaultModel": {"modelId": "auto"}}


class TrialSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: str = "ACTIVE"
    limit: float = 500
    current: float = 0
    expiry: float = Field(default_factory=lambda: time.time() + 14 * 86400)


class UsageSpec(BaseModel):
    """Per-account usage numbers `getUsageLimits` reports (and chat enforces when `enforce`)."""

    model_config = ConfigDict(extra="forbid")

    current: float = 0.0
    limit: float = 1000.0
    next_reset: float | None = None
    subscription_title: str = "KIRO PRO"
    email: str = "user@example.com"
    trial: TrialSpec | None = None
    enforce: bool = False

    def reset_at(self) -> float:
        if self.next_reset is not None:
            return self.next_reset
        now = time.gmtime()
        year, month = (now.tm_year + 1, 1) if now.tm_mon == 12 else (now.tm_year, now.tm_mon + 1)
        return float(calendar.timegm((year, month, 1, 0, 0, 0, 0, 0, 0)))

    def exhausted(self) -> bool:
        return self.enforce and self.current >= self.limit


def usage_body(usage: UsageSpec, account_name: str) -> dict[str, Any]:
    reset_at = usage.reset_at()
    breakdown: dict[str, Any] = {
        "resourceType": "AGENTIC_REQUEST",
        "currentUsage": int(usage.current),
        "currentUsageWithPrecision": round(usage.current, 4),
        "usageLimit": int(usage.limit),
        "usageLimitWithPrecision": float(usage.limit),
        "nextDateReset": reset_at,
        "bonuses": [],
    }
    if usage.trial is not None:
        breakdown["freeTrialInfo"] = {
            "freeTrialStatus": usage.trial.status,
            "usageLimit": usage.trial.limit,
            "currentUsage": usage.trial.current,
            "freeTrialExpiry": usage.trial.expiry,
        }
    return {
        "nextDateReset": reset_at,
        "subscriptionInfo": {"subscriptionTitle": usage.subscription_title},
        "usageBreakdownList": [breakdown],
        "userInfo": {"email": usage.email, "userId": f"emulator-{account_name}"},
    }
