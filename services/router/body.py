"""Read a client's request body with a size limit: 413 in the client's shape as soon as it is exceeded."""

from __future__ import annotations

from starlette.requests import Request

from services.router.errors import ClientError
from shared.http_body import BodyIncomplete, BodyTooLarge
from shared.http_body import read_body as shared_read_body


def too_large(limit: int) -> ClientError:
    """413 `request_too_large` (Anthropic) / `invalid_request_error` (OpenAI); SDKs do not retry it."""
    return ClientError(
        413, f"request body is larger than {limit} bytes", code="request_too_large", should_retry=False
    )


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body (shared/http_body.py) or the refusal in the client's shape: 413, or a 400 nobody reads
    when the client hung up mid-body."""
    try:
        return await shared_read_body(request, limit)
    except BodyTooLarge as exc:
        raise too_large(limit) from exc
    except BodyIncomplete as exc:
        raise ClientError(400, exc.message) from exc
