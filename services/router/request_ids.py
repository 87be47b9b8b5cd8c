"""The id of a client request: the client's X-Request-Id when sane, else a new one."""

from __future__ import annotations

import re
import secrets

from fastapi import Request

from shared.logging import request_id_var

_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def request_id(request: Request) -> str:
    """The request's id (made once per request and kept in its scope); set for logging."""
    existing = request.scope.get("kiro.request_id")
    if existing:
        return str(existing)
    supplied = request.headers.get("x-request-id", "")
    rid = supplied if _SAFE_ID.match(supplied) else "req_" + secrets.token_hex(12)
    request.scope["kiro.request_id"] = rid
    request_id_var.set(rid)
    return rid
