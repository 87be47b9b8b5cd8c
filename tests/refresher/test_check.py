"""The account check against the emulator, in process: every step's verdict, Kiro's own errors, storage."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
from typing import Any

from cryptography.fernet import Fernet

from services.kiro_emulator.control import EmulatorControl
from services.refresher.check import check_account
from services.refresher.context import Refresher
from services.refresher.refresh import Outcome, refresh_account
from shared.accounts.checks import load_check
from shared.accounts.ops import AccountOps
from shared.crypto import SecretBox
from tests.refresher.conftest import emulator_account
from tests.support.procs import ROOT

PROFILE = "arn:aws:codewhisperer:us-east-1:111122223333:profile/CHECKTEST"


async def _add_social(r: Refresher, refresh_token: str, label: str = "") -> str:
    (account_id,) = (await r.ops.add_refresh_token("social", refresh_token, label=label)).added
    return account_id


def _steps(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {step["name"]: step for step in result["steps"]}


async def test_a_healthy_account_passes_every_step_on_the_first_chat_route(
    refresher: Refresher, ctl: EmulatorControl
) -> None:
    emu = emulator_account(
        ctl, "chk", profile_arn=PROFILE, usage={"current": 3, "limit": 50, "subscription_title": "KIRO FREE"}
    )
    account_id = await _add_social(refresher, emu["refresh_token"])

    result = await check_account(refresher, account_id, source="test")

    assert result is not None and result["ok"] is True
    steps = _steps(result)
    assert [s["status"] for s in result["steps"]] == ["ok", "ok", "ok", "ok"]
    assert steps["token"]["refreshed"] is True  # a new account has no access token yet
    assert "claude-haiku-4.5" in steps["models"]["models"]
    assert steps["usage"]["usage"]["limit"] == 50 and "KIRO FREE" in steps["usage"]["detail"]
    chat = steps["chat"]
    assert (chat["endpoint"], chat["origin"], chat["model"]) == (
        "codewhisperer",
        "AI_EDITOR",
        "claude-haiku-4.5",
    )
    assert [a["status"] for a in chat["attempts"]] == ["ok"]
    assert all(s["latency_ms"] >= 0 and s["error"] is None for s in result["steps"])
    (sent,) = ctl.requests(emu["name"], endpoint="chat_codewhisperer")
    message = sent["body"]["conversationState"]["currentMessage"]["userInputMessage"]
    assert message["content"] == "Hi" and sent["body"]["profileArn"] == PROFILE
    assert await load_check(refresher.redis, refresher.keys, account_id) == result
    stored_token = refresher.store.access_token(await refresher.store.get(account_id))  # type: ignore[arg-type]
    assert stored_token not in str(result)


async def test_a_suspended_account_reports_kiros_refusal_on_every_chat_route_and_is_stored(
    refresher: Refresher, ctl: EmulatorControl
) -> None:
    emu = emulator_account(ctl, "chk")
    account_id = await _add_social(refresher, emu["refresh_token"])
    ctl.add_fault(account=emu["name"], endpoint="chat", kind="suspended", times=0)

    result = await check_account(refresher, account_id)

    assert result is not None and result["ok"] is False
    steps = _steps(result)
    assert [steps[n]["status"] for n in ("token", "models", "usage")] == ["ok", "ok", "ok"]
    chat = steps["chat"]
    assert chat["status"] == "failed" and chat["endpoint"] is None
    assert [(a["endpoint"], a["origin"]) for a in chat["attempts"]] == [
        ("codewhisperer", "AI_EDITOR"),
        ("amazonq", "AI_EDITOR"),
    ]
    for attempt in chat["attempts"]:
        assert attempt["status"] == "failed"
        assert attempt["error"] == {
            "status": 403,
            "type": "AccessDeniedException",
            "reason": "",
            "message": "Your account has been temporarily suspended. Please contact support to appeal.",
        }
    assert chat["error"]["status"] == 403
    stored = await load_check(refresher.redis, refresher.keys, account_id)
    assert stored is not None and stored["ok"] is False and _steps(stored)["chat"]["status"] == "failed"


async def test_a_throttled_first_route_falls_back_and_both_attempts_are_reported(
    refresher: Refresher, ctl: EmulatorControl
) -> None:
    emu = emulator_account(ctl, "chk")
    account_id = await _add_social(refresher, emu["refresh_token"])
    ctl.add_fault(account=emu["name"], endpoint="chat_codewhisperer", kind="throttled", times=0)

    result = await check_account(refresher, account_id)

    assert result is not None and result["ok"] is True
    chat = _steps(result)["chat"]
    assert (chat["endpoint"], chat["origin"]) == ("amazonq", "AI_EDITOR")
    first, second = chat["attempts"]
    assert first["status"] == "failed" and first["error"]["status"] == 429
    assert first["error"]["type"] == "ThrottlingException"
    assert second["status"] == "ok" and second["answer"]
    (sent,) = ctl.requests(emu["name"], endpoint="chat_amazonq")
    assert sent["body"]["conversationState"]["currentMessage"]["userInputMessage"]["origin"] == "AI_EDITOR"
    assert sent["amz_target"] is None  # the Amazon Q route with AI_EDITOR sends none, as the gateway


async def test_an_expired_access_token_is_refreshed_before_kiro_is_asked(
    refresher: Refresher, ctl: EmulatorControl
) -> None:
    emu = emulator_account(ctl, "chk")
    account_id = await _add_social(refresher, emu["refresh_token"])
    assert await refresh_account(refresher, account_id) is Outcome.REFRESHED
    ctl.expire_tokens(emu["name"])  # Kiro no longer takes it, and it is past its expiry here too
    await refresher.redis.hset(refresher.keys.account(account_id), "access_expires_at", "1")

    result = await check_account(refresher, account_id)

    assert result is not None and result["ok"] is True
    token = _steps(result)["token"]
    assert token["status"] == "ok" and token["refreshed"] is True and "refreshed" in token["detail"]
    assert ctl.counts(emu["name"])["social_refresh"] == 2
    statuses = ctl.statuses(emu["name"])
    assert all(set(statuses[e]) == {"200"} for e in ("models", "usage", "chat_codewhisperer")), statuses


async def test_a_rejected_refresh_token_fails_the_token_step_with_the_answer_and_skips_the_rest(
    refresher: Refresher, ctl: EmulatorControl
) -> None:
    emu = emulator_account(ctl, "chk")
    account_id = await _add_social(refresher, emu["refresh_token"])
    ctl.add_fault(account=emu["name"], endpoint="social_refresh", kind="invalid_grant", times=0)

    result = await check_account(refresher, account_id)

    assert result is not None and result["ok"] is False
    token, *rest = result["steps"]
    assert token["status"] == "failed" and token["error"]["status"] in (400, 401)
    assert token["error"]["message"]
    assert [s["status"] for s in rest] == ["skipped", "skipped", "skipped"]
    assert ctl.counts(emu["name"]).get("models", 0) == 0
    refreshes = ctl.counts(emu["name"])["social_refresh"]

    again = await check_account(refresher, account_id)  # now parked: no refresh storm from checks either

    assert again is not None and again["steps"][0]["detail"].startswith("account is needs_relogin: ")
    assert ctl.counts(emu["name"])["social_refresh"] == refreshes


async def test_checking_an_unknown_account_stores_nothing(refresher: Refresher) -> None:
    assert await check_account(refresher, "no-such-account") is None
    assert await load_check(refresher.redis, refresher.keys, "no-such-account") is None


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.refresher", *args],
        cwd=ROOT,
        env={**env, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_the_cli_checks_an_account_by_label_and_exits_non_zero_when_a_step_fails(
    refresher: Refresher, ctl: EmulatorControl, refresher_env: dict[str, str]
) -> None:
    healthy = emulator_account(ctl, "chk")
    refused = emulator_account(ctl, "chk")
    healthy_id = await _add_social(refresher, healthy["refresh_token"], label="healthy-one")
    refused_id = await _add_social(refresher, refused["refresh_token"], label="refused-one")
    ctl.add_fault(account=refused["name"], endpoint="chat", kind="suspended", times=0)

    good = await asyncio.to_thread(_cli, refresher_env, "check", "healthy-one")
    bad = await asyncio.to_thread(_cli, refresher_env, "check", refused_id, "--json")
    unknown = await asyncio.to_thread(_cli, refresher_env, "check", "nobody")

    assert good.returncode == 0, good.stderr
    assert f"account {healthy_id} (healthy-one): OK" in good.stdout
    assert "codewhisperer (AI_EDITOR, " in good.stdout
    for name in ("token", "models", "usage", "chat"):
        assert re.search(rf"^  {name} +ok +\d+ ms", good.stdout, re.MULTILINE), good.stdout
    assert bad.returncode == 1
    result = json.loads(bad.stdout)
    assert result["ok"] is False and result["source"] == "cli"
    assert _steps(result)["chat"]["error"]["type"] == "AccessDeniedException"
    assert unknown.returncode == 1 and "no account with id, label or email 'nobody'" in unknown.stderr
    stored = await load_check(refresher.redis, refresher.keys, healthy_id)
    assert stored is not None and stored["source"] == "cli" and stored["ok"] is True
    for token in (healthy["refresh_token"], refused["refresh_token"]):
        assert token not in good.stdout + bad.stdout


async def test_the_chat_routes_follow_the_endpoint_order_and_origins_set_in_the_panel(
    refresher: Refresher, ctl: EmulatorControl
) -> None:
    emu = emulator_account(ctl, "chk")
    account_id = await _add_social(refresher, emu["refresh_token"])
    settings = {"endpoint_order": json.dumps("amazonq"), "endpoint_origins": json.dumps({"amazonq": "CLI"})}
    await refresher.redis.hset(refresher.keys.settings(), mapping=settings)

    result = await check_account(refresher, account_id)

    assert result is not None
    chat = _steps(result)["chat"]
    assert (chat["endpoint"], chat["origin"]) == ("amazonq", "CLI")
    assert ctl.counts(emu["name"]).get("chat_codewhisperer", 0) == 0
    (sent,) = ctl.requests(emu["name"], endpoint="chat_amazonq")
    assert sent["headers"]["X-Amz-Target"] == "AmazonQDeveloperStreamingService.SendMessage"


async def test_an_endpoint_order_the_panel_stored_broken_leaves_the_configured_one(
    refresher: Refresher, ctl: EmulatorControl
) -> None:
    emu = emulator_account(ctl, "chk")
    account_id = await _add_social(refresher, emu["refresh_token"])
    await refresher.redis.hset(refresher.keys.settings(), "endpoint_order", json.dumps("carrier-pigeon"))

    result = await check_account(refresher, account_id)

    assert result is not None and _steps(result)["chat"]["endpoint"] == "codewhisperer"


async def test_tokens_sealed_with_another_key_fail_the_token_step_instead_of_crashing_the_check(
    refresher: Refresher,
) -> None:
    other_box = SecretBox(Fernet.generate_key().decode())
    other = AccountOps(refresher.redis, refresher.keys, other_box)
    (account_id,) = (await other.add_refresh_token("social", "aorOtherStackKey0000002")).added
    sealed = {"access_token_enc": other_box.encrypt("not-ours"), "access_expires_at": str(time.time() + 3600)}
    await refresher.redis.hset(refresher.keys.account(account_id), mapping=sealed)

    result = await check_account(refresher, account_id)

    assert result is not None and result["ok"] is False
    assert "KIRO_SECRET_KEY" in result["steps"][0]["detail"]
    assert [s["status"] for s in result["steps"][1:]] == ["skipped", "skipped", "skipped"]
