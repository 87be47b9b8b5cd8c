"""The id of a client request (`shared.request_ids`), set for logging."""

from __future__ import annotations

from fastapi import Request

from shared.logging import request_id_var
from shared.request_ids import request_id as scope_request_id


def request_id(request: Request) -> str:
    """The request's id (made once per request and kept in its scope); set for logging."""
    rid = scope_request_id(request.scope)
    request_id_var.set(rid)
    return rid
