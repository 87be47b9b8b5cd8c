"""A crafted region (`x@127.0.0.1:PORT/#`) sent to a real router, refresher and gateway (Kiro hosts not
replaced by the emulator) is refused with a clear reason, and nothing ever connects to that port."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from tests.support.kiro_cli import kiro_cli_db
from tests.support.listener import Listener
from tests.support.procs import ServiceProcess, free_port

pytestmark = pytest.mark.e2e


@pytest.fixture
def router_and_refresher(stack_env: dict[str, str]) -> Iterator[ServiceProcess]:
    """A router and a refresher worker on the test's prefix, with the real Kiro host templates."""
    metrics_port = free_port()
    refresher = ServiceProcess(
        "services.refresher",
        ["worker"],
        {**stack_env, "REFRESHER_METRICS_PORT": str(metrics_port)},
        port=metrics_port,
        name="refresher",
    )
    with (
        refresher,
        ServiceProcess("services.router", env={**stack_env, "GATEWAY_URLS": "http://127.0.0.1:9"}) as r,
    ):
        yield r


def cli_db_bytes(tmp_path_factory: pytest.TempPathFactory, region: str) -> bytes:
    token = {"access_token": "a", "refresh_token": "aor-crafted-cli-token", "region": region}
    path = tmp_path_factory.mktemp("cli") / "data.sqlite3"
    return kiro_cli_db(path, {"kirocli:social:token": token}, {}).read_bytes()


async def test_a_crafted_region_in_any_import_is_refused_and_never_connected_to(
    router_and_refresher: ServiceProcess,
    stack_env: dict[str, str],
    listener: Listener,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    crafted = f"x@127.0.0.1:{listener.port}/#"
    bearer = {"Authorization": f"Bearer {stack_env['ADMIN_API_KEY']}"}
    base = router_and_refresher.url + "/admin/api"
    async with httpx.AsyncClient(base_url=base, headers=bearer, timeout=15) as admin:
        entry = {"nickname": "crafted", "refreshToken": "aor-crafted-token", "authMethod": "social"}
        report = (
            await admin.post("/accounts/import", json={"accounts": [{**entry, "region": crafted}]})
        ).json()
        assert report["added"] == [], report
        assert report["skipped"][0]["entry"] == "crafted"
        assert "not an AWS region" in report["skipped"][0]["reason"]

        token_file = {"refreshToken": "aor-crafted-token-2", "authMethod": "social", "region": crafted}
        r = await admin.post("/accounts", json={"kiro_auth_token": token_file})
        assert r.status_code == 400 and "not an AWS region" in r.json()["detail"], r.text
        arn = f"arn:aws:codewhisperer:{crafted}:111122223333:profile/P"
        token_file = {"refreshToken": "aor-crafted-token-3", "authMethod": "social", "profileArn": arn}
        r = await admin.post("/accounts", json={"kiro_auth_token": token_file})
        assert r.status_code == 400 and "not an AWS region" in r.json()["detail"], r.text

        r = await admin.post(
            "/accounts/import/kiro-cli",
            content=cli_db_bytes(tmp_path_factory, crafted),
            headers={"Content-Type": "application/octet-stream"},
        )
        assert r.status_code == 400 and "not an AWS region" in r.json()["detail"], r.text

        r = await admin.post(
            "/accounts", json={"auth_kind": "social", "refresh_token": "aor-x" * 4, "auth_region": crafted}
        )
        assert r.status_code == 422, r.text
        assert (await admin.get("/accounts")).json()["accounts"] == []

    await asyncio.sleep(2)  # time for a refresher that had been handed the account to call out
    assert listener.connections == 0


async def test_a_gateway_answers_a_crafted_region_with_a_client_error_not_a_500(
    stack_env: dict[str, str], listener: Listener
) -> None:
    crafted = f"x@127.0.0.1:{listener.port}/#"
    with ServiceProcess("services.gateway", env=stack_env, name="gateway") as gateway:
        headers = {
            "X-Internal-Key": stack_env["INTERNAL_API_KEY"],
            "X-Kiro-Access-Token": "access-token",
            "X-Kiro-Account-Id": "acct",
            "X-Kiro-Auth-Kind": "social",
            "anthropic-version": "2023-06-01",
        }
        body = {
            "model": "claude-sonnet-4.5",
            "max_tokens": 16,
            "messages": [{"role": "user", "content": "hi"}],
        }
        async with httpx.AsyncClient(timeout=15) as client:
            for extra in (
                {"X-Kiro-Region": crafted},
                {"X-Kiro-Profile-Arn": f"arn:aws:codewhisperer:{crafted}:1:profile/P"},
            ):
                r = await client.post(gateway.url + "/v1/messages", json=body, headers={**headers, **extra})
                print(f"\ngateway, crafted {next(iter(extra))}: {r.status_code} {r.text[:200]}")
                assert r.status_code in (400, 502), r.text
                assert r.json()["type"] == "error" and "not an AWS region" in r.json()["error"]["message"]
                models = await client.get(gateway.url + "/v1/models", headers={**headers, **extra})
                assert models.status_code < 500, models.text
    await asyncio.sleep(0.5)
    assert listener.connections == 0
