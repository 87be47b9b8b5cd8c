"""`/openapi.json`: the whole API for the admin, the client API only for everyone else.

The admin API's paths and request models tell an attacker what to try; the client API is what SDKs and
tools may discover. The admin is recognised as on every admin route (bearer key or panel session).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse

from services.router.context import app_context
from services.router.routes.admin_auth import require_admin

router = APIRouter()

ADMIN_PREFIX = "/admin"
_REF_PREFIX = "#/components/schemas/"


@router.get("/openapi.json", include_in_schema=False)
async def openapi(request: Request) -> JSONResponse:
    schema: dict[str, Any] = request.app.openapi()
    if not await _is_admin(request):
        schema = without_admin(schema)
    return JSONResponse(schema)


async def _is_admin(request: Request) -> bool:
    try:
        await require_admin(request, app_context(request))
    except HTTPException:
        return False
    return True


def without_admin(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of `schema` without the admin paths, the models only they use, and the admin tag."""
    public = copy.deepcopy(schema)
    public["paths"] = {p: ops for p, ops in schema["paths"].items() if not p.startswith(ADMIN_PREFIX)}
    public["tags"] = [t for t in schema.get("tags", []) if t.get("name") != "admin"]
    if not public["tags"]:
        public.pop("tags")
    models = schema.get("components", {}).get("schemas", {})
    if models:
        used = _reachable(public["paths"], models)
        public["components"]["schemas"] = {name: m for name, m in models.items() if name in used}
    return public


def _reachable(root: Any, models: dict[str, Any]) -> set[str]:
    """Names of the component schemas `root` refers to, directly or through other schemas."""
    seen: set[str] = set()
    pending = list(_refs(root))
    while pending:
        name = pending.pop()
        if name not in seen and name in models:
            seen.add(name)
            pending.extend(_refs(models[name]))
    return seen


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(_REF_PREFIX):
                yield value[len(_REF_PREFIX) :]
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)
