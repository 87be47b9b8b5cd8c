"""The router ↔ gateway contract in one place: header names, the usage trailer and usage headers.

The router sends one account's credentials and the runtime options (`shared/runtime_options.py` holds
their one set of defaults); the gateway answers with the failure family (`FailureKind` values, in
`shared/errors.py`) on an error, and with what a request used: as response headers on a whole answer,
as the last SSE comment line of a stream (the router takes every `: x-kiro-` line out before the
client sees it). docs/architecture.md describes the exchange.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import orjson

from shared.parsing import float_or_zero

# --- router -> gateway -----------------------------------------------------------------------------
ACCESS_TOKEN: Final = "X-Kiro-Access-Token"
ACCOUNT_ID: Final = "X-Kiro-Account-Id"
AUTH_KIND: Final = "X-Kiro-Auth-Kind"
REGION: Final = "X-Kiro-Region"
PROFILE_ARN: Final = "X-Kiro-Profile-Arn"
MACHINE_ID: Final = "X-Kiro-Machine-Id"
PROXY_URL: Final = "X-Kiro-Proxy-Url"
#: the runtime options as JSON (`shared/runtime_options.py`)
OPTIONS: Final = "X-Kiro-Options"
#: the protocol the client speaks (`Protocol` value), where the path does not say (`/v1/models`)
CLIENT_PROTOCOL: Final = "X-Kiro-Client-Protocol"
# a standalone gateway's caller may send a refresh token instead (never the router)
REFRESH_TOKEN: Final = "X-Kiro-Refresh-Token"
CLIENT_ID: Final = "X-Kiro-Client-Id"
CLIENT_SECRET: Final = "X-Kiro-Client-Secret"

# --- gateway -> router -----------------------------------------------------------------------------
#: on an error answer: a `FailureKind` value, Kiro's words, and when a retry can work
FAILURE: Final = "X-Kiro-Failure"
FAILURE_REASON: Final = "X-Kiro-Failure-Reason"
RETRY_AFTER: Final = "X-Kiro-Retry-After"
RESET_AT: Final = "X-Kiro-Reset-At"
#: the Kiro model that served the request (the client may have asked by another name)
SERVED_MODEL: Final = "X-Kiro-Served-Model"
USAGE_INPUT_TOKENS: Final = "X-Kiro-Usage-Input-Tokens"
USAGE_OUTPUT_TOKENS: Final = "X-Kiro-Usage-Output-Tokens"
USAGE_CREDITS: Final = "X-Kiro-Usage-Credits"

#: every internal header starts so: the router never passes one on to a client, nor takes one from it
PREFIX: Final = "x-kiro-"
#: internal SSE comment lines start so (the router drops them from what the client sees)
INTERNAL_LINE: Final = b": x-kiro-"
USAGE_LINE: Final = b": x-kiro-usage "
#: longest failure reason carried in the trailer
REASON_LIMIT: Final = 300


@dataclass(frozen=True, slots=True)
class Usage:
    """What one request used, and the failure that ended its stream (if any)."""

    input_tokens: int = 0
    output_tokens: int = 0
    credits: float = 0.0
    failure: str | None = None  # a FailureKind value
    reason: str | None = None  # Kiro's words with an in-band failure (a suspension's reason)

    def trailer(self) -> bytes:
        """The stream's last line (an SSE comment)."""
        data = {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "credits": round(self.credits, 6),
            "failure": self.failure,
            "reason": self.reason[:REASON_LIMIT] if self.failure and self.reason else None,
        }
        return USAGE_LINE + orjson.dumps(data) + b"\n\n"

    def headers(self) -> dict[str, str]:
        """The usage of a whole (non-streamed) answer."""
        return {
            USAGE_INPUT_TOKENS: str(self.input_tokens),
            USAGE_OUTPUT_TOKENS: str(self.output_tokens),
            USAGE_CREDITS: f"{self.credits:.6f}",
        }

    @classmethod
    def from_trailer(cls, line: bytes) -> Usage:
        """The usage of a `trailer()` line; zero for a line that is not one (never raises)."""
        if not line.startswith(USAGE_LINE):
            return cls()
        try:
            data = orjson.loads(line[len(USAGE_LINE) :])
            return cls(
                int(data.get("input_tokens") or 0),
                int(data.get("output_tokens") or 0),
                float(data.get("credits") or 0),
                str(data["failure"]) if data.get("failure") else None,
                str(data["reason"])[:REASON_LIMIT] if data.get("reason") else None,
            )
        except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
            return cls()

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> Usage:
        """The usage of `headers()`; missing or malformed values count as 0."""
        return cls(
            int(float_or_zero(headers.get(USAGE_INPUT_TOKENS))),
            int(float_or_zero(headers.get(USAGE_OUTPUT_TOKENS))),
            float_or_zero(headers.get(USAGE_CREDITS)),
        )
