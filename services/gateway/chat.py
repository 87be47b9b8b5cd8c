"""One chat request end to end: parse, resolve, build the Kiro request, call Kiro, answer.

Streaming answers commit (status 200, headers, Anthropic's `message_start`) as soon as Kiro's first
bytes arrive — or, when Kiro is slow, after one ping interval, then keep-alive pings follow. Until then
every failure is still an HTTP error with `X-Kiro-Failure` the router can fail over on; afterwards
failures go in-band (Anthropic `event: error`, OpenAI error chunk). Never retried after the first byte.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from services.gateway.body import parse_json_object, read_body
from services.gateway.build import build, parse_any
from services.gateway.credentials import KiroCredentials, StandaloneAccount
from services.gateway.debug_bodies import DebugBodies, debug_log
from services.gateway.errors import (
    JSONBytesResponse,
    Protocol,
    error_response,
    failure_response,
    invalid_request_response,
    unauthorized_response,
)
from services.gateway.kiro.classify import CONTENT_TOO_LONG
from services.gateway.kiro.client import UpstreamResponse
from services.gateway.kiro.models import AccountModels
from services.gateway.options import Caller, MissingCredentials, RuntimeOptions, Unauthorized
from services.gateway.relay import Relay, Translator
from services.gateway.remote_images import fetch_remote_images
from services.gateway.responses import (
    RESPONSES_ROUTE,
    ResponsesRequest,
    StoreUnavailable,
    load_previous,
    remember,
    translator_for,
)
from services.gateway.sse import LastChunk, SSEResponse
from services.gateway.state import GatewayState
from services.gateway.token_pool import TokenPool
from services.gateway.translate import (
    AnthropicCollector,
    AnthropicStream,
    ChatRequest,
    OpenAICollector,
    OpenAIStream,
    build_kiro_request,
    structured,
    thinking_enabled,
)
from services.gateway.translate.kiro_request import KiroRequest
from services.gateway.translate.models import ResolvedModel
from services.gateway.translate.responses_out import ResponsesStream
from services.gateway.translate.stream_core import Usage
from services.gateway.translate.structured import Verdict
from services.gateway.web_search import SearchRounds
from shared import contract
from shared.disconnect import until_client_leaves
from shared.errors import FailureKind, InvalidRequestError, UpstreamError
from shared.kiro.endpoints import ChatRoute
from shared.logging import log_fields

logger = logging.getLogger(__name__)

#: a call answered within this long never needs a disconnect watch (most are): starting one costs a task
WATCH_AFTER_SECONDS = 0.2

#: the failure reason in the usage trailer is Kiro's message: enough to explain, never a whole body


@dataclass(slots=True)
class ChatCall:
    """A parsed, resolved request ready to be sent to Kiro."""

    protocol: Protocol
    route: str
    req: ChatRequest
    kiro: KiroRequest
    creds: KiroCredentials
    #: the chat endpoints to try, in order (docs/kiro-endpoints.md)
    routes: tuple[ChatRoute, ...]
    options: RuntimeOptions
    kiro_model: str
    #: the name answers carry as `model`: the Kiro id that serves (with the thinking suffix if asked so)
    served_model: str
    thinking: bool
    input_tokens: int
    context_window: int
    started: float
    #: auto-continuation can happen: it is on and the request offers tools Kiro could cut a call to
    continuable: bool
    #: DEBUG_MODE errors/all: the client's body and the Kiro payload, clipped, for the debug log line
    debug: DebugBodies | None = None
    #: a Responses API call: what its answer echoes and stores
    responses: ResponsesRequest | None = None

    def release_request(self) -> None:
        """Once Kiro has answered, keep only what the response still needs.

        The parsed request and its Kiro payload are ~8x the client's JSON (~580 KiB for Claude Code's
        76 KB first turn) and would otherwise live as long as the stream; a continuation rebuilds its
        payload from the Kiro body, which the relay keeps when one can happen.
        """
        req, kiro = self.req, self.kiro
        if req.web_search is not None:
            return  # the searches' follow-up requests are built from the request
        req.messages, req.system, req.tools = [], [], []  # (dataclasses.replace costs ~5 µs a call)
        if self.responses is not None and not self.responses.store:
            self.responses.items = []  # nothing will be stored: the conversation's items can go too
        self.kiro = KiroRequest(
            payload={}, tool_names=kiro.tool_names, payload_bytes=kiro.payload_bytes, body=b""
        )


async def resolve_credentials(request: Request, state: GatewayState, caller: Caller) -> KiroCredentials:
    """The request's Kiro credentials: the router's, a client's own refresh token, or the env accounts'."""
    found = state.contexts.credentials(request.headers, caller)
    if isinstance(found, TokenPool):
        return await found.credentials(state.tokens)
    if isinstance(found, StandaloneAccount):
        return await state.tokens.credentials(
            found, proxy_url=state.contexts.proxy_url(request.headers, caller is Caller.ROUTER)
        )
    return found


async def prepare(
    request: Request, state: GatewayState, protocol: Protocol, route: str
) -> ChatCall | Response:
    """Everything before the call to Kiro; a Response when the request ends here (bad input, no creds)."""
    started = time.perf_counter()
    contexts = state.contexts
    try:
        caller = contexts.authenticate(request.headers)  # before a byte of the body is read
    except Unauthorized as exc:
        return unauthorized_response(protocol, str(exc))
    try:
        raw = await read_body(request, state.settings.max_body_bytes)
    except InvalidRequestError as exc:
        return invalid_request_response(protocol, exc)
    debug = DebugBodies(raw) if state.settings.debug_mode != "off" else None
    options = contexts.options(request.headers, caller is Caller.ROUTER)
    try:
        creds = await resolve_credentials(request, state, caller)
    except MissingCredentials as exc:
        return error_response(protocol, 401, str(exc), openai_code="invalid_api_key")
    except UpstreamError as exc:  # standalone token refresh failed
        return _debugged(state, route, debug, failure_response(protocol, exc))
    settings = state.settings
    try:  # the region comes from the router's headers or a profile ARN: checked before it names a host
        routes = state.client.routes(creds, options.endpoint_order, options.endpoint_origins)
    except InvalidRequestError as exc:
        return _debugged(state, route, debug, invalid_request_response(protocol, exc))
    prior = None
    if route == RESPONSES_ROUTE:  # the stored conversation a follow-up continues, before the build
        try:
            prior = await _previous(state, raw)
        except InvalidRequestError as exc:
            return _debugged(state, route, debug, invalid_request_response(protocol, exc))
        except StoreUnavailable:
            return error_response(
                protocol,
                503,
                "the Responses store is not answering; try again",
                openai_code="store_unavailable",
                headers={"retry-after": "1", "x-should-retry": "true"},
            )
    session_id = request.headers.get("x-claude-code-session-id")
    size = len(raw)
    # a big request is built in a worker, and its objects are gone before the collector resumes
    with state.offload.collector_paused(size):
        try:
            req, responses = await state.offload.run(
                size, parse_any, raw, protocol, session_id, settings.max_json_depth, route=route, prior=prior
            )
            resolved, models = await _resolve(state, creds, options, protocol, req.model)
            await fetch_remote_images(req, state.images)  # Kiro takes inline bytes only
            built = await state.offload.run(
                size,
                build,
                req,
                responses,
                resolved=resolved,
                origin=routes[0].origin,
                profile_arn=creds.profile_arn,
                limit=settings.kiro_payload_limit,
            )
        except InvalidRequestError as exc:
            return _debugged(state, route, debug, invalid_request_response(protocol, exc))
    req, kiro = built.req, built.kiro
    if debug is not None:
        debug.kiro = kiro.body
    return ChatCall(
        protocol=protocol,
        route=route,
        req=req,
        kiro=kiro,
        creds=creds,
        routes=routes,
        options=options,
        kiro_model=built.resolved.kiro_id,
        served_model=built.resolved.served,
        thinking=thinking_enabled(req, built.resolved.thinking),
        input_tokens=built.input_tokens,
        context_window=state.catalog.context_window(models, built.resolved.kiro_id),
        started=started,
        continuable=options.auto_continue and bool(req.tools),
        debug=debug,
        responses=built.responses,
    )


async def _resolve(
    state: GatewayState, creds: KiroCredentials, options: RuntimeOptions, protocol: Protocol, name: str
) -> tuple[ResolvedModel, AccountModels]:
    """The model the request names, against its account's list (docs/models.md)."""
    try:
        return await state.catalog.resolve(
            creds, name, options.model_aliases, options.default_model, options.thinking_suffix
        )
    except InvalidRequestError as exc:
        if protocol is Protocol.OPENAI:
            exc.status = 404  # OpenAI SDKs expect model_not_found
        raise


