"""Gateway settings refuse configurations that cannot authenticate anything."""

from __future__ import annotations

import pytest

from services.gateway.settings import GatewaySettings
from shared.errors import ConfigError


def test_production_without_internal_key_or_refresh_token_refuses_to_start() -> None:
    with pytest.raises(ConfigError, match="INTERNAL_API_KEY"):
        GatewaySettings.load(kiro_env="production", internal_api_key=None, kiro_refresh_token=None)


@pytest.mark.parametrize("secret", [{"internal_api_key": "k" * 32}, {"kiro_refresh_token": "r" * 32}])
def test_production_with_either_credential_source_starts(secret: dict[str, str]) -> None:
    settings = GatewaySettings.load(kiro_env="production", **secret)
    assert settings.kiro_env == "production"


def test_standalone_external_idp_is_refused() -> None:
    with pytest.raises(ConfigError, match="social and idc"):
        GatewaySettings.load(kiro_refresh_token="r" * 32, kiro_auth_kind="external_idp")
