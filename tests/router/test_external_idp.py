"""Adding an enterprise external-IdP login (Entra ID / Okta) from the admin API and the CLI.

Its refresh goes to the identity provider's own token endpoint (here the emulator's stand-in) as a
form-encoded OAuth refresh with the client id and scopes, and its chat calls carry `TokenType:
EXTERNAL_IDP`, without which the emulator (like Kiro) refuses them.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from tests.refresher.test_cli import _cli
from tests.router.test_kiro_go_migration import router  # noqa: F401 - router + gateway + refresher
from tests.support.polling import wait_for
from tests.support.procs import ServiceProcess

pytestmark = pytest.mark.e2e

ARN = "arn:aws:codewhisperer:us-east-1:111122223333:profile/ENTRAPROFILE"
SCOPES = "api://kiro-enterprise/.default offline_access"
TOKEN_PATH = "/external-idp/oauth2/token"


def entra_login(emulator: ServiceProcess) -> dict[str, Any]:
    """An external-IdP account the emulator knows, as the add-account body."""
    name = f"entra-{uuid.uuid4().hex[:8]}"
    login = {"name": name, "auth_kind": "external_idp", "client_id": "entra-client-" + name}
    with httpx.Client(base_url=emulator.url, timeout=10) as client:
        made = client.post("/_emulator/accounts", json=login).raise_for_status().json()
    return {
        "auth_kind": "external_idp",
        "refresh_token": made["refresh_token"],
        "client_id": made["client_id"],
        "token_endpoint": emulator.url + TOKEN_PATH,
        "scopes": SCOPES,
        "profile_arn": ARN,
        "label": name,
    }


async def test_an_external_idp_login_added_in_the_admin_api_refreshes_at_its_idp_and_chats(
    router: ServiceProcess,  # noqa: F811
    emulator: ServiceProcess,
    stack_env: dict[str, str],
) -> None:
    login = entra_login(emulator)
    bearer = {"Authorization": f"Bearer {stack_env['ADMIN_API_KEY']}"}
    async with httpx.AsyncClient(base_url=router.url + "/admin/api", headers=bearer, timeout=15) as admin:
        for bad, status, says in (
            ({"token_endpoint": "http://10.0.0.7/oauth2/token"}, 400, "https"),
            ({"token_endpoint": "https://user:pw@login.example.com/token"}, 400, "user name"),
            ({"client_id": None}, 422, "client_id"),
        ):
            r = await admin.post("/accounts", json={**login, **bad})
            assert r.status_code == status and says in r.text, r.text
        r = await admin.post("/accounts", json=login)
        assert r.status_code == 201, r.text
        account = r.json()
        assert (account["auth_kind"], account["token_endpoint"], account["scopes"]) == (
            "external_idp",
            login["token_endpoint"],
            SCOPES,
        )
        assert login["refresh_token"] not in r.text

        async def active() -> bool:
            return bool((await admin.get(f"/accounts/{account['id']}")).json()["state"] == "active")

        await wait_for(active, within=20, what="the external-IdP account's first refresh")
        key = (await admin.post("/keys", json={"name": "entra test"})).json()["key"]

    async with httpx.AsyncClient(base_url=emulator.url, timeout=10) as control:
        params = {"account": login["label"], "endpoint": "external_idp_token"}
        recorded = (await control.get("/_emulator/requests", params=params)).json()
    assert recorded and recorded[-1]["status"] == 200
    assert recorded[-1]["body"] == {
        "grant_type": "refresh_token",
        "client_id": login["client_id"],
        "refresh_token": login["refresh_token"],
        "scope": SCOPES,
    }
    body = {"model": "claude-sonnet-4.5", "max_tokens": 32, "messages": [{"role": "user", "content": "hi"}]}
    async with httpx.AsyncClient(timeout=30) as client:
        r = await client.post(router.url + "/v1/messages", json=body, headers={"x-api-key": key})
    assert r.status_code == 200, r.text
    assert r.json()["content"][0]["text"] == "hi"


def test_cli_add_takes_an_external_idp_login_and_refuses_one_without_its_token_endpoint(
    stack_env: dict[str, str],
) -> None:
    common = ["add", "--kind", "external_idp", "--refresh-token-file", "-", "--client-id", "okta-client-7"]
    missing = _cli(stack_env, *common, stdin="aor-okta-refresh-token-0001")
    assert missing.returncode == 1 and "tokenEndpoint" in missing.stderr, missing.stderr
    endpoint = "https://example.okta.com/oauth2/default/v1/token"
    done = _cli(
        stack_env,
        *common,
        "--token-endpoint",
        endpoint,
        "--scopes",
        "openid offline_access",
        "--profile-arn",
        ARN,
        "--label",
        "okta login",
        stdin="aor-okta-refresh-token-0001",
    )
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["added"]) == 1
    [account] = json.loads(_cli(stack_env, "list", "--json").stdout)["accounts"]
    assert (account["auth_kind"], account["token_endpoint"], account["scopes"], account["profile_arn"]) == (
        "external_idp",
        endpoint,
        "openid offline_access",
        ARN,
    )
    assert account["label"] == "okta login" and account["client_id"] == "okta-client-7"
