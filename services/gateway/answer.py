"""The answer to one chat request, whole or streamed.

Streaming answers commit (status 200, headers, Anthropic's `message_start`) as soon as Kiro's first
bytes arrive — or, when Kiro is slow, after one ping interval, then keep-alive pings follow. Until then
every failure is still an HTTP error with `X-Kiro-Failure` the router can fail over on; afterwards
failures go in-band (Anthropic `event: error`, OpenAI error chunk). Never retried after the first byte.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator

import orjson
from starlette.responses import Response

from services.gateway.accounting import count_request, count_verdict, debugged, failed
from services.gateway.chat_call import ChatCall
from services.gateway.debug_bodies import debug_log
from services.gateway.errors import (
    JSONBytesResponse,
    Protocol,
    error_response,
)
from services.gateway.kiro.client import UpstreamResponse
from services.gateway.kiro_call import new_translator, open_upstream, relay_for
from services.gateway.relay import Translator
from services.gateway.responses import remember
from services.gateway.sse import LastChunk, SSEResponse
from services.gateway.state import GatewayState
from services.gateway.translate import structured
from services.gateway.translate.kiro_request import KiroRequest
from services.gateway.translate.responses_out import ResponsesStream
from services.gateway.translate.stream_core import Usage
from services.gateway.translate.structured import Verdict
from shared import contract
from shared.errors import UpstreamError
from shared.logging import log_fields

logger = logging.getLogger(__name__)


#: checking an answer against a JSON Schema costs ~0.55 ms per KB (jsonschema, measured): a longer answer
#: is finished (and checked) in a worker so the loop keeps serving other streams
CHECK_ON_LOOP_CHARS = 16 * 1024


async def _finish(state: GatewayState, translator: Translator) -> bytes:
    """`translator.finish()`; in a worker when it has a long answer to check against an output format."""
    if translator.output_format is None or len(translator.answer_text) <= CHECK_ON_LOOP_CHARS:
        return translator.finish()
    return await state.offload.in_worker(translator.finish)


async def respond(state: GatewayState, call: ChatCall) -> Response:
    """Answer a prepared call: streamed (SSE) or one JSON object."""
    if call.req.stream:
        return await _respond_stream(state, call)
    return await _respond_json(state, call)


async def _respond_json(state: GatewayState, call: ChatCall) -> Response:
    fmt = call.req.output_format
    sent = call.kiro.body if fmt is not None else b""  # what a structured-output retry starts from
    spent = Usage(0, 0, 0.0)  # by the attempts before the last
    for attempt in range(1, (structured.MAX_ATTEMPTS if fmt is not None else 1) + 1):
        translator = new_translator(call)
        relay = relay_for(state, call, translator)
        try:
            upstream = await open_upstream(state, call)
            relay.retarget(call.creds, call.routes, call.kiro.body)
            call.release_request()
            async for _ in relay.run(upstream):
                pass
            await _finish(state, translator)
            if translator.failure is not None:
                raise UpstreamError(translator.failure, translator.failure_reason or "Kiro stream failed")
        except UpstreamError as exc:
            return failed(state, call, exc)
        finally:
            if relay.upstream is not None:
                relay.upstream.close()
        state.metrics.credits.inc(relay.credits)
        verdict = translator.verdict
        if fmt is None or verdict is None or verdict.ok:
            break
        count_verdict(state, verdict)
        retry = _retry_request(state, call, sent, verdict) if verdict.retryable else None
        if retry is None or attempt == structured.MAX_ATTEMPTS:
            break
        usage = translator.usage
        spent = Usage(
            spent.input_tokens + usage.input_tokens,
            spent.output_tokens + usage.output_tokens,
            spent.credits + relay.credits,
        )
        call.kiro, sent = retry, retry.body
        logger.info(
            "answer does not satisfy the output format; asking once more",
            extra=log_fields(errors="; ".join(verdict.errors)),
        )
    if verdict is not None and verdict.ok:
        count_verdict(state, verdict)
    usage = translator.usage
    headers = {
        contract.SERVED_MODEL: call.served_model,
        **contract.Usage(
            spent.input_tokens + usage.input_tokens,
            spent.output_tokens + usage.output_tokens,
            spent.credits + relay.credits,
        ).headers(),
    }
    if fmt is not None and verdict is not None and verdict.fatal:
        return _invalid_output(state, call, translator, verdict, attempts=attempt, headers=headers)
    if call.responses is not None:
        await _remember(state, call, translator)
    count_request(state, call, 200, translator)
    result = translator.result()
    if call.debug is not None:
        debug_log(state, call.route, 200, call.debug, response=orjson.dumps(result))
    return JSONBytesResponse(result, headers=headers)


def _retry_request(state: GatewayState, call: ChatCall, sent: bytes, verdict: Verdict) -> KiroRequest | None:
    """The Kiro request asking once more with the problem fed back; None when it would be too large."""
    fmt = call.req.output_format
    assert fmt is not None
    payload = structured.retry_payload(orjson.loads(sent), verdict.text, fmt, verdict)
    body = orjson.dumps(payload)
    if len(body) > state.settings.kiro_payload_limit:
        return None
    return KiroRequest(payload=payload, tool_names=call.kiro.tool_names, payload_bytes=len(body), body=body)


def _invalid_output(
    state: GatewayState,
    call: ChatCall,
    translator: Translator,
    verdict: Verdict,
    *,
    attempts: int,
    headers: dict[str, str],
) -> Response:
    """The answer still does not satisfy the format: 422 in the client's shape (see structured.py)."""
    fmt = call.req.output_format
    assert fmt is not None
    message = structured.failure_message(fmt, verdict, attempts=attempts, streamed=False)
    logger.warning(
        "answer does not satisfy the output format", extra=log_fields(errors="; ".join(verdict.errors))
    )
    response = error_response(
        call.protocol,
        structured.ERROR_STATUS,
        message,
        param="response_format" if call.protocol is Protocol.OPENAI else None,
        openai_code=structured.ERROR_CODE,
        headers={**headers, "x-should-retry": "false"},
    )
    count_request(state, call, response.status_code, translator)
    return debugged(state, call.route, call.debug, response)


