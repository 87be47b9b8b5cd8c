"""The credential a caller presents in its headers, read the same way by router, admin API and gateway."""

from __future__ import annotations

from collections.abc import Mapping


def bearer_token(authorization: str) -> str:
    """The token of an `Authorization: Bearer <token>` value ('' for any other scheme or none)."""
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def presented_key(headers: Mapping[str, str]) -> str:
    """A client's API key: `x-api-key` (Anthropic SDKs), else the bearer token (OpenAI SDKs); '' when none."""
    return headers.get("x-api-key", "").strip() or bearer_token(headers.get("authorization", ""))
