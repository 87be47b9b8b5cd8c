"""Structured one-line logs with a request id, and a filter that redacts secrets from every line."""

from __future__ import annotations

import contextvars
import logging
import re
import sys
import time
from typing import Any

import orjson

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

REDACTED = "[REDACTED]"

# Order matters: the header/field forms first, the bare token shapes last.
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # Authorization: Bearer xxx / bearer xxx anywhere
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=:-]{6,}"), r"\1 " + REDACTED),
    # X-Kiro-* / X-Internal-Key / x-api-key header values, in "Name: value" or "'name': 'value'" form
    (
        re.compile(
            r"(?i)(['\"]?(?:x-kiro-[a-z0-9-]+|x-internal-key|x-api-key|authorization|cookie|set-cookie)"
            r"['\"]?\s*[:=]\s*['\"]?)((?:(?i:bearer|basic|token)\s+)?[^'\",\s}]+)"
        ),
        r"\1" + REDACTED,
    ),
    # JSON / kv fields that hold secrets
    (
        re.compile(
            r"(?i)(['\"]?(?:refresh_?token|access_?token|client_?secret|api_?key|password|secret|"
            r"id_?token|device_?code|session)['\"]?\s*[:=]\s*['\"]?)([^'\",\s}&]+)"
        ),
        r"\1" + REDACTED,
    ),
    # bare token shapes: our client keys, AWS refresh/access token shapes, JWTs
    (re.compile(r"\bsk-[A-Za-z0-9_-]{8,}"), REDACTED),
    (re.compile(r"\b(?:aor|aoa|atk|arn-tok)[A-Za-z0-9_-]{16,}[A-Za-z0-9:_=+/-]*"), REDACTED),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+"), REDACTED),
]


# Every pattern above needs one of these words or prefixes, and at least this many characters: most log
# strings (routes, ids, model names) are let through by one search instead of six substitutions.
_TRIGGER = re.compile(
    r"(?i)bearer|x-kiro-|x-internal-key|x-api-key|authorization|cookie|token|secret|api_?key|password|"
    r"device_?code|session|sk-|aor|aoa|atk|arn-tok|eyj"
)
_SHORTEST_SECRET = 8


def redact(text: str) -> str:
    """Remove bearer tokens, refresh/access tokens, API keys and X-Kiro-* values from `text`."""
    if len(text) < _SHORTEST_SECRET or _TRIGGER.search(text) is None:
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Renders each record's message once and redacts it (args included), so no handler sees secrets."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = redact(message)
        record.args = None
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            record.fields = {k: redact(str(v)) if isinstance(v, str) else v for k, v in fields.items()}
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        record.exc_info = None
        return True


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


def _kv(value: Any) -> str:
    text = str(value)
    if not text or any(c in text for c in ' "='):
        return orjson.dumps(text).decode()
    return text


class KeyValueFormatter(logging.Formatter):
    """`ts=... level=... service=... rid=... logger=... msg="..." k=v` on one line."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"
        parts = [
            f"ts={ts}",
            f"level={record.levelname.lower()}",
            f"service={self.service}",
            f"rid={getattr(record, 'request_id', '-')}",
            f"logger={record.name}",
            f"msg={_kv(record.getMessage())}",
        ]
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            parts.extend(f"{k}={_kv(v)}" for k, v in fields.items())
        if record.exc_text:
            parts.append(f"exc={_kv(record.exc_text)}")
        return " ".join(parts).replace("\n", "\\n")


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": record.created,
            "level": record.levelname.lower(),
            "service": self.service,
            "rid": getattr(record, "request_id", "-"),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            data.update(fields)
        if record.exc_text:
            data["exc"] = record.exc_text
        return orjson.dumps(data, default=str).decode()


def configure_logging(service: str, level: str = "INFO", fmt: str = "text") -> None:
    """Install one stderr handler with request-id and redaction filters on the root logger."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter(service) if fmt == "json" else KeyValueFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # uvicorn installs its own handlers; route them through ours so they are redacted too
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "arq"):
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True


def log_fields(**fields: Any) -> dict[str, Any]:
    """`logger.info("msg", extra=log_fields(account=..., status=...))`."""
    return {"fields": fields}
