"""What every handler shares: the app keys for state and settings, request recording, small parsers."""

from __future__ import annotations

import time
from typing import Any

import orjson
from aiohttp import web

from services.kiro_emulator.accounts import Account
from services.kiro_emulator.replies import ErrorAnswer
from services.kiro_emulator.scripts import FaultRule
from services.kiro_emulator.settings import EmulatorSettings
from services.kiro_emulator.state import EmulatorState

STATE = web.AppKey("state", EmulatorState)
SETTINGS = web.AppKey("settings", EmulatorSettings)

#: stand-in for a body that is not JSON
NOT_JSON = object()
_RECORDED_TEXT = 4096


def parse_json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw) if raw else NOT_JSON
    except orjson.JSONDecodeError:
        return NOT_JSON


def bearer(request: web.Request) -> str | None:
    value = request.headers.get("Authorization", "")
    scheme, _, token = value.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def new_record(request: web.Request, endpoint: str, body: Any, raw: bytes) -> dict[str, Any]:
    """What `GET /_emulator/requests` shows for one request (status filled in when answered)."""
    return {
        "endpoint": endpoint,
        "method": request.method,
        "path": request.path,
        "query": {str(k): v for k, v in request.query.items()},
        "headers": {str(k): v for k, v in request.headers.items()},
        "body": body if body is not NOT_JSON else raw[:_RECORDED_TEXT].decode(errors="replace"),
        "origin": _origin(request, body),
        "amz_target": request.headers.get("X-Amz-Target"),
        "status": None,
        "ts": time.time(),
    }


def _origin(request: web.Request, body: Any) -> str | None:
    """The `origin` a request names: the chat body's current message, else the `origin` query parameter."""
    try:
        origin = body["conversationState"]["currentMessage"]["userInputMessage"]["origin"]
    except (KeyError, TypeError):
        return request.query.get("origin")
    return origin if isinstance(origin, str) else None


class Exchange:
    """One Kiro-side request: counted and recorded on arrival, its status noted when answered."""

    def __init__(
        self, request: web.Request, endpoint: str, account: Account | None, body: Any, raw: bytes
    ) -> None:
        self.state = request.app[STATE]
        self.endpoint = endpoint
        self.account = account
        self.record = new_record(request, endpoint, body, raw)
        self.state.count(account, endpoint, self.record)

    def finish(self, status: int, reason: str | None = None) -> None:
        self.record["status"] = status
        if reason:
            self.record["reject_reason"] = reason
        self.state.count_status(self.account, self.endpoint, status)

    def error(self, answer: ErrorAnswer, reason: str | None = None) -> web.Response:
        self.finish(answer.status, reason)
        return answer.response()

    async def apply_fault(self) -> FaultRule | None:
        """Take the matching fault rule; raise its error answer (after its delay) if it has one."""
        rule = self.state.take_fault(self.account, self.endpoint)
        if rule is None:
            return None
        answer = rule.error_answer()
        if answer is not None or not self.endpoint.startswith("chat_"):
            if rule.first_byte_delay_ms:
                await self.state.hold(rule)
            if answer is not None:
                raise answer
        return rule
