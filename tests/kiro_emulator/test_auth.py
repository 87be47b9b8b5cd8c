"""Token endpoints: social refresh, OIDC refresh, rotation, device flow; models and usage behind a bearer."""

from __future__ import annotations

import time
from typing import Any

import pytest

from services.kiro_emulator.control import EmulatorControl, unique_name
from tests.kiro_emulator.conftest import Kiro, kiro_body
from tests.support.polling import wait_until

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def social_refresh(kiro: Kiro, refresh_token: str) -> tuple[int, dict[str, Any]]:
    r = kiro.post("social_refresh", {"refreshToken": refresh_token})
    return r.status_code, r.json()


def oidc_refresh(
    kiro: Kiro, acct: dict[str, Any], refresh_token: str | None = None
) -> tuple[int, dict[str, Any]]:
    body = {
        "clientId": acct["client_id"],
        "clientSecret": acct["client_secret"],
        "grantType": "refresh_token",
        "refreshToken": refresh_token or acct["refresh_token"],
    }
    r = kiro.post("oidc_token", body)
    return r.status_code, r.json()


def test_social_refresh_issues_a_working_access_token_and_keeps_the_old_one(
    kiro: Kiro, ctl: EmulatorControl, account: dict[str, Any]
) -> None:
    status, tokens = social_refresh(kiro, account["refresh_token"])
    assert status == 200
    assert set(tokens) == {"accessToken", "refreshToken", "expiresIn", "profileArn"}
    assert tokens["refreshToken"] == account["refresh_token"]
    assert tokens["expiresIn"] == 3600
    assert tokens["profileArn"].startswith("arn:aws:codewhisperer:us-east-1:")
    assert kiro.chat(tokens["accessToken"], kiro_body()).status == 200
    assert kiro.chat(account["access_token"], kiro_body()).status == 200
    assert ctl.counts(account["name"])["social_refresh"] == 1


def test_rotation_invalidates_the_used_refresh_token(
    kiro: Kiro, ctl: EmulatorControl, account: dict[str, Any]
) -> None:
    ctl.update_account(account["name"], rotate_refresh=True)
    status, first = social_refresh(kiro, account["refresh_token"])
    assert status == 200 and first["refreshToken"] != account["refresh_token"]
    status, body = social_refresh(kiro, account["refresh_token"])
    assert (status, body) == (401, {"message": "Invalid refresh token provided."})
    status, second = social_refresh(kiro, first["refreshToken"])
    assert status == 200 and second["refreshToken"] not in (first["refreshToken"], account["refresh_token"])
    assert ctl.account(account["name"])["refresh_token"] == second["refreshToken"]


def test_revoke_old_access_makes_the_previous_access_token_invalid(
    kiro: Kiro, ctl: EmulatorControl, account: dict[str, Any]
) -> None:
    ctl.update_account(account["name"], revoke_old_access=True)
    _, tokens = social_refresh(kiro, account["refresh_token"])
    assert kiro.chat(account["access_token"], kiro_body()).status == 403
    assert kiro.chat(tokens["accessToken"], kiro_body()).status == 200


def test_refreshed_token_expires_after_the_accounts_expires_in(kiro: Kiro, ctl: EmulatorControl) -> None:
    acct = ctl.register_account(unique_name("short"), expires_in=1)
    _, tokens = social_refresh(kiro, acct["refresh_token"])
    assert tokens["expiresIn"] == 1
    assert kiro.chat(tokens["accessToken"], kiro_body()).status == 200
    wait_until(
        lambda: kiro.chat(tokens["accessToken"], kiro_body()).status == 403, what="the token to expire"
    )
    ctl.delete_account(acct["name"])


@pytest.mark.parametrize(
    ("body", "status"), [({"refreshToken": "unknown"}, 401), ({}, 400), ({"refreshToken": 5}, 400)]
)
def test_social_refresh_rejects_unknown_or_missing_tokens(
    kiro: Kiro, body: dict[str, Any], status: int
) -> None:
    assert kiro.post("social_refresh", body).status_code == status