async def _previous(state: GatewayState, raw: bytes) -> list[dict[str, Any]] | None:
    """The conversation `previous_response_id` names (only a body that mentions it is parsed for it)."""
    if b"previous_response_id" not in raw:
        return None
    return await load_previous(state.responses, parse_json_object(raw, state.settings.max_json_depth))


def _failed(state: GatewayState, call: ChatCall, exc: UpstreamError) -> Response:
    """Kiro's failure before the first byte, in the client's shape; counted and (DEBUG_MODE) logged."""
    response = failure_response(call.protocol, exc)
    _count(state, call, response.status_code, None, exc.kind)
    return _debugged(state, call.route, call.debug, response)


def _debugged(state: GatewayState, route: str, debug: DebugBodies | None, response: Response) -> Response:
    body = response.body if isinstance(response.body, bytes) else b""
    debug_log(state, route, response.status_code, debug, response=body)
    return response


def new_translator(call: ChatCall) -> Translator:
    """SSE for a stream; for a non-streaming reply one that renders nothing (its `result()` answers)."""
    if call.responses is not None:
        return translator_for(
            call.responses,
            call.req,
            model=call.served_model,
            input_tokens=call.input_tokens,
            tool_names=call.kiro.tool_names,
            thinking=call.thinking,
            context_window=call.context_window,
        )
    if call.protocol is Protocol.ANTHROPIC:
        anthropic = AnthropicStream if call.req.stream else AnthropicCollector
        translator = anthropic(
            model=call.served_model,
            input_tokens=call.input_tokens,
            tool_names=call.kiro.tool_names,
            thinking=call.thinking,
            context_window=call.context_window,
            stop_sequences=call.req.stop_sequences,
            output_format=call.req.output_format,
            thinking_format=call.options.claude_thinking_format,
        )
        if call.req.web_search is not None:
            translator.server_tools = frozenset({call.kiro.tool_names.to_kiro(call.req.web_search.name)})
        return translator
    openai = OpenAIStream if call.req.stream else OpenAICollector
    return openai(
        model=call.served_model,
        input_tokens=call.input_tokens,
        tool_names=call.kiro.tool_names,
        thinking=call.thinking,
        thinking_format=call.options.openai_thinking_format,
        include_usage=call.req.include_usage,
        context_window=call.context_window,
        stop_sequences=call.req.stop_sequences,
        output_format=call.req.output_format,
    )


