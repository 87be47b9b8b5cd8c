"""Request ids, one rule for router and gateway: the caller's `X-Request-Id` when sane, else a new one.

The router takes a client's id (so a client can follow its request through our logs) and hands its own
id to the gateway, which takes it the same way. An id is kept in the request's scope: asked twice, it
is the same.
"""

from __future__ import annotations

import random
import re

from starlette.types import Scope

_SAFE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_SCOPE_KEY = "kiro.request_id"


def request_id(scope: Scope) -> str:
    """The request's id (made once per request and kept in its scope)."""
    existing: str | None = scope.get(_SCOPE_KEY)
    if existing:
        return existing
    rid = ""
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            supplied = value.decode("latin-1")
            if _SAFE_ID.fullmatch(supplied):
                rid = supplied
            break
    # an id only correlates log lines: no need for the OS entropy (a syscall) that uuid4 or secrets draw on
    rid = rid or f"req_{random.getrandbits(96):024x}"
    scope[_SCOPE_KEY] = rid
    return rid
