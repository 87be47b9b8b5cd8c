"""The control API under /_emulator/ (README: Control API): accounts, scripts, faults, counters, device."""

from __future__ import annotations

import html
import itertools
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import BaseModel, ValidationError

from services.kiro_emulator.accounts import Account, AccountPatch, AccountSpec, QueuedScript
from services.kiro_emulator.context import NOT_JSON, STATE, parse_json
from services.kiro_emulator.replies import ErrorAnswer, json_response
from services.kiro_emulator.scripts import FaultRule, Script, describe_errors
from services.kiro_emulator.state import UNATTRIBUTED

ModelT = TypeVar("ModelT", bound=BaseModel)
_rule_ids = itertools.count(1)


def _bad(message: str, status: int = 400) -> ErrorAnswer:
    return ErrorAnswer(status, {"error": message})


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw:
        return {}
    body = parse_json(raw)
    if body is NOT_JSON or not isinstance(body, dict):
        raise _bad("body must be a JSON object")
    return body


def _model(cls: type[ModelT], data: dict[str, Any]) -> ModelT:
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise _bad(describe_errors(exc)) from exc


def _account(request: web.Request, ref: str | None = None) -> Account:
    ref = ref or request.match_info.get("name") or ""
    account = request.app[STATE].resolve(ref)
    if account is None:
        raise _bad(f"unknown account {ref!r}", 404)
    return account


@web.middleware
async def control_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ErrorAnswer as answer:
        return answer.response()


