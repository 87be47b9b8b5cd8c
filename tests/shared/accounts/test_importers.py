"""Import parsers: kiro-go config.json, Kiro IDE kiro-auth-token.json, KIRO_REFRESH_TOKENS lists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.accounts.importers import (
    ImportFormatError,
    parse_kiro_auth_token,
    parse_kiro_go,
    parse_refresh_tokens,
)
from shared.accounts.model import AuthKind

SAMPLE = Path(__file__).with_name("data") / "kiro_go_config.json"


def test_kiro_go_sample_yields_its_usable_accounts_and_reports_every_bad_entry() -> None:
    specs, skipped = parse_kiro_go(json.loads(SAMPLE.read_text()))

    by_label = {s.label: s for s in specs}
    assert set(by_label) == {"alice-builder", "bob-github", "carol-idc-eu"}
    alice, bob, carol = by_label["alice-builder"], by_label["bob-github"], by_label["carol-idc-eu"]
    assert alice.auth_kind is AuthKind.IDC and alice.client_id and alice.client_secret
    assert alice.machine_id == "1b2c3d4e-5f60-4718-a9b0-c1d2e3f4a5b6"
    assert alice.extra["subscription_title"] == "KIRO PRO"
    assert bob.auth_kind is AuthKind.SOCIAL and bob.provider == "Github"
    assert carol.auth_kind is AuthKind.IDC  # "IdC" spelling
    assert carol.auth_region == "eu-central-1" and carol.enabled is False
    reasons = {s.entry: s.reason for s in skipped}
    assert reasons == {
        "dave-no-token": "no refresh token",
        "erin-idc-missing-secret": "idc login needs clientId and clientSecret",
        "accounts[5]": "entry is not an object",
        "frank-weird-method": "unknown authMethod 'saml'",
    }
    assert "aor" not in json.dumps(reasons)


def test_kiro_go_without_an_accounts_list_is_refused_as_a_whole() -> None:
    with pytest.raises(ImportFormatError, match="accounts"):
        parse_kiro_go({"password": "x"})


def test_same_credential_always_maps_to_the_same_account_id() -> None:
    first, _ = parse_kiro_go(json.loads(SAMPLE.read_text()))
    second, _ = parse_kiro_go(json.loads(SAMPLE.read_text()))
    assert [s.account_id() for s in first] == [s.account_id() for s in second]
    assert len({s.account_id() for s in first}) == len(first)


def test_kiro_auth_token_social_file_becomes_a_social_spec_with_its_profile_arn() -> None:
    spec = parse_kiro_auth_token(
        {
            "accessToken": "at",
            "refreshToken": "aorSocialRefreshToken0001",
            "expiresAt": "2026-01-01T12:00:00.000Z",
            "authMethod": "social",
            "provider": "Google",
            "profileArn": "arn:aws:codewhisperer:us-east-1:123456789012:profile/ABC",
            "region": "us-east-1",
        }
    )
    assert spec.auth_kind is AuthKind.SOCIAL
    assert spec.profile_arn.endswith("profile/ABC")
    assert spec.provider == "Google"


def test_kiro_auth_token_idc_file_takes_the_client_from_the_registration_file() -> None:
    token = {
        "refreshToken": "aorIdcRefreshToken000001",
        "authMethod": "IdC",
        "region": "us-east-2",
        "clientIdHash": "abc",
    }
    with pytest.raises(ImportFormatError, match="registration"):
        parse_kiro_auth_token(token)
    spec = parse_kiro_auth_token(
        token, {"clientId": "cid", "clientSecret": "csecret", "expiresAt": "2026-03-01T00:00:00Z"}
    )
    assert spec.auth_kind is AuthKind.IDC
    assert (spec.client_id, spec.client_secret, spec.auth_region) == ("cid", "csecret", "us-east-2")
    assert spec.client_secret_expires_at > 0


@pytest.mark.parametrize(
    "data",
    [
        "aorTokenNumberOne0000001,aorTokenNumberTwo0000002",
        "aorTokenNumberOne0000001\n\naorTokenNumberTwo0000002\n",
        ["aorTokenNumberOne0000001", "aorTokenNumberTwo0000002"],
        {"refresh_tokens": ["aorTokenNumberOne0000001", " aorTokenNumberTwo0000002 "]},
    ],
)
def test_refresh_token_lists_in_every_accepted_shape(data: object) -> None:
    specs, skipped = parse_refresh_tokens(data)
    assert [s.refresh_token for s in specs] == ["aorTokenNumberOne0000001", "aorTokenNumberTwo0000002"]
    assert all(s.auth_kind is AuthKind.SOCIAL for s in specs)
    assert skipped == []


def test_refresh_token_list_reports_entries_that_cannot_be_tokens() -> None:
    specs, skipped = parse_refresh_tokens(["aorTokenNumberOne0000001", 42, "short"])
    assert len(specs) == 1
    assert [(s.entry, s.reason) for s in skipped] == [
        ("refresh_tokens[1]", "not a string"),
        ("refresh_tokens[2]", "does not look like a refresh token"),
    ]
