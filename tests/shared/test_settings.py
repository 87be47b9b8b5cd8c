"""Settings refuse configurations that cannot work or would be insecure."""

from __future__ import annotations

from typing import ClassVar

import pytest
from cryptography.fernet import Fernet

from shared.errors import ConfigError
from shared.settings import CommonSettings


class NeedsSecrets(CommonSettings):
    required_secrets: ClassVar[tuple[str, ...]] = ("kiro_secret_key", "internal_api_key")


def test_missing_required_secret_refuses_to_start_and_names_it() -> None:
    with pytest.raises(ConfigError, match="KIRO_SECRET_KEY, INTERNAL_API_KEY"):
        NeedsSecrets.load(kiro_env="production", _env_file=None)


def test_malformed_secret_key_is_rejected() -> None:
    with pytest.raises(ConfigError, match="not a Fernet key"):
        NeedsSecrets.load(kiro_secret_key="short", internal_api_key="x", _env_file=None)


def test_emulator_url_is_refused_in_production() -> None:
    with pytest.raises(ConfigError, match="KIRO_EMULATOR_URL"):
        CommonSettings.load(kiro_env="production", kiro_emulator_url="http://127.0.0.1:9100", _env_file=None)


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("KIRO_SECRET_KEY", key)
    monkeypatch.setenv("INTERNAL_API_KEY", "s3cr3t-internal-value")
    monkeypatch.setenv("REDIS_KEY_PREFIX", "custom:")
    settings = NeedsSecrets.load(_env_file=None)
    assert settings.secret("kiro_secret_key") == key
    assert settings.redis_key_prefix == "custom:"
    assert "s3cr3t-internal-value" not in repr(settings)  # secrets are masked in reprs
