"""Every Kiro URL is built here, so tests can point all of them at the emulator with one setting."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

from shared.kiro.endpoint_table import STYLE_BY_NAME, HostSetting, ordered_names
from shared.kiro.regions import check_region, profile_arn_region
from shared.settings import CommonSettings


@dataclass(frozen=True, slots=True)
class ChatRoute:
    """One chat endpoint to try: where to POST, the `origin` the body carries and the `X-Amz-Target`
    header ("" = not sent). `name` is the endpoint's name in ENDPOINT_ORDER and in metrics."""

    name: str  # "codewhisperer" | "amazonq" | "kiro"
    url: str
    origin: str
    amz_target: str


# Paths the emulator serves when KIRO_EMULATOR_URL replaces every host; it tells endpoints apart by path.
EMULATOR_PATHS = {
    "chat_codewhisperer": "/codewhisperer/generateAssistantResponse",
    "chat_amazonq": "/q/generateAssistantResponse",
    "chat_kiro": "/kiro/generateAssistantResponse",
    "models": "/ListAvailableModels",
    "models_kiro": "/kiro/ListAvailableModels",
    "usage": "/getUsageLimits",
    "mcp": "/mcp",
    "social_refresh": "/auth/refreshToken",
    "oidc_token": "/oidc/token",
    "oidc_register": "/oidc/client/register",
    "oidc_device": "/oidc/device_authorization",
}


def api_region_from_profile_arn(profile_arn: str | None) -> str | None:
    """The chat API region is the 4th field of `arn:aws:codewhisperer:{region}:{acct}:profile/{id}`.

    Raises InvalidRegionError when that field is not an AWS region name.
    """
    return profile_arn_region(profile_arn) if profile_arn else None


@dataclass(frozen=True)
class KiroEndpoints:
    """URL builder for chat, models, usage, social auth and OIDC.

    Every region is checked before it goes into a host name: InvalidRegionError (an InvalidRequestError
    and a ValueError) instead of a URL that points somewhere else.
    """

    q_host: str
    codewhisperer_host: str
    social_auth_host: str
    oidc_host: str
    default_api_region: str = "us-east-1"
    emulator_url: str | None = None
    runtime_host: str = "https://runtime.{region}.kiro.dev"

    @classmethod
    def from_settings(cls, settings: CommonSettings) -> KiroEndpoints:
        return cls(
            q_host=settings.kiro_q_host,
            codewhisperer_host=settings.kiro_codewhisperer_host,
            social_auth_host=settings.kiro_social_auth_host,
            oidc_host=settings.kiro_oidc_host,
            default_api_region=settings.kiro_api_region,
            emulator_url=settings.kiro_emulator_url.rstrip("/") if settings.kiro_emulator_url else None,
            runtime_host=settings.kiro_runtime_host,
        )

    def api_region(self, profile_arn: str | None = None, region: str | None = None) -> str:
        """The account's own API region when it has one (set by an operator), else its profile ARN's
        region, else the default. The ARN is checked either way: it is sent to Kiro too."""
        from_arn = api_region_from_profile_arn(profile_arn)
        return check_region(region or from_arn or self.default_api_region, "API region")

    def _emu(self, name: str) -> str | None:
        return f"{self.emulator_url}{EMULATOR_PATHS[name]}" if self.emulator_url else None

    def _host(self, host: HostSetting, api_region: str) -> str:
        template = {"codewhisperer": self.codewhisperer_host, "q": self.q_host, "runtime": self.runtime_host}
        return template[host].format(region=check_region(api_region, "API region"))

    def chat_routes(
        self, api_region: str, order: str = "auto", origins: Mapping[str, str] | None = None
    ) -> tuple[ChatRoute, ...]:
        """The chat endpoints to try, in order, for an account of `api_region`.

        `order` is ENDPOINT_ORDER (`auto` = the region's default sequence; listed endpoints that do not
        exist in the region are skipped); `origins` overrides an endpoint's origin by name. ValueError
        on an unknown endpoint name or origin, InvalidRegionError on a region that is no AWS region.
        """
        check_region(api_region, "API region")
        routes = []
        for name in ordered_names(order, api_region):
            style = STYLE_BY_NAME[name]
            origin = (origins or {}).get(name, style.origin)
            if origin not in style.targets:
                raise ValueError(
                    f"origin {origin[:40]!r} for endpoint {name!r} is not one of {', '.join(style.targets)}"
                )
            url = self._emu(style.emulator_key) or f"{self._host(style.host, api_region)}{style.path}"
            routes.append(ChatRoute(name, url, origin, style.targets[origin]))
        return tuple(routes)

    def _api_base(self, api_region: str) -> str:
        return self._host("q", api_region)

    def models(self, api_region: str, profile_arn: str | None = None, endpoint: str = "amazonq") -> str:
        """ListAvailableModels on the host that goes with chat `endpoint` (the first one tried)."""
        check_region(api_region, "API region")
        style = STYLE_BY_NAME[endpoint]
        base = self._emu(style.emulator_models_key) or (
            f"{self._host(style.models_host, api_region)}/ListAvailableModels"
        )
        query = "origin=AI_EDITOR&maxResults=50"
        if profile_arn:
            query += f"&profileArn={quote(profile_arn, safe='')}"
        return f"{base}?{query}"

    def usage_limits(self, api_region: str, profile_arn: str | None = None) -> str:
        check_region(api_region, "API region")
        base = self._emu("usage") or f"{self._api_base(api_region)}/getUsageLimits"
        query = "origin=AI_EDITOR&resourceType=AGENTIC_REQUEST&isEmailRequired=true"
        if profile_arn:
            query += f"&profileArn={quote(profile_arn, safe='')}"
        return f"{base}?{query}"

    def mcp(self, api_region: str) -> str:
        """Kiro's MCP endpoint (JSON-RPC `tools/call`; the gateway uses its `web_search` tool)."""
        return self._emu("mcp") or f"{self._api_base(api_region)}/mcp"

    def social_refresh(self, auth_region: str = "us-east-1") -> str:
        host = self.social_auth_host.format(region=check_region(auth_region, "auth region"))
        return self._emu("social_refresh") or f"{host}/refreshToken"

    def _oidc(self, sso_region: str) -> str:
        return self.oidc_host.format(region=check_region(sso_region, "OIDC region"))

    def oidc_token(self, sso_region: str) -> str:
        return self._emu("oidc_token") or f"{self._oidc(sso_region)}/token"

    def oidc_register(self, sso_region: str) -> str:
        return self._emu("oidc_register") or f"{self._oidc(sso_region)}/client/register"

    def oidc_device_authorization(self, sso_region: str) -> str:
        return self._emu("oidc_device") or f"{self._oidc(sso_region)}/device_authorization"