def test_oidc_refresh_for_an_idc_account(kiro: Kiro, ctl: EmulatorControl) -> None:
    acct = ctl.register_account(unique_name("idc"), auth_kind="idc", rotate_refresh=True)
    status, tokens = oidc_refresh(kiro, acct)
    assert status == 200
    assert set(tokens) == {"accessToken", "refreshToken", "expiresIn", "tokenType"}
    assert tokens["tokenType"] == "Bearer"
    assert kiro.chat(tokens["accessToken"], kiro_body()).status == 200
    status, body = oidc_refresh(kiro, acct)  # rotated away
    assert (status, body) == (
        400,
        {"error": "invalid_grant", "error_description": "Invalid refresh token provided"},
    )
    assert ctl.counts(acct["name"])["oidc_token"] == 2
    ctl.delete_account(acct["name"])


def test_oidc_refresh_checks_the_client_and_the_token_kind(
    kiro: Kiro, ctl: EmulatorControl, account: dict[str, Any]
) -> None:
    acct = ctl.register_account(unique_name("idc"), auth_kind="idc")
    status, body = oidc_refresh(kiro, {**acct, "client_secret": "wrong"})
    assert (status, body["error"]) == (401, "invalid_client")
    social = {**acct, "refresh_token": account["refresh_token"]}
    assert oidc_refresh(kiro, social)[1]["error"] == "invalid_grant"
    ctl.delete_account(acct["name"])


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"clientId": "a", "clientSecret": "b", "grantType": "password"}, "unsupported_grant_type"),
        ({"grantType": "refresh_token", "refreshToken": "x"}, "invalid_request"),
    ],
)
def test_oidc_token_rejects_bad_requests_with_oauth_errors(
    kiro: Kiro, body: dict[str, Any], error: str
) -> None:
    r = kiro.post("oidc_token", body)
    assert (r.status_code, r.json()["error"]) == (400, error)


def test_oidc_token_refuses_form_encoded_bodies(kiro: Kiro) -> None:
    r = kiro.http.post("/oidc/token", content=b"grant_type=refresh_token&refresh_token=x")
    assert (r.status_code, r.json()["error"]) == (400, "invalid_request")


def start_device_flow(kiro: Kiro) -> tuple[dict[str, Any], dict[str, Any]]:
    client = kiro.post(
        "oidc_register",
        {"clientName": "Kiro", "clientType": "public", "scopes": ["codewhisperer:completions"]},
    )
    assert client.status_code == 200
    creds = client.json()
    flow = kiro.post(
        "oidc_device",
        {
            "clientId": creds["clientId"],
            "clientSecret": creds["clientSecret"],
            "startUrl": "https://view.awsapps.com/start",
        },
    )
    assert flow.status_code == 200
    return creds, flow.json()


