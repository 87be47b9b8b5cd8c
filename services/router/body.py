"""Read a client's request body with a size limit: 413 in the client's shape as soon as it is exceeded."""

from __future__ import annotations

from starlette.requests import ClientDisconnect, Request

from services.router.errors import ClientError


def too_large(limit: int) -> ClientError:
    """413 `request_too_large` (Anthropic) / `invalid_request_error` (OpenAI); SDKs do not retry it."""
    return ClientError(
        413, f"request body is larger than {limit} bytes", code="request_too_large", should_retry=False
    )


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body; refused by its Content-Length before reading, or once the bytes read pass `limit`.

    A client that hangs up mid-body gets a 400 nobody reads, instead of an unhandled error.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_large(limit)
            chunks.append(chunk)
    except ClientDisconnect as exc:
        raise ClientError(400, "the client disconnected before sending the whole body") from exc
    return b"".join(chunks)
