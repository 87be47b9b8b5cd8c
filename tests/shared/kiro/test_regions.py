"""Regions go into host names: only AWS region names are accepted, and a crafted one never opens a
connection to the address it smuggles in."""

from __future__ import annotations

import aiohttp
import pytest

from shared.errors import ConfigError
from shared.kiro.auth import KiroAuth
from shared.kiro.endpoints import KiroEndpoints, api_region_from_profile_arn
from shared.kiro.regions import InvalidRegionError, check_region
from shared.kiro.transport import AuthHttp
from shared.settings import CommonSettings
from tests.support.listener import Listener

GOOD = ["us-east-1", "eu-central-1", "us-gov-west-1", "ap-southeast-3", "il-central-1"]
BAD = ["x@127.0.0.1:9/#", "us-east-1.evil.example#", "US-EAST-1", "us-east", "", "us-east-1/", "us_east_1"]


def real_endpoints() -> KiroEndpoints:
    """The production host templates (no emulator)."""
    return KiroEndpoints.from_settings(CommonSettings())


@pytest.mark.parametrize("region", GOOD)
def test_aws_region_names_are_accepted(region: str) -> None:
    assert check_region(region) == region
    assert region in real_endpoints().oidc_token(region)


@pytest.mark.parametrize("region", BAD)
def test_the_url_builder_refuses_every_host_with_a_bad_region(region: str) -> None:
    endpoints = real_endpoints()
    builders = [
        lambda: endpoints.chat_routes(region),
        lambda: endpoints.chat_routes(region, "kiro"),
        lambda: endpoints.models(region),
        lambda: endpoints.usage_limits(region),
        lambda: endpoints.social_refresh(region),
        lambda: endpoints.oidc_token(region),
        lambda: endpoints.oidc_register(region),
        lambda: endpoints.oidc_device_authorization(region),
        lambda: endpoints.api_region(region=region or "?"),
    ]
    for build in builders:
        with pytest.raises(InvalidRegionError, match="not an AWS region"):
            build()


def test_the_region_inside_a_profile_arn_is_checked() -> None:
    good = "arn:aws:codewhisperer:eu-central-1:111122223333:profile/ABC"
    assert api_region_from_profile_arn(good) == "eu-central-1"
    assert real_endpoints().api_region(good) == "eu-central-1"
    assert real_endpoints().api_region(good, "us-east-1") == "us-east-1"  # the account's own region wins
    with pytest.raises(InvalidRegionError, match="profile ARN region"):
        real_endpoints().api_region("arn:aws:codewhisperer:x@127.0.0.1:9/#:1:profile/A", "us-east-1")


class ServiceSettings(CommonSettings):
    """A service's settings with its own region and profile ARN fields (as the gateway has)."""

    kiro_auth_region: str = "us-east-1"
    kiro_profile_arn: str | None = None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("KIRO_API_REGION", "x@127.0.0.1:9/#"),
        ("KIRO_AUTH_REGION", "us-east-1.evil.example#"),
        ("KIRO_PROFILE_ARN", "arn:aws:codewhisperer:x@127.0.0.1:9/#:1:profile/A"),
    ],
)
def test_region_settings_are_checked_at_start(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        ServiceSettings.load()


async def test_a_crafted_region_never_opens_a_connection_to_the_address_it_carries(
    listener: Listener,
) -> None:
    region = f"x@127.0.0.1:{listener.port}/#"
    auth = KiroAuth(real_endpoints(), "0.8.0", "1.0.34")
    async with aiohttp.ClientSession() as session:
        http = AuthHttp(session, timeout=3)
        for build in (
            lambda: auth.social_refresh("aor-token", region, "machine"),
            lambda: auth.oidc_refresh("cid", "secret", "aor-token", region),
        ):
            with pytest.raises(InvalidRegionError):
                await http.send(build())
    assert await listener.connections_before_a_marker() == 0