def poll(kiro: Kiro, creds: dict[str, Any], flow: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    r = kiro.post(
        "oidc_token",
        {
            "clientId": creds["clientId"],
            "clientSecret": creds["clientSecret"],
            "grantType": DEVICE_GRANT,
            "deviceCode": flow["deviceCode"],
        },
    )
    return r.status_code, r.json()


def test_device_flow_completes_after_the_user_approves(kiro: Kiro, ctl: EmulatorControl) -> None:
    creds, flow = start_device_flow(kiro)
    assert set(flow) == {
        "deviceCode",
        "userCode",
        "verificationUri",
        "verificationUriComplete",
        "expiresIn",
        "interval",
    }
    assert flow["verificationUriComplete"].endswith(f"?user_code={flow['userCode']}")
    assert creds["clientSecretExpiresAt"] > time.time() + 80 * 86400
    assert poll(kiro, creds, flow) == (
        400,
        {"error": "authorization_pending", "error_description": "Authorization is still pending"},
    )
    assert poll(kiro, creds, flow)[1]["error"] == "slow_down"
    name = unique_name("device")
    acct = ctl.approve_device(
        flow["userCode"], name=name, profile_arn="arn:aws:codewhisperer:us-east-1:1:profile/X"
    )
    assert (acct["auth_kind"], acct["client_id"]) == ("idc", creds["clientId"])
    status, tokens = poll(kiro, creds, flow)
    assert status == 200
    assert kiro.chat(tokens["accessToken"], kiro_body()).status == 200
    refreshed = oidc_refresh(kiro, {**acct, "refresh_token": tokens["refreshToken"]})
    assert refreshed[0] == 200
    assert poll(kiro, creds, flow)[1]["error"] == "invalid_grant"  # a device code logs in once
    ctl.delete_account(name)


def test_device_flow_denied_or_expired(kiro: Kiro, ctl: EmulatorControl) -> None:
    creds, denied = start_device_flow(kiro)
    ctl.deny_device(denied["userCode"])
    assert poll(kiro, creds, denied)[1]["error"] == "access_denied"
    creds, expired = start_device_flow(kiro)
    ctl.expire_device(expired["userCode"])
    assert poll(kiro, creds, expired)[1]["error"] == "expired_token"


def test_pending_device_flows_are_listed_for_tests_that_only_see_the_admin_api(
    kiro: Kiro, ctl: EmulatorControl
) -> None:
    _, flow = start_device_flow(kiro)
    listed = {f["user_code"]: f for f in ctl.device_flows()}
    assert listed[flow["userCode"]]["status"] == "pending"


def test_device_authorization_needs_a_registered_client(kiro: Kiro) -> None:
    r = kiro.post("oidc_device", {"clientId": "nope", "clientSecret": "nope", "startUrl": "https://x"})
    assert (r.status_code, r.json()["error"]) == (401, "invalid_client")
    r = kiro.post("oidc_register", {"clientName": "Kiro"})
    assert (r.status_code, r.json()["error"]) == (400, "invalid_request")


def test_models_lists_kiro_ids_with_token_limits_and_honours_the_account_override(
    kiro: Kiro, ctl: EmulatorControl, account: dict[str, Any]
) -> None:
    models = kiro.get("models", account["access_token"]).json()["models"]
    ids = [m["modelId"] for m in models]
    for expected in (
        "auto",
        "claude-sonnet-4",
        "claude-sonnet-4.5",
        "claude-haiku-4.5",
        "claude-opus-4.5",
        "claude-sonnet-4.6",
        "claude-opus-4.6",
    ):
        assert expected in ids
    sonnet = next(m for m in models if m["modelId"] == "claude-sonnet-4.5")
    assert set(sonnet) == {"modelId", "modelName", "description", "tokenLimits"}
    assert sonnet["tokenLimits"]["maxInputTokens"] == 200_000
    ctl.update_account(
        account["name"],
        models=["claude-haiku-4.5", {"modelId": "custom-1", "tokenLimits": {"maxInputTokens": 5}}],
    )
    override = kiro.get("models", account["access_token"]).json()["models"]
    assert [(m["modelId"], m["tokenLimits"]["maxInputTokens"]) for m in override] == [
        ("claude-haiku-4.5", 200_000),
        ("custom-1", 5),
    ]


def test_usage_reports_configured_numbers_and_counts_chat_credits(
    kiro: Kiro, ctl: EmulatorControl, account: dict[str, Any]
) -> None:
    ctl.update_account(
        account["name"],
        usage={"current": 10, "limit": 50, "next_reset": 1764547200, "subscription_title": "KIRO FREE"},
    )
    kiro.chat(account["access_token"], kiro_body())
    usage = kiro.get("usage", account["access_token"]).json()
    assert usage["subscriptionInfo"] == {"subscriptionTitle": "KIRO FREE"}
    assert usage["nextDateReset"] == 1764547200
    (item,) = usage["usageBreakdownList"]
    assert (item["currentUsage"], item["currentUsageWithPrecision"], item["usageLimit"]) == (10, 10.01, 50)
    assert kiro.get("usage", "bad-token").status_code == 403


def test_verification_page_lets_a_person_approve_in_a_browser(kiro: Kiro, ctl: EmulatorControl) -> None:
    creds, flow = start_device_flow(kiro)
    page = kiro.http.get(flow["verificationUriComplete"])
    assert page.status_code == 200 and flow["userCode"] in page.text
    approved = kiro.http.post(f"/_emulator/device/approve?user_code={flow['userCode']}", data={})
    assert approved.status_code == 200
    status, _ = poll(kiro, creds, flow)
    assert status == 200
    ctl.delete_account(approved.json()["name"])
