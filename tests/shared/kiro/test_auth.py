"""Kiro auth request builders and response parsers (sans-I/O)."""

from __future__ import annotations

import pytest

from shared.accounts.model import AuthKind
from shared.errors import AuthRefreshError, FailureKind, UpstreamError
from shared.kiro.answers import (
    DeviceFlowFailed,
    DeviceFlowPending,
    parse_device_token,
    parse_token,
    parse_usage_limits,
)
from shared.kiro.auth import KiroAuth
from shared.kiro.endpoints import KiroEndpoints

AUTH = KiroAuth(
    KiroEndpoints(
        q_host="https://q.{region}.amazonaws.com",
        codewhisperer_host="https://codewhisperer.us-east-1.amazonaws.com",
        social_auth_host="https://prod.{region}.auth.desktop.kiro.dev",
        oidc_host="https://oidc.{region}.amazonaws.com",
    )
)


def test_social_refresh_posts_the_token_as_json_with_the_kiro_user_agent() -> None:
    request = AUTH.social_refresh("rt", "us-east-1", "machine-1")
    assert request.url == "https://prod.us-east-1.auth.desktop.kiro.dev/refreshToken"
    assert request.json == {"refreshToken": "rt"}
    assert request.headers["User-Agent"] == "KiroIDE-0.8.0-machine-1"


def test_oidc_refresh_uses_camel_case_json_in_the_sso_region() -> None:
    request = AUTH.oidc_refresh("cid", "secret", "rt", "eu-central-1")
    assert request.url == "https://oidc.eu-central-1.amazonaws.com/token"
    assert request.json == {
        "clientId": "cid",
        "clientSecret": "secret",
        "refreshToken": "rt",
        "grantType": "refresh_token",
    }


def test_usage_request_carries_the_profile_arn_and_external_idp_token_type() -> None:
    request = AUTH.usage_limits(
        "at", api_region="eu-central-1", profile_arn="arn:a:b", auth_kind=AuthKind.EXTERNAL_IDP
    )
    assert request.url.startswith("https://q.eu-central-1.amazonaws.com/getUsageLimits?")
    assert "profileArn=arn%3Aa%3Ab" in request.url
    assert request.headers["Authorization"] == "Bearer at"
    assert request.headers["TokenType"] == "EXTERNAL_IDP"


def test_token_answer_without_expiry_defaults_to_an_hour_and_keeps_the_rotated_token() -> None:
    tokens = parse_token(200, {"accessToken": "at", "refreshToken": "rt2", "profileArn": "arn"})
    assert (tokens.access_token, tokens.refresh_token, tokens.expires_in, tokens.profile_arn) == (
        "at",
        "rt2",
        3600,
        "arn",
    )


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (
            400,
            {"error": "invalid_grant", "error_description": "Invalid refresh token provided"},
            FailureKind.INVALID_TOKEN,
        ),
        (401, {"message": "Invalid refresh token provided."}, FailureKind.INVALID_TOKEN),
        (429, {"message": "slow down"}, FailureKind.THROTTLED),
        (500, "oops", FailureKind.UPSTREAM_ERROR),
        (503, {}, FailureKind.UPSTREAM_ERROR),
        (200, {"refreshToken": "no access token"}, FailureKind.UPSTREAM_ERROR),
    ],
)
def test_refresh_failures_are_classified_relogin_or_transient(
    status: int, body: object, kind: FailureKind
) -> None:
    with pytest.raises(AuthRefreshError) as caught:
        parse_token(status, body)
    assert caught.value.kind is kind


def test_invalid_grant_reason_is_kept_for_the_operator() -> None:
    with pytest.raises(AuthRefreshError) as caught:
        parse_token(400, {"error": "invalid_grant", "error_description": "Invalid refresh token provided"})
    assert caught.value.reason == "invalid_grant"
    assert "Invalid refresh token provided" in caught.value.message


@pytest.mark.parametrize(
    ("body", "expected"),
    [({"error": "authorization_pending"}, False), ({"error": "slow_down"}, True)],
)
def test_device_token_pending_answers_ask_to_poll_again(body: dict[str, str], expected: bool) -> None:
    with pytest.raises(DeviceFlowPending) as caught:
        parse_device_token(400, body)
    assert caught.value.slow_down is expected


@pytest.mark.parametrize(("code", "reason"), [("expired_token", "expired"), ("access_denied", "denied")])
def test_device_token_final_answers_end_the_flow(code: str, reason: str) -> None:
    with pytest.raises(DeviceFlowFailed) as caught:
        parse_device_token(400, {"error": code})
    assert caught.value.reason == reason


def test_usage_limits_add_an_active_trial_to_the_base_quota() -> None:
    usage = parse_usage_limits(
        200,
        {
            "nextDateReset": 1764547200,
            "subscriptionInfo": {"subscriptionTitle": "KIRO FREE"},
            "usageBreakdownList": [
                {
                    "currentUsage": 50,
                    "currentUsageWithPrecision": 50.0,
                    "usageLimit": 50,
                    "freeTrialInfo": {"freeTrialStatus": "ACTIVE", "usageLimit": 500, "currentUsage": 3},
                }
            ],
            "userInfo": {"email": "user@example.com"},
        },
    )
    assert (usage.subscription_title, usage.current, usage.limit, usage.reset_at) == (
        "KIRO FREE",
        53.0,
        550.0,
        1764547200,
    )
    assert not usage.exhausted
    assert usage.email == "user@example.com"


def test_usage_at_the_limit_is_exhausted_and_a_refused_call_is_an_upstream_error() -> None:
    usage = parse_usage_limits(200, {"usageBreakdownList": [{"currentUsage": 1000, "usageLimit": 1000}]})
    assert usage.exhausted
    with pytest.raises(UpstreamError) as caught:
        parse_usage_limits(403, {"message": "The bearer token included in the request is invalid."})
    assert caught.value.kind is FailureKind.INVALID_TOKEN
