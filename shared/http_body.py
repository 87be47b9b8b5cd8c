"""Reading a request body with a size limit, for every service's routes: refused as soon as it is too big.

Each service maps the two errors to its own answer shape (the client API's error shapes, the admin API's
`{"detail"}`); the reading itself is one piece of code.
"""

from __future__ import annotations

from starlette.requests import ClientDisconnect, Request

from shared.errors import InvalidRequestError


class BodyTooLarge(InvalidRequestError):
    """The request body is over the byte limit (HTTP 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body is larger than {limit} bytes", status=413)
        self.limit = limit


class BodyIncomplete(InvalidRequestError):
    """The client went away (or was closed for stalling) before sending the whole body."""

    def __init__(self) -> None:
        super().__init__("the client disconnected before sending the whole body")


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body; refused by its Content-Length before a byte is read, or once the bytes pass `limit`."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge(limit)
            chunks.append(chunk)
    except ClientDisconnect as exc:  # a 400 nobody reads, instead of an unhandled error and its traceback
        raise BodyIncomplete from exc
    return b"".join(chunks)