async def open_upstream(state: GatewayState, call: ChatCall) -> UpstreamResponse:
    """Call Kiro; in standalone mode a rejected access token is refreshed once and the call repeated,
    and a failure that takes an env token out of rotation moves the call to the next usable token."""
    pool = state.contexts.pool
    while True:
        try:
            upstream = await _open_as(state, call)
            break
        except UpstreamError as exc:
            account = call.creds.refresh
            if pool is None or account is None or not pool.report(account, exc):
                raise _explain(exc, call) from None
            try:
                creds = await pool.credentials(state.tokens)
            except UpstreamError:
                raise _explain(exc, call) from None  # no token left: the client hears what Kiro said
            if not _retarget(state, call, creds):
                raise _explain(exc, call) from None
    state.metrics.child(state.metrics.ttfb, call.route).observe(time.perf_counter() - call.started)
    return upstream


async def _open_as(state: GatewayState, call: ChatCall) -> UpstreamResponse:
    try:
        return await state.client.open_chat(call.kiro.payload, call.creds, call.routes, body=call.kiro.body)
    except UpstreamError as exc:
        account = call.creds.refresh
        if exc.kind is not FailureKind.INVALID_TOKEN or account is None:
            raise
        call.creds = await state.tokens.credentials(account, proxy_url=call.creds.proxy_url, force=True)
        return await state.client.open_chat(call.kiro.payload, call.creds, call.routes)


def _retarget(state: GatewayState, call: ChatCall, creds: KiroCredentials) -> bool:
    """Send the call as another standalone account: its credentials, its profile in the payload and the
    endpoints of its region. False (nothing changed) when its profile names a region we cannot call."""
    try:
        routes = state.client.routes(creds, call.options.endpoint_order, call.options.endpoint_origins)
    except InvalidRequestError:
        return False
    payload = call.kiro.payload
    if creds.profile_arn:
        payload["profileArn"] = creds.profile_arn
    else:
        payload.pop("profileArn", None)
    call.creds, call.routes = creds, routes
    call.kiro = dataclasses.replace(call.kiro, body=orjson.dumps(payload))
    return True


def _explain(exc: UpstreamError, call: ChatCall) -> UpstreamError:
    """Kiro's "input too long" in the wording Claude Code parses to trigger compaction."""
    if exc.reason == CONTENT_TOO_LONG:
        window = call.context_window
        exc.message = f"prompt is too long: {max(call.input_tokens, window + 1)} tokens > {window} maximum"
    return exc


