"""The control API: accounts, counters, recorded requests, resets."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from services.kiro_emulator.control import EmulatorControl, unique_name
from tests.kiro_emulator.conftest import Kiro, kiro_body
from tests.support.procs import ServiceProcess


def test_health(kiro: Kiro) -> None:
    r = kiro.http.get("/_emulator/health")
    assert (r.status_code, r.json()) == (200, {"status": "ok"})


def test_registered_account_uses_the_given_tokens(kiro: Kiro, ctl: EmulatorControl) -> None:
    name = unique_name("given")
    view = ctl.register_account(name, access_token=f"{name}-access", refresh_token=f"{name}-refresh")
    assert (view["access_token"], view["refresh_token"]) == (f"{name}-access", f"{name}-refresh")
    assert kiro.chat(f"{name}-access", kiro_body()).status == 200
    assert name in [a["name"] for a in ctl.accounts()]
    ctl.delete_account(name)
    assert name not in [a["name"] for a in ctl.accounts()]
    assert kiro.chat(f"{name}-access", kiro_body()).status == 403


def test_idc_account_without_client_gets_generated_credentials(ctl: EmulatorControl) -> None:
    view = ctl.register_account(unique_name("idc"), auth_kind="idc")
    assert view["client_id"] and view["client_secret"]
    assert view["profile_arn"] == ""
    ctl.delete_account(view["name"])


def test_a_token_of_another_account_cannot_be_reused(ctl: EmulatorControl, account: dict[str, Any]) -> None:
    with pytest.raises(httpx.HTTPStatusError) as err:
        ctl.register_account(unique_name("dup"), access_token=account["access_token"])
    assert err.value.response.status_code == 409


@pytest.mark.parametrize(
    "fields", [{"auth_kind": "saml"}, {"expires_in": 0}, {"colour": "red"}], ids=["kind", "expiry", "unknown"]
)
def test_invalid_account_fields_are_refused(ctl: EmulatorControl, fields: dict[str, Any]) -> None:
    with pytest.raises(httpx.HTTPStatusError) as err:
        ctl.register_account(unique_name("bad"), **fields)
    assert err.value.response.status_code == 400


def test_unknown_account_is_404(ctl: EmulatorControl) -> None:
    with pytest.raises(httpx.HTTPStatusError) as err:
        ctl.account("no-such-account")
    assert err.value.response.status_code == 404


def test_counters_count_per_account_and_endpoint(
    kiro: Kiro, ctl: EmulatorControl, account: dict[str, Any]
) -> None:
    token = account["access_token"]
    kiro.chat(token, kiro_body())
    kiro.chat(token, kiro_body())
    kiro.chat(token, kiro_body(origin="CLI"), endpoint="chat_amazonq")
    kiro.get("models", token)
    kiro.get("usage", token)
    kiro.post("social_refresh", {"refreshToken": account["refresh_token"]})
    expected = {"chat_codewhisperer": 2, "chat_amazonq": 1, "models": 1, "usage": 1, "social_refresh": 1}
    assert ctl.counts(account["name"]) == expected
    everything = ctl.counters()
    assert everything["accounts"][account["name"]] == expected
    assert everything["total"]["chat_codewhisperer"] >= 2


def test_recorded_requests_keep_headers_and_parsed_bodies(
    kiro: Kiro, ctl: EmulatorControl, account: dict[str, Any]
) -> None:
    body = kiro_body("record me")
    kiro.http.post(
        "/codewhisperer/generateAssistantResponse",
        json=body,
        headers={"Authorization": f"Bearer {account['access_token']}", "x-amzn-kiro-agent-mode": "vibe"},
    )
    kiro.get("models", account["access_token"])
    (chat,) = ctl.requests(account["name"], endpoint="chat_codewhisperer")
    assert chat["body"] == body
    assert chat["headers"]["x-amzn-kiro-agent-mode"] == "vibe"
    assert (chat["status"], chat["method"], chat["path"]) == (
        200,
        "POST",
        "/codewhisperer/generateAssistantResponse",
    )
    assert [r["endpoint"] for r in ctl.requests(account["name"])] == ["chat_codewhisperer", "models"]
    assert len(ctl.requests(account["name"], limit=1)) == 1


def test_requests_with_unknown_tokens_are_recorded_unattributed(kiro: Kiro, ctl: EmulatorControl) -> None:
    marker = unique_name("stray")
    kiro.chat(marker, kiro_body())
    stray = ctl.requests(endpoint="chat_codewhisperer")
    assert any(r["headers"].get("Authorization") == f"Bearer {marker}" and r["status"] == 403 for r in stray)


def test_account_reset_clears_activity_but_keeps_tokens(
    kiro: Kiro, ctl: EmulatorControl, account: dict[str, Any]
) -> None:
    kiro.chat(account["access_token"], kiro_body())
    ctl.queue_script(account["name"], text="never used")
    ctl.add_fault(account=account["name"], kind="throttled", times=0)
    ctl.reset_account(account["name"])
    assert ctl.counts(account["name"]) == {}
    assert ctl.requests(account["name"]) == []
    answer = kiro.chat(account["access_token"], kiro_body("still works"))
    assert (answer.status, answer.text) == (200, "still works")


@pytest.fixture
def own_emulator() -> Iterator[ServiceProcess]:
    with ServiceProcess(
        "services.kiro_emulator", health_path="/_emulator/health", name="emulator-reset"
    ) as proc:
        yield proc


@pytest.mark.e2e
def test_full_reset_forgets_every_account_but_the_demo_one(own_emulator: ServiceProcess) -> None:
    kiro = Kiro(own_emulator.url)
    with EmulatorControl(own_emulator.url) as ctl:
        token = ctl.register_account("temp")["access_token"]
        assert kiro.chat("emu-demo-access-token", kiro_body()).status == 200
        ctl.reset_all()
        assert kiro.chat(token, kiro_body()).status == 403
        assert kiro.chat("emu-demo-access-token", kiro_body()).status == 200
        assert ctl.counters()["total"] == {"chat_codewhisperer": 2}  # since the reset
    kiro.http.close()
