"""Writes a StreamPlan to the client: each frame sent as produced, with the planned delays and breakage."""

from __future__ import annotations

import asyncio
import logging
import uuid

from aiohttp import web

from services.kiro_emulator.plan import StreamPlan
from shared.kiro.eventstream import encode_exception

logger = logging.getLogger(__name__)

CONTENT_TYPE = "application/vnd.amazon.eventstream"
_FLUSH_POLLS = 400  # x 5 ms


async def send_plan(request: web.Request, plan: StreamPlan) -> web.StreamResponse:
    if plan.first_byte_delay:
        await asyncio.sleep(plan.first_byte_delay)
    response = web.StreamResponse(
        status=200, headers={"Content-Type": CONTENT_TYPE, "x-amzn-RequestId": str(uuid.uuid4())}
    )
    try:
        await response.prepare(request)
        if await _write_frames(request, response, plan):
            await response.write_eof()
    except ConnectionResetError:
        # The client hung up mid-answer (a gateway's timeout, a cancelled test): nothing left to do.
        logger.debug("client went away mid-stream")
    return response


async def _write_frames(request: web.Request, response: web.StreamResponse, plan: StreamPlan) -> bool:
    """Send the planned frames; False when the connection was deliberately reset instead of ended."""
    if plan.first_frame_delay:
        await asyncio.sleep(plan.first_frame_delay)
    frames = plan.frames
    cut = len(frames)
    if plan.reset_after is not None:
        cut = min(cut, plan.reset_after)
    exception_at = min(plan.exception.after_frames, len(frames)) if plan.exception else None
    if exception_at is not None:
        cut = min(cut, exception_at)

    if plan.delay:
        for i in range(cut):
            if i:
                await asyncio.sleep(plan.delay)
            await response.write(frames[i])
    elif cut:
        # Nothing to wait for between frames: one write is what a fast upstream looks like anyway.
        await response.write(b"".join(frames[:cut]))

    if plan.exception is not None and exception_at == cut:
        if plan.delay and cut:
            await asyncio.sleep(plan.delay)
        await response.write(encode_exception(plan.exception.type, plan.exception.message))
        return True
    if plan.reset_after is not None:
        if plan.delay and cut:
            await asyncio.sleep(plan.delay)
        await _abort(request)
        return False
    return True


async def _abort(request: web.Request) -> None:
    """Close the TCP connection without the chunked terminator, after what was written has left."""
    transport = request.transport
    if transport is None:
        return
    for _ in range(_FLUSH_POLLS):
        if not transport.get_write_buffer_size():
            break
        await asyncio.sleep(0.005)
    transport.abort()
