"""Every Kiro URL is built here, so tests can point all of them at the emulator with one setting."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from urllib.parse import quote

from shared.kiro.regions import check_region, profile_arn_region
from shared.settings import CommonSettings


class ChatEndpoint(enum.StrEnum):
    """The two chat endpoints of the dual-endpoint fallback (kiro-protocol.md §1.2)."""

    CODEWHISPERER = "codewhisperer"
    AMAZONQ = "amazonq"

    @property
    def origin(self) -> str:
        return "AI_EDITOR" if self is ChatEndpoint.CODEWHISPERER else "CLI"

    @property
    def amz_target(self) -> str:
        if self is ChatEndpoint.CODEWHISPERER:
            return "AmazonCodeWhispererStreamingService.GenerateAssistantResponse"
        return "AmazonQDeveloperStreamingService.SendMessage"


# Paths the emulator serves when KIRO_EMULATOR_URL replaces every host; it tells endpoints apart by path.
EMULATOR_PATHS = {
    "chat_codewhisperer": "/codewhisperer/generateAssistantResponse",
    "chat_amazonq": "/q/generateAssistantResponse",
    "models": "/ListAvailableModels",
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

    @classmethod
    def from_settings(cls, settings: CommonSettings) -> KiroEndpoints:
        return cls(
            q_host=settings.kiro_q_host,
            codewhisperer_host=settings.kiro_codewhisperer_host,
            social_auth_host=settings.kiro_social_auth_host,
            oidc_host=settings.kiro_oidc_host,
            default_api_region=settings.kiro_api_region,
            emulator_url=settings.kiro_emulator_url.rstrip("/") if settings.kiro_emulator_url else None,
        )

    def api_region(self, profile_arn: str | None = None, region: str | None = None) -> str:
        """The account's own API region when it has one (set by an operator), else its profile ARN's
        region, else the default. The ARN is checked either way: it is sent to Kiro too."""
        from_arn = api_region_from_profile_arn(profile_arn)
        return check_region(region or from_arn or self.default_api_region, "API region")

    def _emu(self, name: str) -> str | None:
        return f"{self.emulator_url}{EMULATOR_PATHS[name]}" if self.emulator_url else None

    def chat(self, endpoint: ChatEndpoint, api_region: str) -> str:
        check_region(api_region, "API region")
        if endpoint is ChatEndpoint.CODEWHISPERER:
            return self._emu("chat_codewhisperer") or f"{self.codewhisperer_host}/generateAssistantResponse"
        return (
            self._emu("chat_amazonq") or f"{self.q_host.format(region=api_region)}/generateAssistantResponse"
        )

    def _api_base(self, api_region: str) -> str:
        return self.q_host.format(region=check_region(api_region, "API region"))

    def models(self, api_region: str, profile_arn: str | None = None) -> str:
        check_region(api_region, "API region")
        base = self._emu("models") or f"{self._api_base(api_region)}/ListAvailableModels"
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