def _relay(state: GatewayState, call: ChatCall, translator: Translator) -> Relay:
    settings = state.settings
    return Relay(
        state.client,
        state.metrics,
        translator,
        body=call.kiro.body if call.continuable else b"",
        creds=call.creds,
        routes=call.routes,
        ping_interval=settings.ping_interval,
        idle_timeout=settings.idle_read_timeout,
        max_continuations=settings.max_continuations if call.continuable else 0,
        searches=_searches(state, call),
    )


def _searches(state: GatewayState, call: ChatCall) -> SearchRounds | None:
    """The web searches of a request that offered Anthropic's web search tool (else None)."""
    spec = call.req.web_search
    if spec is None:
        return None
    conversation_id = call.kiro.payload["conversationState"]["conversationId"]
    origin = call.kiro.payload["conversationState"]["currentMessage"]["userInputMessage"]["origin"]
    settings = state.settings

    async def rebuild(req: ChatRequest) -> KiroRequest:
        try:
            return await state.offload.run(
                call.kiro.payload_bytes,
                build_kiro_request,
                req,
                model_id=call.kiro_model,
                origin=origin,
                profile_arn=call.creds.profile_arn,
                conversation_id=conversation_id,
                thinking=call.thinking,
                max_payload_bytes=settings.kiro_payload_limit,
            )
        except InvalidRequestError as exc:  # the results made the conversation too long for Kiro
            raise UpstreamError(FailureKind.INVALID_REQUEST, exc.message) from None

    return SearchRounds(state.client, call.creds, spec, call.req, rebuild, state.metrics)


def _count(
    state: GatewayState,
    call: ChatCall,
    status: int,
    translator: Translator | None,
    failure: FailureKind | None = None,
) -> None:
    """Metrics and one log line for a finished chat request."""
    metrics = state.metrics
    metrics.child(metrics.requests, call.route, str(status), call.kiro_model).inc()
    usage = translator.usage if translator is not None else None
    if usage is not None:
        metrics.child(metrics.tokens, "in").inc(usage.input_tokens)
        metrics.child(metrics.tokens, "out").inc(usage.output_tokens)
    if not logger.isEnabledFor(logging.INFO):
        return
    fields: dict[str, object] = {
        "route": call.route,
        "asked": call.req.model[:128],
        "model": call.kiro_model,
        "status": status,
        "account": call.creds.account_id or "-",
        "stream": call.req.stream,
        "ms": round((time.perf_counter() - call.started) * 1000, 1),
    }
    if failure is not None:
        fields["failure"] = failure.value
    if usage is not None:
        fields.update(input_tokens=usage.input_tokens, output_tokens=usage.output_tokens)
    logger.info("chat request done", extra=log_fields(**fields))


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
        relay = _relay(state, call, translator)
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
            return _failed(state, call, exc)
        finally:
            if relay.upstream is not None:
                relay.upstream.close()
        state.metrics.credits.inc(relay.credits)
        verdict = translator.verdict
        if fmt is None or verdict is None or verdict.ok:
            break
        _count_verdict(state, verdict)
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
        _count_verdict(state, verdict)
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
    _count(state, call, 200, translator)
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
    _count(state, call, response.status_code, translator)
    return _debugged(state, call.route, call.debug, response)


def _count_verdict(state: GatewayState, verdict: Verdict) -> None:
    outcome = "valid" if verdict.ok else "invalid" if verdict.fatal else "off_schema"
    state.metrics.child(state.metrics.structured_outputs, outcome).inc()


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
            return _failed(state, call, exc)
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
    relay = _relay(state, call, translator)
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
                _count_verdict(state, verdict)
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
        _count(state, call, 200, translator, failure)
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


#: nginx's "client closed request": counted and logged for a call the client abandoned, never sent
CLIENT_LEFT = 499


async def handle_chat(request: Request, state: GatewayState, protocol: Protocol, route: str) -> Response:
    prepared = await prepare(request, state, protocol, route)
    if isinstance(prepared, Response):
        state.metrics.child(state.metrics.requests, route, str(prepared.status_code), "-").inc()
        return prepared
    # until the response is committed, a client (or router) that leaves stops the Kiro call: no retry,
    # endpoint fallback or backoff sleep runs for nobody (a committed stream has its own watcher)
    answered = await until_client_leaves(request.receive, respond(state, prepared), after=WATCH_AFTER_SECONDS)
    if answered is None:
        logger.info(
            "client left before the answer began; Kiro call abandoned",
            extra=log_fields(route=route, ms=round((time.perf_counter() - prepared.started) * 1000, 1)),
        )
        _count(state, prepared, CLIENT_LEFT, None)
        return Response(status_code=CLIENT_LEFT)
    return answered
