"""A crafted region (`x@127.0.0.1:PORT/#`) sent to a real router, refresher and gateway (Kiro hosts not
replaced by the emulator) is refused with a clear reason, and nothing ever connects to that port."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import redis.asyncio as aioredis

from shared.keys import Keys
from tests.support.kiro_cli import kiro_cli_db
from tests.support.listener import Listener
from tests.support.polling import wait_for
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
    redis: aioredis.Redis,
    keys: Keys,
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

    # a refresher handed the account would have called out by the time its job ended: none is left
    await wait_for(lambda: _no_refresh_job_queued(redis, keys), what="the refresh queue to drain")
    assert await listener.connections_before_a_marker() == 0


async def _no_refresh_job_queued(redis: aioredis.Redis, keys: Keys) -> bool:
    """arq keeps a job in its queue until it ends (the periodic runs' next jobs wait there too)."""
    queued = await redis.zrange(keys.arq_queue(), 0, -1)
    return not any(job_id.startswith(f"{keys.prefix}refresh:") for job_id in queued)
