"""Emulator settings: read once at start by `python -m services.kiro_emulator`, then passed in."""

from __future__ import annotations

from pydantic import Field

from shared.settings import CommonSettings


class EmulatorSettings(CommonSettings):
    """Configuration of the Kiro emulator (environment variables, upper-case field names)."""

    host: str = Field("127.0.0.1", description="listen address")
    port: int = Field(9100, description="listen port")
    emulator_max_payload_bytes: int = Field(
        600_000, ge=1, description="chat bodies above this get 400 CONTENT_LENGTH_EXCEEDS_THRESHOLD"
    )
    emulator_access_token_ttl: int = Field(3600, ge=1, description="seconds an issued access token lives")
    emulator_history_size: int = Field(50, ge=1, description="recorded requests kept per account")
    emulator_device_interval: int = Field(1, ge=0, description="device-flow polling interval (seconds)")
    emulator_device_expires_in: int = Field(600, ge=1, description="seconds a device code lives")
    emulator_demo_account: bool = Field(True, description="register the `demo` account at start")
