"""Secrets never reach a log line, whatever shape they arrive in."""

from __future__ import annotations

import ast
import io
import logging

import pytest

from shared.logging import (
    REDACTED,
    JsonFormatter,
    KeyValueFormatter,
    RedactingFilter,
    RequestIdFilter,
    log_fields,
    redact,
    request_id_var,
)
from tests.support.procs import ROOT

CANARY = "aorAAAAAGcanaryRefreshTokenValue0123456789abcdef"


@pytest.mark.parametrize(
    "line",
    [
        f"Authorization: Bearer {CANARY}",
        f"authorization=bearer {CANARY}",
        f'{{"refreshToken": "{CANARY}"}}',
        f"refresh_token={CANARY}&client_id=abc",
        f"X-Kiro-Access-Token: {CANARY}",
        f"'x-kiro-refresh-token': '{CANARY}'",
        f"x-api-key: {CANARY}",
        f"X-Internal-Key={CANARY}",
        f"client_secret: {CANARY}",
        f"got token {CANARY} from upstream",
        "key sk-kiro-" + CANARY,
    ],
)
def test_redact_removes_secret_in_every_shape(line: str) -> None:
    assert CANARY not in redact(line)


def test_redact_keeps_ordinary_text() -> None:
    text = "account=acct-1 status=429 model=claude-sonnet-4.5 attempts=2"
    assert redact(text) == text


def _logger(stream: io.StringIO, formatter: logging.Formatter) -> logging.Logger:
    logger = logging.getLogger(f"test-redaction-{id(stream)}")
    logger.handlers[:] = []
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.addFilter(RedactingFilter())
    handler.setFormatter(formatter)
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger


@pytest.mark.parametrize("formatter", [KeyValueFormatter("test"), JsonFormatter("test")])
def test_log_lines_are_redacted_with_args_fields_and_exceptions(formatter: logging.Formatter) -> None:
    stream = io.StringIO()
    logger = _logger(stream, formatter)
    token = request_id_var.set("req-42")
    try:
        logger.info("headers %s", {"X-Kiro-Access-Token": CANARY})
        logger.warning("refresh failed", extra=log_fields(body=f'{{"refreshToken":"{CANARY}"}}'))
        try:
            raise RuntimeError(f"upstream said Bearer {CANARY}")
        except RuntimeError:
            logger.exception("boom")
    finally:
        request_id_var.reset(token)
    output = stream.getvalue()
    assert CANARY not in output
    assert output.count("req-42") == 3
    assert len(output.strip().splitlines()) == 3  # one event per line, tracebacks folded


def test_key_value_lines_quote_values_with_spaces() -> None:
    stream = io.StringIO()
    logger = _logger(stream, KeyValueFormatter("router"))
    logger.info("picked", extra=log_fields(account="a 1", attempt=2))
    line = stream.getvalue().strip()
    assert 'account="a 1"' in line
    assert "attempt=2" in line
    assert "service=router" in line


@pytest.mark.parametrize("text", ["cookie:x", "secret=x", "apikey=x", "Cookie: abc"])
def test_the_shortest_secrets_still_pass_the_quick_check(text: str) -> None:
    assert redact(text).endswith(REDACTED)


def test_strings_without_any_trigger_come_back_unchanged() -> None:
    plain = "route=messages model=claude-sonnet-4.5 account=acct-12345 " * 20
    assert redact(plain) is plain


LOG_METHODS = frozenset({"debug", "info", "warning", "error", "exception", "critical"})


def _log_messages() -> list[tuple[str, str]]:
    """(where, text) of every log call of the code whose message is a literal."""
    found = []
    for path in sorted([*ROOT.glob("services/**/*.py"), *ROOT.glob("shared/**/*.py")]):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args):
                continue
            message = node.args[0]
            if node.func.attr in LOG_METHODS and isinstance(message, ast.Constant):
                found.append((f"{path.relative_to(ROOT)}:{node.lineno}", str(message.value)))
    return found


def test_no_log_message_of_ours_is_mangled_by_the_redactor() -> None:
    """A message reading like `password: value` loses a word to the redactor ("ADMIN_PASSWORD: [REDACTED]
    hash replaced"): say it another way."""
    messages = _log_messages()
    assert len(messages) > 50  # the scan finds the code's log calls
    assert [(where, text) for where, text in messages if redact(text) != text] == []