async def health(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def register_account(request: web.Request) -> web.Response:
    spec = _model(AccountSpec, await _body(request))
    try:
        account = request.app[STATE].register(spec)
    except ValueError as exc:
        raise _bad(str(exc), 409) from exc
    return json_response(account.view(), status=201)


async def list_accounts(request: web.Request) -> web.Response:
    return json_response([a.view() for a in request.app[STATE].accounts.values()])


async def get_account(request: web.Request) -> web.Response:
    return json_response(_account(request).view())


async def patch_account(request: web.Request) -> web.Response:
    account = _account(request)
    patch = _model(AccountPatch, await _body(request))
    try:
        request.app[STATE].patch(account, patch)
    except ValueError as exc:
        raise _bad(str(exc)) from exc
    return json_response(account.view())


async def delete_account(request: web.Request) -> web.Response:
    request.app[STATE].delete(_account(request).name)
    return json_response({"deleted": request.match_info["name"]})


async def expire_tokens(request: web.Request) -> web.Response:
    account = _account(request)
    token = (await _body(request)).get("access_token")
    expired = request.app[STATE].expire_access_tokens(account, token if isinstance(token, str) else None)
    return json_response({"expired": expired})


async def reset_account(request: web.Request) -> web.Response:
    _account(request).clear_activity()
    return json_response({"reset": request.match_info["name"]})


async def reset_all(request: web.Request) -> web.Response:
    request.app[STATE].reset()
    return json_response({"reset": "all"})


async def queue_scripts(request: web.Request) -> web.Response:
    body = await _body(request)
    ref = body.pop("account", None)
    raw_scripts = body.pop("scripts", None)
    items = raw_scripts if isinstance(raw_scripts, list) else [body]
    if raw_scripts is not None and (body or not isinstance(raw_scripts, list)):
        raise _bad("with 'scripts' give only 'account' and a list of scripts")
    if not all(isinstance(item, dict) for item in items):
        raise _bad("each script must be a JSON object")
    scripts = [_model(Script, item) for item in items]
    state = request.app[STATE]
    queue = _account(request, ref).scripts if ref else state.global_scripts
    queue.extend(QueuedScript(s, s.repeat) for s in scripts)
    return json_response({"queued": len(scripts), "pending": len(queue)}, status=201)


async def clear_scripts(request: web.Request) -> web.Response:
    ref = request.query.get("account")
    queue = _account(request, ref).scripts if ref else request.app[STATE].global_scripts
    queue.clear()
    return json_response({"cleared": True})


async def add_fault(request: web.Request) -> web.Response:
    rule = _model(FaultRule, await _body(request))
    state = request.app[STATE]
    rule.id = rule.id or str(next(_rule_ids))
    if rule.account:
        _account(request, rule.account).faults.append(rule)
    else:
        state.global_faults.append(rule)
    return json_response({"id": rule.id}, status=201)


async def clear_faults(request: web.Request) -> web.Response:
    ref = request.query.get("account")
    rules = _account(request, ref).faults if ref else request.app[STATE].global_faults
    rules.clear()
    return json_response({"cleared": True})


async def delete_fault(request: web.Request) -> web.Response:
    state = request.app[STATE]
    rule_id = request.match_info["rule_id"]
    for rules in [state.global_faults, *(a.faults for a in state.accounts.values())]:
        for rule in rules:
            if rule.id == rule_id:
                rules.remove(rule)
                return json_response({"deleted": rule_id})
    raise _bad(f"unknown fault rule {rule_id}", 404)


async def release_fault(request: web.Request) -> web.Response:
    rule_id = request.match_info["rule_id"]
    request.app[STATE].release(rule_id)
    return json_response({"released": rule_id})


async def counters(request: web.Request) -> web.Response:
    ref = request.query.get("account")
    if not ref:
        return json_response(request.app[STATE].counters_view())
    account = _account(request, ref)
    statuses = {ep: {str(s): n for s, n in c.items()} for ep, c in account.statuses.items()}
    return json_response({"account": account.name, "counts": dict(account.counts), "statuses": statuses})


async def recorded_requests(request: web.Request) -> web.Response:
    ref = request.query.get("account")
    records = list(
        _account(request, ref).requests if ref and ref != UNATTRIBUTED else request.app[STATE].unattributed
    )
    endpoint = request.query.get("endpoint")
    if endpoint:
        records = [r for r in records if r["endpoint"] == endpoint]
    try:
        limit = int(request.query.get("limit", "0"))
    except ValueError as exc:
        raise _bad("limit must be an integer") from exc
    if limit > 0:
        records = records[-limit:]
    return json_response(records)


async def device_flows(request: web.Request) -> web.Response:
    state = request.app[STATE]
    user_code = request.query.get("user_code")
    if user_code:
        return _device_page(user_code)
    return json_response([f.view() for f in state.device_flows.values() if f.status != "used"])


def _device_page(user_code: str) -> web.Response:
    code = html.escape(user_code)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>Kiro emulator sign-in</title></head>
<body style="font-family:sans-serif;max-width:32em;margin:4em auto">
<h1>Kiro emulator</h1><p>Authorize device <b>{code}</b>?</p>
<form method="post" action="/_emulator/device/approve?user_code={code}"><button>Approve</button></form>
<form method="post" action="/_emulator/device/deny?user_code={code}"><button>Deny</button></form>
</body></html>"""
    return web.Response(text=page, content_type="text/html")


async def _flow_from(request: web.Request) -> tuple[Any, dict[str, Any]]:
    body = await _body(request) if request.content_type == "application/json" else {}
    user_code = body.get("user_code") or request.query.get("user_code")
    device_code = body.get("device_code") or request.query.get("device_code")
    flow = request.app[STATE].find_flow(user_code, device_code)
    if flow is None:
        raise _bad("unknown device flow (give user_code or device_code)", 404)
    return flow, body


async def approve_device(request: web.Request) -> web.Response:
    flow, body = await _flow_from(request)
    if flow.status != "pending":
        raise _bad(f"device flow is {flow.status}", 409)
    extra = body.get("account") or {}
    if not isinstance(extra, dict):
        raise _bad("account must be an object")
    data = {"name": f"device-{flow.user_code}", **extra}
    data.update(auth_kind="idc", client_id=flow.client_id, client_secret=flow.client_secret)
    spec = _model(AccountSpec, data)
    try:
        account = request.app[STATE].register(spec)
    except ValueError as exc:
        raise _bad(str(exc), 409) from exc
    flow.status, flow.account = "approved", account.name
    return json_response(account.view())


async def deny_device(request: web.Request) -> web.Response:
    flow, _ = await _flow_from(request)
    flow.status = "denied"
    return json_response(flow.view())


async def expire_device(request: web.Request) -> web.Response:
    flow, _ = await _flow_from(request)
    flow.expires_at = 0.0
    return json_response(flow.view())


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/_emulator/health", health)
    r.add_post("/_emulator/accounts", register_account)
    r.add_get("/_emulator/accounts", list_accounts)
    r.add_get("/_emulator/accounts/{name}", get_account)
    r.add_patch("/_emulator/accounts/{name}", patch_account)
    r.add_delete("/_emulator/accounts/{name}", delete_account)
    r.add_post("/_emulator/accounts/{name}/expire", expire_tokens)
    r.add_post("/_emulator/accounts/{name}/reset", reset_account)
    r.add_post("/_emulator/reset", reset_all)
    r.add_post("/_emulator/scripts", queue_scripts)
    r.add_delete("/_emulator/scripts", clear_scripts)
    r.add_post("/_emulator/faults", add_fault)
    r.add_delete("/_emulator/faults", clear_faults)
    r.add_delete("/_emulator/faults/{rule_id}", delete_fault)
    r.add_post("/_emulator/faults/{rule_id}/release", release_fault)
    r.add_get("/_emulator/counters", counters)
    r.add_get("/_emulator/requests", recorded_requests)
    r.add_get("/_emulator/device", device_flows)
    r.add_post("/_emulator/device/approve", approve_device)
    r.add_post("/_emulator/device/deny", deny_device)
    r.add_post("/_emulator/device/expire", expire_device)
