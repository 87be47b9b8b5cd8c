"""The Kiro API endpoints: generateAssistantResponse (every host), ListAvailableModels, getUsageLimits."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from services.kiro_emulator import replies
from services.kiro_emulator.accounts import Account
from services.kiro_emulator.catalog import models_body, usage_body
from services.kiro_emulator.context import NOT_JSON, SETTINGS, STATE, Exchange, bearer, parse_json
from services.kiro_emulator.mcp_routes import search_call
from services.kiro_emulator.plan import (
    StreamPlan,
    apply_behaviour,
    build_plan,
    content_pieces,
    context_percentage,
)
from services.kiro_emulator.replies import ErrorAnswer, json_response
from services.kiro_emulator.scripts import FaultRule, Script, find_directive
from services.kiro_emulator.state import EmulatorState
from services.kiro_emulator.stream import send_plan
from services.kiro_emulator.validate import ChatRequest, Malformed, validate_chat
from shared.kiro.endpoints import EMULATOR_PATHS
from shared.logging import log_fields

logger = logging.getLogger(__name__)

ORIGINS = {
    "chat_codewhisperer": frozenset({"AI_EDITOR"}),
    "chat_amazonq": frozenset({"AI_EDITOR", "CLI"}),
    # the runtime.{region}.kiro.dev host: which origins it takes is not known, so neither is refused
    "chat_kiro": frozenset({"AI_EDITOR", "CLI"}),
}


def _authorized(state: EmulatorState, request: web.Request) -> tuple[Account | None, bool]:
    token = bearer(request)
    account, valid = state.account_by_access(token) if token else (None, False)
    if account is not None and account.auth_kind == "external_idp":
        valid = valid and request.headers.get("TokenType") == "EXTERNAL_IDP"  # §10.2
    return account, valid


def _check_account(account: Account | None, valid: bool) -> Account:
    if account is None or not valid:
        raise replies.invalid_token()
    if account.suspended:
        raise replies.suspended()
    return account


def chat_handler(endpoint: str) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        state = request.app[STATE]
        raw = await request.read()
        account, valid = _authorized(state, request)
        body = parse_json(raw)
        exchange = Exchange(request, endpoint, account, body, raw)
        try:
            fault = await exchange.apply_fault()
            plan = _answer(request, exchange, _check_account(account, valid), raw=raw, body=body, fault=fault)
        except ErrorAnswer as answer:
            return exchange.error(answer)
        except Malformed as exc:
            logger.info(
                "rejected malformed chat request", extra=log_fields(endpoint=endpoint, reason=str(exc))
            )
            return exchange.error(replies.improperly_formed(), str(exc))
        exchange.finish(200)
        return await send_plan(request, plan)

    return handle


def _answer(
    request: web.Request,
    exchange: Exchange,
    account: Account,
    *,
    raw: bytes,
    body: object,
    fault: FaultRule | None,
) -> StreamPlan:
    """Validate like Kiro, then plan the answer: continuation, directive, queued script or echo."""
    state = request.app[STATE]
    if len(raw) > request.app[SETTINGS].emulator_max_payload_bytes:
        raise replies.too_long()
    if "json" not in request.content_type:
        raise Malformed(f"Content-Type {request.content_type!r} is not application/json")
    if body is NOT_JSON:
        raise Malformed("body is not JSON")
    chat = validate_chat(body, ORIGINS[exchange.endpoint])
    directive, echo = find_directive(chat.content)
    model = account.models.get(chat.model_id)
    if model is None:
        raise replies.invalid_model()
    if account.usage.exhausted():
        raise replies.quota_exhausted()
    default_context = context_percentage(len(raw), model.max_input_tokens)

    pending = state.take_continuation(account, chat.conversation_id, raw)
    if pending is not None:
        plan = build_plan(
            pending.answer_pieces(),
            conversation_id=pending.conversation_id,
            output_cap=pending.output_cap,
            continue_as=pending.continue_as,
            metering=pending.metering,
            context_usage=pending.context_usage,
            default_context=default_context,
            behaviour=Script(),
        )
    else:
        script = directive or state.take_script(account, chat) or search_call(chat) or Script()
        plan = _scripted(script, chat, echo, default_context)
    if fault is not None:
        apply_behaviour(plan, fault)
    if plan.continuation is not None:
        account.continuations.append(plan.continuation)
    account.usage.current += plan.credits
    return plan


def _scripted(script: Script, chat: ChatRequest, echo: str, default_context: float) -> StreamPlan:
    if script.error is not None:
        answer = script.error.answer()
        if answer is not None:
            raise answer
    return build_plan(
        content_pieces(script, echo),
        conversation_id=chat.conversation_id,
        output_cap=script.output_cap,
        continue_as=script.continue_as,
        metering=script.metering,
        context_usage=script.context_usage,
        default_context=default_context,
        behaviour=script,
    )


def models_handler(endpoint: str) -> Handler:
    async def models(request: web.Request) -> web.StreamResponse:
        state = request.app[STATE]
        account, valid = _authorized(state, request)
        exchange = Exchange(request, endpoint, account, None, b"")
        try:
            await exchange.apply_fault()
            account = _check_account(account, valid)
        except ErrorAnswer as answer:
            return exchange.error(answer)
        exchange.finish(200)
        return json_response(models_body(list(account.models.values())))

    return models


async def usage_limits(request: web.Request) -> web.Response:
    state = request.app[STATE]
    account, valid = _authorized(state, request)
    exchange = Exchange(request, "usage", account, None, b"")
    try:
        await exchange.apply_fault()
        account = _check_account(account, valid)
    except ErrorAnswer as answer:
        return exchange.error(answer)
    exchange.finish(200)
    return json_response(usage_body(account.usage, account.name))


#: the Amazon Q host of one region, for `KIRO_Q_HOST=http://<emulator>/regions/{region}`: the region a
#: caller chose shows in the recorded path (with KIRO_EMULATOR_URL every host is the same one)
REGIONAL = "/regions/{region}"


def add_routes(app: web.Application) -> None:
    for chat in ORIGINS:
        app.router.add_post(EMULATOR_PATHS[chat], chat_handler(chat))
    app.router.add_get(EMULATOR_PATHS["models"], models_handler("models"))
    app.router.add_get(EMULATOR_PATHS["models_kiro"], models_handler("models_kiro"))
    app.router.add_get(EMULATOR_PATHS["usage"], usage_limits)
    app.router.add_post(REGIONAL + "/generateAssistantResponse", chat_handler("chat_amazonq"))
    app.router.add_get(REGIONAL + EMULATOR_PATHS["models"], models_handler("models"))
    app.router.add_get(REGIONAL + EMULATOR_PATHS["usage"], usage_limits)