async def _respond_stream(state: GatewayState, call: ChatCall) -> Response:
    opening: asyncio.Task[UpstreamResponse] = asyncio.ensure_future(open_upstream(state, call))
    try:
        done, _ = await asyncio.wait({opening}, timeout=state.settings.ping_interval)
    except asyncio.CancelledError:
        opening.cancel()
        raise
    if done:
        try:
            opening.result()
        except UpstreamError as exc:
            return failed(state, call, exc)
    response = SSEResponse(_sse(state, call, opening), on_close=lambda: _settle(opening))
    response.raw_headers.append((contract.SERVED_MODEL.lower().encode(), call.served_model.encode()))
    return response


async def _remember(state: GatewayState, call: ChatCall, translator: Translator) -> None:
    assert call.responses is not None and isinstance(translator, ResponsesStream)
    await remember(state.responses, call.responses, translator)


def _settle(opening: asyncio.Task[UpstreamResponse]) -> None:
    """Release Kiro's connection even if the client left before the stream's generator started."""
    if not opening.done():
        opening.cancel()
    elif not opening.cancelled() and opening.exception() is None:
        opening.result().close()


async def _sse(
    state: GatewayState, call: ChatCall, opening: asyncio.Task[UpstreamResponse]
) -> AsyncGenerator[bytes, None]:
    metrics = state.metrics
    translator = new_translator(call)
    relay = relay_for(state, call, translator)
    metrics.inflight_streams.inc()
    began = time.perf_counter()
    try:
        head = translator.start()
        while not opening.done():  # Kiro is slow to answer: the client already has headers; ping
            yield head + translator.ping()
            relay.sent()
            head = b""
            await asyncio.wait({opening}, timeout=state.settings.ping_interval)
        try:
            upstream = opening.result()
            relay.retarget(call.creds, call.routes, call.kiro.body)
            call.release_request()
            async for out in relay.run(upstream):
                yield head + out if head else out
                head = b""
            tail = await _finish(state, translator)
            verdict = translator.verdict
            if verdict is not None:  # checked against the output format; a stream cannot retry
                count_verdict(state, verdict)
                if not verdict.ok:
                    logger.warning(
                        "streamed answer does not satisfy the output format",
                        extra=log_fields(errors="; ".join(verdict.errors)),
                    )
            failure = translator.failure
            if call.responses is not None:  # stored before `response.completed`: a follow-up finds it
                await _remember(state, call, translator)
            if failure is not None:
                metrics.child(metrics.stream_errors, failure.value).inc()
        except UpstreamError as exc:
            failure = exc.kind
            metrics.child(metrics.stream_errors, exc.kind.value).inc()
            tail = translator.error(exc.kind, exc.message)
        if failure is not None:
            logger.warning(
                "stream failed after the first byte",
                extra=log_fields(kind=failure.value, error=translator.failure_reason),
            )
        metrics.credits.inc(relay.credits)
        count_request(state, call, 200, translator, failure)
        if call.debug is not None:
            debug_log(state, call.route, 200, call.debug, failure=failure.value if failure else "")
        usage = translator.usage
        trailer = contract.Usage(
            usage.input_tokens,
            usage.output_tokens,
            relay.credits,
            failure.value if failure else None,
            translator.failure_reason if failure else None,
        ).trailer()
        yield LastChunk(head + tail + trailer)
    finally:
        if not opening.done():
            opening.cancel()
        if relay.upstream is not None:
            relay.upstream.close()
        metrics.inflight_streams.dec()
        metrics.child(metrics.stream_duration, call.route).observe(time.perf_counter() - began)
