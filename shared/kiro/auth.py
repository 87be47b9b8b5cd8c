"""Kiro authentication and account calls as requests to make: social + OIDC refresh, client registration,
device grant, getUsageLimits, ListAvailableModels and the account check's chat (kiro-protocol.md §1, §10).

Sans-I/O, like `answers.py` (what the answers say); `transport.AuthHttp` sends them.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from typing import Any

from shared.accounts.model import AuthKind
from shared.kiro.answers import ClientRegistration
from shared.kiro.endpoints import KiroEndpoints

BUILDER_ID_START_URL = "https://view.awsapps.com/start"
OIDC_SCOPES = (
    "codewhisperer:completions",
    "codewhisperer:analysis",
    "codewhisperer:conversations",
    "codewhisperer:transformations",
    "codewhisperer:taskassist",
)
DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@dataclass(frozen=True)
class AuthRequest:
    """One HTTP call to make: JSON body (`json`) or form body (`form`)."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    json: dict[str, Any] | None = None
    form: dict[str, str] | None = None


def chat_headers(
    access_token: str,
    *,
    sdk_version: str,
    ide_version: str,
    machine_id: str,
    attempt: int = 1,
    max_attempts: int = 1,
    amz_target: str = "",
    auth_kind: AuthKind = AuthKind.SOCIAL,
) -> dict[str, str]:
    """The headers of one generateAssistantResponse call (§2), for the gateway and the account check.

    `amz_target` "" = no `X-Amz-Target` header (what most clients send to the `q.` host).
    """
    agent = f"KiroIDE-{ide_version}-{machine_id}" if machine_id else f"KiroIDE-{ide_version}"
    headers = {
        "Authorization": f"Bearer {access_token}",
        "Content-Type": "application/json",
        "Accept": "application/vnd.amazon.eventstream",
        "x-amzn-codewhisperer-optout": "true",
        "x-amzn-kiro-agent-mode": "vibe",
        "amz-sdk-invocation-id": str(uuid.UUID(int=random.getrandbits(128), version=4)),  # no syscall
        "amz-sdk-request": f"attempt={attempt}; max={max_attempts}",
        "x-amz-user-agent": f"aws-sdk-js/{sdk_version} {agent}",
        "User-Agent": (
            f"aws-sdk-js/{sdk_version} ua/2.1 os/linux lang/js md/nodejs#20.16.0 "
            f"api/codewhispererstreaming#{sdk_version} m/E {agent}"
        ),
    }
    if amz_target:
        headers["X-Amz-Target"] = amz_target
    if auth_kind is AuthKind.EXTERNAL_IDP:
        headers["TokenType"] = "EXTERNAL_IDP"
    return headers


