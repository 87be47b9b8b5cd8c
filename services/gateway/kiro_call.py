"""Calling Kiro for one chat request: the translator, opening the upstream (moving to another standalone
token when one fails), the relay and web-search rounds."""

from __future__ import annotations

import dataclasses
import time

import orjson

from services.gateway.chat_call import ChatCall
from services.gateway.credentials import KiroCredentials
from services.gateway.errors import Protocol
from services.gateway.kiro.classify import CONTENT_TOO_LONG
from services.gateway.kiro.client import UpstreamResponse
from services.gateway.relay import Relay, Translator
from services.gateway.responses import translator_for
from services.gateway.state import GatewayState
from services.gateway.translate import (
    AnthropicCollector,
    AnthropicStream,
    ChatRequest,
    OpenAICollector,
    OpenAIStream,
    build_kiro_request,
)
from services.gateway.translate.kiro_request import KiroRequest
from services.gateway.web_search import SearchRounds
from shared.errors import FailureKind, InvalidRequestError, UpstreamError


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


def relay_for(state: GatewayState, call: ChatCall, translator: Translator) -> Relay:
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
        searches=search_rounds(state, call),
    )


def search_rounds(state: GatewayState, call: ChatCall) -> SearchRounds | None:
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
