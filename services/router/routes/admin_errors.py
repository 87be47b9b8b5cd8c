"""One place that turns the admin API's known failures into clear 4xx/502 answers instead of a 500."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.routing import APIRoute
from pydantic import ValidationError

from shared.accounts.importers import ImportFormatError
from shared.accounts.store import MalformedAccountError
from shared.crypto import SecretDecryptError
from shared.errors import UpstreamError
from shared.logging import log_fields

log = logging.getLogger(__name__)


KNOWN = (ImportFormatError, MalformedAccountError, SecretDecryptError, ValidationError, UpstreamError)


def as_http(exc: Exception) -> HTTPException:
    """The answer to one of the `KNOWN` failures."""
    if isinstance(exc, MalformedAccountError):
        return HTTPException(409, f"a stored account record is malformed: {exc}")
    if isinstance(exc, SecretDecryptError):
        return HTTPException(409, f"{exc}; was KIRO_SECRET_KEY changed?")
    if isinstance(exc, ValidationError):
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())
        return HTTPException(422, problems)
    if isinstance(exc, UpstreamError):
        return HTTPException(502, f"the Kiro / AWS sign-in service failed: {exc.message}")
    return HTTPException(400, str(exc))


class AdminRoute(APIRoute):
    """Route class of the admin routers: maps `KNOWN` failures to 400/409/422/502 with their message."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except KNOWN as exc:
                answer = as_http(exc)
                log.info(
                    "admin request refused",
                    extra=log_fields(
                        path=request.url.path, status=answer.status_code, error=type(exc).__name__
                    ),
                )
                raise answer from exc

        return guarded
