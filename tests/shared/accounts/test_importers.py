"""Import parsers: kiro-go config.json, Kiro IDE kiro-auth-token.json, kiro-cli SQLite rows,
KIRO_REFRESH_TOKENS lists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.accounts.importers import (
    ImportFormatError,
    check_token_endpoint,
    kiro_go_weight,
    parse_kiro_auth_token,
    parse_kiro_cli,
    parse_kiro_go,
    parse_kiro_go_settings,
    parse_refresh_tokens,
)
from shared.accounts.model import AuthKind

SAMPLE = Path(__file__).with_name("data") / "kiro_go_config.json"
BLOCKS = {"claude_thinking_format": "blocks"}


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


CLI_IDC_TOKEN = {
    "access_token": "aoaCliAccess",
    "refresh_token": "aorCliIdcRefresh0001",
    "expires_at": "2026-12-04T17:00:00.123456789Z",
    "region": "us-east-2",
    "start_url": "https://d-90670f1a2b.awsapps.com/start",
    "scopes": ["codewhisperer:completions"],
}
CLI_REGISTRATION = {
    "client_id": "cliClientId",
    "client_secret": "cliClientSecret",
    "region": "us-east-2",
    "client_secret_expires_at": "2027-03-01T00:00:00Z",
}
PROFILE = "arn:aws:codewhisperer:us-east-1:111122223333:profile/CLIPROFILE"


def test_kiro_cli_idc_login_takes_its_registration_and_the_profile_from_state() -> None:
    auth_kv = {
        "codewhisperer:odic:token": json.dumps(CLI_IDC_TOKEN),
        "codewhisperer:odic:device-registration": json.dumps(CLI_REGISTRATION),
    }
    state = {"api.codewhisperer.profile": json.dumps({"arn": PROFILE, "profile_name": "x"})}
    spec = parse_kiro_cli(auth_kv, state)
    assert spec.auth_kind is AuthKind.IDC
    assert (spec.refresh_token, spec.client_id, spec.client_secret) == (
        "aorCliIdcRefresh0001",
        "cliClientId",
        "cliClientSecret",
    )
    assert spec.auth_region == "us-east-2" and spec.start_url.startswith("https://d-90670f1a2b")
    assert spec.profile_arn == PROFILE and spec.source == "import:kiro-cli"
    assert spec.client_secret_expires_at == 1_803_859_200.0


def test_kiro_cli_prefers_the_newer_kirocli_keys_over_the_amazon_q_ones() -> None:
    social = {"refresh_token": "aorCliSocialRefresh01", "profile_arn": PROFILE, "region": "us-east-1"}
    auth_kv = {
        "codewhisperer:odic:token": json.dumps(CLI_IDC_TOKEN),
        "kirocli:social:token": json.dumps(social),
    }
    spec = parse_kiro_cli(auth_kv, {})
    assert spec.auth_kind is AuthKind.SOCIAL and spec.refresh_token == "aorCliSocialRefresh01"
    assert spec.profile_arn == PROFILE


@pytest.mark.parametrize(
    ("auth_kv", "message"),
    [
        ({}, "no kiro-cli login"),
        ({"kirocli:social:token": "{not json"}, "not valid JSON"),
        ({"kirocli:social:token": json.dumps({"access_token": "a"})}, "no refresh token"),
        ({"kirocli:odic:token": json.dumps(CLI_IDC_TOKEN)}, "registration is missing"),
    ],
)
def test_kiro_cli_without_a_usable_login_is_a_clear_error(auth_kv: dict[str, str], message: str) -> None:
    with pytest.raises(ImportFormatError, match=message):
        parse_kiro_cli(auth_kv, {})


@pytest.mark.parametrize(
    ("openai", "claude", "expected"),
    [
        (
            "think",
            "think",
            {"openai_thinking_format": "think_tags", "claude_thinking_format": "thinking_tags"},
        ),
        ("reasoning_content", "thinking", {"openai_thinking_format": "reasoning_content", **BLOCKS}),
        ("thinking", "reasoning_content", {"openai_thinking_format": "reasoning_content", **BLOCKS}),
        ("", "xml", {}),  # unset or unknown: left as they are here
    ],
)
def test_kiro_go_thinking_formats_map_to_ours(openai: str, claude: str, expected: dict[str, str]) -> None:
    settings = parse_kiro_go_settings(
        {"accounts": [], "openaiThinkingFormat": openai, "claudeThinkingFormat": claude}
    )
    assert settings.options == expected


def test_kiro_go_model_mappings_become_aliases_without_unusable_rows() -> None:
    mappings = [
        {"source": "gpt-4o", "target": "claude-sonnet-4.5"},
        {"source": "same", "target": "same"},
        {"source": "", "target": "claude-haiku-4.5"},
        "not a row",
    ]
    settings = parse_kiro_go_settings({"accounts": [], "modelMappings": mappings})
    assert settings.options == {"model_aliases": {"gpt-4o": "claude-sonnet-4.5"}}


def test_kiro_go_settings_take_a_usable_suffix_and_every_enabled_key_once() -> None:
    config = {
        "accounts": [],
        "thinkingSuffix": "-deep think",  # a space: not a suffix a model name can end in
        "apiKey": "sk-legacy",
        "apiKeys": [
            {"name": "team", "key": "sk-team", "enabled": True},
            {"name": "off", "key": "sk-off", "enabled": False},
            {"name": "dup", "key": "sk-legacy", "enabled": True},
        ],
    }
    settings = parse_kiro_go_settings(config)
    assert settings.options == {}
    assert settings.client_keys == [("kiro-go apiKey", "sk-legacy"), ("team", "sk-team")]
    assert parse_kiro_go_settings({"accounts": [], "thinkingSuffix": "-think"}).options == {
        "thinking_suffix": "-think"
    }


@pytest.mark.parametrize(
    ("config", "order"),
    [
        ({"preferredEndpoint": "amazonq"}, "amazonq,codewhisperer"),
        ({"preferredEndpoint": "codewhisperer", "endpointFallback": False}, "codewhisperer"),
        ({"preferredEndpoint": "kiro"}, "kiro,codewhisperer,amazonq"),
        ({"preferredEndpoint": "auto"}, "auto"),
        ({"preferredEndpoint": "somewhere"}, None),
        ({}, None),
    ],
)
def test_kiro_go_preferred_endpoint_becomes_our_endpoint_order(config: dict[str, object], order: str) -> None:
    assert parse_kiro_go_settings({"accounts": [], **config}).options.get("endpoint_order") == order


@pytest.mark.parametrize(
    ("weight", "ours"), [(None, 100), (0, 100), (1, 100), (2, 200), (5, 500), (500, 10_000)]
)
def test_kiro_go_weights_scale_to_ours(weight: object, ours: int) -> None:
    assert kiro_go_weight(weight) == ours


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://login.example.com/token", "https"),
        ("https://user:pw@login.example.com/token", "user name"),
        ("ftp://login.example.com/token", "https"),
        ("https:///token", "https"),
    ],
)
def test_an_external_idp_token_endpoint_must_be_https_without_credentials(url: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        check_token_endpoint(url)
    assert check_token_endpoint("https://login.microsoftonline.com/t/oauth2/v2.0/token")
    assert check_token_endpoint("http://127.0.0.1:8080/token")