@dataclass(frozen=True)
class KiroAuth:
    """Builds the auth and account requests for one set of endpoints and client versions."""

    endpoints: KiroEndpoints
    ide_version: str = "0.8.0"
    sdk_version: str = "1.0.34"

    def _ua(self, machine_id: str) -> str:
        return f"KiroIDE-{self.ide_version}-{machine_id}" if machine_id else f"KiroIDE-{self.ide_version}"

    def _api_headers(self, access_token: str, auth_kind: AuthKind, machine_id: str) -> dict[str, str]:
        agent = f"aws-sdk-js/{self.sdk_version} {self._ua(machine_id)}"
        headers = {
            "Authorization": f"Bearer {access_token}",
            "Accept": "application/json",
            "User-Agent": f"{agent} ua/2.1 os/linux lang/js md/nodejs "
            f"api/codewhispererruntime#{self.sdk_version}",
            "x-amz-user-agent": agent,
        }
        if auth_kind is AuthKind.EXTERNAL_IDP:
            headers["TokenType"] = "EXTERNAL_IDP"
        return headers

    def social_refresh(
        self, refresh_token: str, region: str = "us-east-1", machine_id: str = ""
    ) -> AuthRequest:
        """Kiro desktop (Google / GitHub) refresh (§10.1)."""
        return AuthRequest(
            "POST",
            self.endpoints.social_refresh(region),
            {"Content-Type": "application/json", "User-Agent": self._ua(machine_id)},
            json={"refreshToken": refresh_token},
        )

    def oidc_refresh(
        self, client_id: str, client_secret: str, refresh_token: str, region: str
    ) -> AuthRequest:
        """AWS SSO OIDC refresh for Builder ID / IAM Identity Center (§10.2, camelCase JSON)."""
        body = {
            "clientId": client_id,
            "clientSecret": client_secret,
            "refreshToken": refresh_token,
            "grantType": "refresh_token",
        }
        return AuthRequest(
            "POST", self.endpoints.oidc_token(region), {"Content-Type": "application/json"}, body
        )

    def external_idp_refresh(
        self, token_endpoint: str, client_id: str, refresh_token: str, scopes: str = ""
    ) -> AuthRequest:
        """Enterprise (Entra / Okta) refresh: form-encoded OAuth at the stored token endpoint (§10.2)."""
        form = {"grant_type": "refresh_token", "client_id": client_id, "refresh_token": refresh_token}
        if scopes:
            form["scope"] = scopes
        return AuthRequest("POST", token_endpoint, {"Accept": "application/json"}, form=form)

    def register_client(self, region: str, start_url: str = BUILDER_ID_START_URL) -> AuthRequest:
        """Register a public OIDC client for a device login (§10.3 step 1)."""
        body = {
            "clientName": "Kiro",
            "clientType": "public",
            "scopes": list(OIDC_SCOPES),
            "grantTypes": [DEVICE_CODE_GRANT, "refresh_token"],
            "issuerUrl": start_url,
        }
        return AuthRequest(
            "POST", self.endpoints.oidc_register(region), {"Content-Type": "application/json"}, body
        )

    def device_authorization(
        self, registration: ClientRegistration, region: str, start_url: str = BUILDER_ID_START_URL
    ) -> AuthRequest:
        """Start a device login (§10.3 step 2)."""
        body = {
            "clientId": registration.client_id,
            "clientSecret": registration.client_secret,
            "startUrl": start_url,
        }
        url = self.endpoints.oidc_device_authorization(region)
        return AuthRequest("POST", url, {"Content-Type": "application/json"}, body)

    def device_token(self, client_id: str, client_secret: str, device_code: str, region: str) -> AuthRequest:
        """Poll for the tokens of a device login (§10.3 step 3)."""
        body = {
            "clientId": client_id,
            "clientSecret": client_secret,
            "grantType": DEVICE_CODE_GRANT,
            "deviceCode": device_code,
        }
        return AuthRequest(
            "POST", self.endpoints.oidc_token(region), {"Content-Type": "application/json"}, body
        )

    def usage_limits(
        self,
        access_token: str,
        *,
        api_region: str,
        profile_arn: str = "",
        auth_kind: AuthKind = AuthKind.SOCIAL,
        machine_id: str = "",
    ) -> AuthRequest:
        """getUsageLimits (§1.1)."""
        url = self.endpoints.usage_limits(api_region, profile_arn or None)
        return AuthRequest("GET", url, self._api_headers(access_token, auth_kind, machine_id))

    def chat(
        self,
        access_token: str,
        url: str,
        body: dict[str, Any],
        *,
        amz_target: str,
        auth_kind: AuthKind = AuthKind.SOCIAL,
        machine_id: str = "",
    ) -> AuthRequest:
        """generateAssistantResponse (§2, §3) for the account check, with the gateway's headers
        (`chat_headers`); the answer is an event stream. `amz_target` "" = no `X-Amz-Target` header."""
        headers = chat_headers(
            access_token,
            sdk_version=self.sdk_version,
            ide_version=self.ide_version,
            machine_id=machine_id,
            amz_target=amz_target,
            auth_kind=auth_kind,
        )
        return AuthRequest("POST", url, headers, json=body)

    def list_models(
        self,
        access_token: str,
        *,
        api_region: str,
        profile_arn: str = "",
        auth_kind: AuthKind = AuthKind.SOCIAL,
        machine_id: str = "",
        endpoint: str = "amazonq",
    ) -> AuthRequest:
        """ListAvailableModels (§1) on the host that goes with chat `endpoint`."""
        url = self.endpoints.models(api_region, profile_arn or None, endpoint)
        return AuthRequest("GET", url, self._api_headers(access_token, auth_kind, machine_id))
