"""Scripted answers and fault rules as test authors write them (README: "Script fields", "Fault rules")."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from services.kiro_emulator.replies import FAULT_PRESETS, ErrorAnswer, bad_directive
from shared.kiro.endpoints import EMULATOR_PATHS

DIRECTIVE_OPEN = "[[emulator "
DIRECTIVE_CLOSE = "]]"

FaultKind = Literal[
    "invalid_token",
    "suspended",
    "quota",
    "throttled",
    "bad_request",
    "too_long",
    "invalid_model",
    "server_error",
    "unavailable",
    "invalid_grant",
]


class _Strict(BaseModel):
    """Typos in a test's script are errors, not silently ignored fields."""

    model_config = ConfigDict(extra="forbid")


class ExceptionSpec(_Strict):
    after_frames: int = Field(0, ge=0)
    type: str = "ThrottlingException"
    message: str = "Too many requests, please wait before trying again."


class StreamBehaviour(_Strict):
    """Timing and breakage of a chat answer; shared by scripts and fault rules."""

    first_byte_delay_ms: int | None = Field(None, ge=0)
    first_frame_delay_ms: int | None = Field(None, ge=0)
    delay_ms: int | None = Field(None, ge=0)
    reset_after_frames: int | None = Field(None, ge=0)
    exception: ExceptionSpec | None = None


class ErrorSpec(_Strict):
    """An error answered before the stream: a preset `kind` and/or an explicit status and body."""

    kind: FaultKind | None = None
    status: int | None = Field(None, ge=400, le=599)
    body: Any = None
    headers: dict[str, str] = Field(default_factory=dict)

    def answer(self) -> ErrorAnswer | None:
        if self.kind is None and self.status is None:
            return None
        base = (
            FAULT_PRESETS[self.kind]() if self.kind else ErrorAnswer(self.status or 500, {"message": "Error"})
        )
        if self.status is not None:
            base.status = self.status
        if self.body is not None:
            base.body = self.body
        base.headers.update(self.headers)
        return base


class ToolCallSpec(_Strict):
    name: str = Field(min_length=1)
    input: dict[str, Any] | str | list[str] = Field(default_factory=dict)
    id: str | None = Field(None, min_length=1)
    chunks: int | None = Field(None, ge=1)


class RawEvent(_Strict):
    """One extra frame: an event, an exception or an `error` message."""

    event: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict)
    exception: str | None = None
    message: str = ""
    error_code: str | None = None
    error_message: str = ""


class Script(StreamBehaviour):
    """What one chat request answers."""

    text: str | list[str] | None = None
    chunks: int | None = Field(None, ge=1)
    thinking: str | None = None
    tool_calls: list[ToolCallSpec] = Field(default_factory=list)
    events: list[RawEvent] = Field(default_factory=list)
    metering: float | bool | None = None
    context_usage: float | bool | None = None
    output_cap: int | None = Field(None, ge=0)
    continue_as: Literal["tool", "text"] = "tool"
    error: ErrorSpec | None = None
    repeat: int = Field(1, ge=0)
    when_content: str | None = None
    when_model: str | None = None
    when_has_tools: bool | None = None

    def applies_to(self, content: str, model_id: str, has_tools: bool) -> bool:
        """Whether a queued script may answer this request (its `when_*` conditions hold)."""
        return (
            (self.when_content is None or self.when_content in content)
            and (self.when_model is None or self.when_model == model_id)
            and (self.when_has_tools is None or self.when_has_tools == has_tools)
        )


class FaultRule(StreamBehaviour):
    """Fault injection: which requests it matches, how often, and what it does to them."""

    id: str | None = None
    account: str | None = None
    endpoint: str | None = None
    times: int = Field(1, ge=0)
    kind: FaultKind | None = None
    status: int | None = Field(None, ge=400, le=599)
    body: Any = None
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("endpoint")
    @classmethod
    def _known_endpoint(cls, value: str | None) -> str | None:
        if value is not None and value != "chat" and value not in EMULATOR_PATHS:
            raise ValueError(f"endpoint must be 'chat' or one of {sorted(EMULATOR_PATHS)}")
        return value

    def matches_endpoint(self, endpoint: str) -> bool:
        if self.endpoint is None or self.endpoint == endpoint:
            return True
        return self.endpoint == "chat" and endpoint.startswith("chat_")

    def error_answer(self) -> ErrorAnswer | None:
        return ErrorSpec(kind=self.kind, status=self.status, body=self.body, headers=self.headers).answer()


def find_directive(content: str) -> tuple[Script | None, str]:
    """The first `[[emulator {...}]]` in `content` as a Script, and the content without it."""
    start = content.find(DIRECTIVE_OPEN)
    if start < 0:
        return None, content
    json_start = start + len(DIRECTIVE_OPEN)
    try:
        data, json_end = json.JSONDecoder().raw_decode(content, json_start)
    except json.JSONDecodeError as exc:
        raise bad_directive(f"not JSON ({exc.msg} at char {exc.pos - json_start})") from exc
    end = json_end
    while end < len(content) and content[end] in " \t":
        end += 1
    if not content.startswith(DIRECTIVE_CLOSE, end):
        raise bad_directive("the JSON object must be followed by ]]")
    if not isinstance(data, dict):
        raise bad_directive("expected a JSON object")
    try:
        script = Script.model_validate(data)
    except ValidationError as exc:
        raise bad_directive(describe_errors(exc)) from exc
    return script, content[:start] + content[end + len(DIRECTIVE_CLOSE) :]


def describe_errors(exc: ValidationError) -> str:
    """A one-line summary of what is wrong in a script, fault rule or control call body."""
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
