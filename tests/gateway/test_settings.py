"""Gateway settings refuse configurations that cannot authenticate anything."""

from __future__ import annotations

import pytest

from services.gateway.settings import GatewaySettings
from shared.errors import ConfigError


def test_production_without_internal_key_or_client_key_refuses_to_start() -> None:
    with pytest.raises(ConfigError, match="INTERNAL_API_KEY"):
        GatewaySettings.load(kiro_env="production", internal_api_key=None, kiro_refresh_token=None)


@pytest.mark.parametrize("secret", [{"internal_api_key": "k" * 32}, {"proxy_api_key": "p" * 32}])
def test_production_with_either_caller_check_starts(secret: dict[str, str]) -> None:
    settings = GatewaySettings.load(kiro_env="production", **secret)
    assert settings.kiro_env == "production"


def test_standalone_external_idp_is_refused() -> None:
    with pytest.raises(ConfigError, match="social and idc"):
        GatewaySettings.load(kiro_refresh_token="r" * 32, kiro_auth_kind="external_idp")


def test_production_with_an_env_account_needs_a_client_key() -> None:
    with pytest.raises(ConfigError, match="PROXY_API_KEY"):
        GatewaySettings.load(kiro_env="production", internal_api_key="k" * 32, kiro_refresh_token="r" * 32)


@pytest.mark.parametrize(
    "keys", [{"proxy_api_key": "p" * 32}, {"proxy_api_keys_sha256": "ab" * 32 + ",  " + "CD" * 32}]
)
def test_production_standalone_with_a_client_key_starts(keys: dict[str, str]) -> None:
    settings = GatewaySettings.load(kiro_env="production", kiro_refresh_token="r" * 32, **keys)
    assert settings.kiro_env == "production"


def test_a_malformed_client_key_digest_refuses_to_start() -> None:
    with pytest.raises(ConfigError, match="SHA-256 hex digests"):
        GatewaySettings.load(proxy_api_keys_sha256="not-a-digest")


@pytest.mark.parametrize(
    ("change", "hint"),
    [
        ({"endpoint_order": "amazonq,bedrock"}, "codewhisperer, amazonq, kiro"),
        ({"endpoint_origins": {"amazonq": "IDE"}}, "AI_EDITOR, CLI"),
        ({"endpoint_origins": {"q": "CLI"}}, "codewhisperer, amazonq, kiro"),
    ],
)
def test_an_endpoint_order_or_origin_that_does_not_exist_refuses_to_start(
    change: dict[str, object], hint: str
) -> None:
    with pytest.raises(ConfigError, match="ENDPOINT_ORDER / ENDPOINT_ORIGINS") as caught:
        GatewaySettings.load(**change)
    assert hint in str(caught.value)


def test_the_endpoint_order_is_read_normalised() -> None:
    settings = GatewaySettings.load(endpoint_order=" Kiro, AMAZONQ ", endpoint_origins={"kiro": "CLI"})
    assert (settings.endpoint_order, settings.endpoint_origins) == ("kiro,amazonq", {"kiro": "CLI"})
