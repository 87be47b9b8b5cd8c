"""Admin API against a real router process over real Redis: auth, accounts, import, keys, settings, stats."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import orjson
import pytest
import redis as sync_redis
import redis.asyncio as aioredis

from services.gateway.settings import GatewaySettings
from shared.accounts.model import AccountState
from shared.accounts.pool import last_days, today
from shared.clientkeys import ClientKeys
from shared.crypto import SecretBox, sha256_hex, verify_password
from shared.keys import Keys
from shared.kiro.models import RETIRED_MODELS
from tests.support.accounts import put_account
from tests.support.kiro_cli import PROFILE_ARN, social_login_db_bytes
from tests.support.procs import ServiceProcess

pytestmark = pytest.mark.e2e

CSRF = {"X-Requested-With": "test"}
PASSWORD = "test-admin-password"
ADMIN_KEY = "test-admin-key-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def module_prefix(redis_url: str) -> Iterator[str]:
    """One key prefix for the router process this module shares; emptied after every test."""
    prefix = f"kst:{uuid.uuid4().hex[:12]}:"
    yield prefix
    _delete_prefix(redis_url, prefix)


def _delete_prefix(redis_url: str, prefix: str) -> None:
    client = sync_redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        # arq keeps each queued job under `arq:job:<id>`, outside our prefix; the queue itself is inside
        queued = client.zrange(Keys(prefix).arq_queue(), 0, -1)
        doomed = [f"arq:job:{job_id}" for job_id in queued]
        doomed += list(client.scan_iter(match=f"{prefix}*", count=1000))
        for start in range(0, len(doomed), 500):
            client.delete(*doomed[start : start + 500])
    finally:
        client.close()


@pytest.fixture(scope="module")
def router(
    redis_url: str, module_prefix: str, secret_key: str, emulator: ServiceProcess
) -> Iterator[ServiceProcess]:
    env = {
        "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": module_prefix,
        "KIRO_SECRET_KEY": secret_key,
        "INTERNAL_API_KEY": "test-internal-" + uuid.uuid4().hex,
        "ADMIN_PASSWORD": PASSWORD,
        "ADMIN_API_KEY": ADMIN_KEY,
        "GATEWAY_URLS": "http://127.0.0.1:9",
        "KIRO_EMULATOR_URL": emulator.url,
    }
    with ServiceProcess("services.router", env=env, name="router") as proc:
        yield proc


@pytest.fixture(autouse=True)
def _fresh_state(router: ServiceProcess, redis_url: str, module_prefix: str) -> Iterator[None]:
    """Tests share the router process but not its data: everything under its prefix goes after each."""
    yield
    _delete_prefix(redis_url, module_prefix)


@pytest.fixture
def keys(module_prefix: str) -> Keys:
    return Keys(module_prefix)


@pytest.fixture
async def admin(router: ServiceProcess) -> AsyncIterator[httpx.AsyncClient]:
    """A client authenticated with the admin API key (the way scripts call the API)."""
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    async with httpx.AsyncClient(base_url=router.url + "/admin/api", headers=headers, timeout=10) as client:
        yield client


@pytest.fixture
async def anonymous(router: ServiceProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=router.url + "/admin/api", timeout=10) as client:
        yield client


def message(response: httpx.Response) -> str:
    """The human-readable error of an admin API answer, whatever its exact shape."""
    body = response.json()
    detail = body.get("detail", body.get("error", body))
    if isinstance(detail, dict):
        detail = detail.get("message", detail)
    return str(detail)


async def add_social(admin: httpx.AsyncClient, **extra: Any) -> tuple[dict[str, Any], str]:
    token = "aorAAAAAG-test-" + uuid.uuid4().hex
    r = await admin.post("/accounts", json={"auth_kind": "social", "refresh_token": token, **extra})
    assert r.status_code == 201, r.text
    return r.json(), token


def kiro_go_config() -> dict[str, Any]:
    """A kiro-go data/config.json: a social and a Builder ID account, and one entry without a token."""
    social = {
        "id": "1",
        "email": "a@example.com",
        "refreshToken": "rt-a-" + uuid.uuid4().hex,
        "authMethod": "social",
        "provider": "Google",
        "enabled": True,
        "usageCurrent": 12.5,
        "usageLimit": 50,
        "nextResetDate": "2030-01-01",
    }
    builder = {
        "id": "2",
        "nickname": "builder",
        "refreshToken": "rt-b-" + uuid.uuid4().hex,
        "authMethod": "idc",
        "clientId": "cid",
        "clientSecret": "csecret",
        "region": "us-east-1",
        "provider": "BuilderId",
    }
    broken = {"id": "3", "nickname": "broken", "authMethod": "social"}
    return {"password": "kiro-go-panel-password", "accounts": [social, builder, broken]}


# --- authentication -------------------------------------------------------------------------------


async def test_every_admin_route_needs_a_session_or_the_api_key(anonymous: httpx.AsyncClient) -> None:
    for method, path in [("GET", "/accounts"), ("GET", "/keys"), ("GET", "/settings"), ("GET", "/stats")]:
        r = await anonymous.request(method, path)
        assert r.status_code == 401, (path, r.text)
    r = await anonymous.get("/accounts", headers={"Authorization": "Bearer wrong-key"})
    assert r.status_code == 401
    assert "invalid admin API key" in message(r)
    r = await anonymous.get("/session", headers={"Cookie": "ks_admin=forged-session-id"})
    assert r.status_code == 401


async def test_login_sets_an_httponly_strict_cookie_whose_session_is_stored_hashed(
    anonymous: httpx.AsyncClient, redis: aioredis.Redis, keys: Keys
) -> None:
    wrong = await anonymous.post("/login", json={"password": "not-it"})
    assert wrong.status_code == 401
    assert "wrong password" in message(wrong)

    r = await anonymous.post("/login", json={"password": "test-admin-password"})
    assert r.status_code == 200, r.text
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("ks_admin=")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    assert "Secure" not in cookie  # plain http on loopback; behind https the flag is set
    session_id = anonymous.cookies["ks_admin"]
    assert 0 < await redis.ttl(keys.admin_session(sha256_hex(session_id))) <= 12 * 3600  # sessions expire
    assert not [k async for k in redis.scan_iter(match=f"{keys.prefix}*{session_id}*")]
    stored = await redis.hget(keys.admin(), "password_hash")
    assert stored and stored.startswith("scrypt$") and verify_password("test-admin-password", stored)

    assert (await anonymous.get("/session")).json() == {"authenticated": True, "via": "session"}
    assert (await anonymous.get("/accounts")).status_code == 200

    behind_tls = await anonymous.post(
        "/login", json={"password": "test-admin-password"}, headers={"X-Forwarded-Proto": "https"}
    )
    assert "Secure" in behind_tls.headers["set-cookie"]


async def test_logout_ends_the_session(anonymous: httpx.AsyncClient) -> None:
    await anonymous.post("/login", json={"password": "test-admin-password"})
    session_id = anonymous.cookies["ks_admin"]
    assert (await anonymous.post("/logout", headers=CSRF)).status_code == 200
    r = await anonymous.get("/session", headers={"Cookie": f"ks_admin={session_id}"})
    assert r.status_code == 401


async def test_repeated_wrong_passwords_lock_the_login_even_for_the_right_password(
    anonymous: httpx.AsyncClient,
) -> None:
    for _ in range(10):
        assert (await anonymous.post("/login", json={"password": "guess"})).status_code == 401
    r = await anonymous.post("/login", json={"password": "test-admin-password"})
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) > 0
    assert "too many failed logins" in message(r)


async def test_cookie_session_changes_need_the_csrf_header_and_same_origin(
    anonymous: httpx.AsyncClient, router: ServiceProcess
) -> None:
    await anonymous.post("/login", json={"password": "test-admin-password"})
    body = {"name": "csrf-probe"}
    r = await anonymous.post("/keys", json=body)
    assert r.status_code == 403
    assert "X-Requested-With" in message(r)
    r = await anonymous.post("/keys", json=body, headers={**CSRF, "Origin": "https://evil.example"})
    assert r.status_code == 403
    r = await anonymous.post("/keys", json=body, headers={**CSRF, "Origin": router.url})
    assert r.status_code == 201


# --- accounts -------------------------------------------------------------------------------------


async def test_added_account_is_shown_without_secrets_and_its_token_is_stored_encrypted(
    admin: httpx.AsyncClient, redis: aioredis.Redis, keys: Keys, secret_key: str
) -> None:
    account, token = await add_social(admin, label="work laptop", weight=250)
    assert account["label"] == "work laptop"
    assert account["weight"] == 250
    assert account["auth_kind"] == "social"
    assert account["has_refresh_token"] is True
    assert account["state"] == AccountState.PENDING  # until the refresher fetched its first token
    assert account["stats"]["requests"] == 0
    assert not any(name.endswith("_enc") for name in account)

    listing = await admin.get("/accounts")
    assert token not in listing.text
    assert [a["id"] for a in listing.json()["accounts"]] == [account["id"]]

    stored = await redis.hget(keys.account(account["id"]), "refresh_token_enc")
    assert stored and stored.startswith("fernet:") and token not in stored
    assert SecretBox(secret_key).decrypt(stored) == token


async def test_adding_the_same_login_again_answers_200_with_the_same_account(
    admin: httpx.AsyncClient,
) -> None:
    account, token = await add_social(admin)
    again = await admin.post("/accounts", json={"auth_kind": "social", "refresh_token": token})
    assert again.status_code == 200
    assert again.json()["id"] == account["id"]
    assert len((await admin.get("/accounts")).json()["accounts"]) == 1


async def test_idc_account_needs_client_credentials_and_never_shows_the_secret(
    admin: httpx.AsyncClient,
) -> None:
    body = {
        "auth_kind": "idc",
        "refresh_token": "idc-refresh-" + uuid.uuid4().hex,
        "auth_region": "eu-west-1",
    }
    r = await admin.post("/accounts", json=body)
    assert r.status_code == 422
    assert "client_id and client_secret" in message(r)
    secret = "idc-client-secret-" + uuid.uuid4().hex
    r = await admin.post("/accounts", json={**body, "client_id": "client-1", "client_secret": secret})
    assert r.status_code == 201, r.text
    assert secret not in r.text and body["refresh_token"] not in r.text
    assert r.json()["has_client_secret"] is True
    assert r.json()["auth_region"] == "eu-west-1"


async def test_kiro_auth_token_file_adds_an_account(admin: httpx.AsyncClient) -> None:
    token_file = {
        "accessToken": "aoaAAAAAG-access",
        "refreshToken": "aorAAAAAG-file-" + uuid.uuid4().hex,
        "expiresAt": "2030-01-01T12:00:00.000Z",
        "authMethod": "social",
        "provider": "Github",
        "profileArn": "arn:aws:codewhisperer:us-east-1:000000000000:profile/TEST",
        "region": "us-east-1",
    }
    r = await admin.post("/accounts", json={"kiro_auth_token": token_file, "label": "from file", "weight": 7})
    assert r.status_code == 201, r.text
    account = r.json()
    assert (account["label"], account["weight"], account["provider"]) == ("from file", 7, "Github")
    assert token_file["refreshToken"] not in r.text


async def test_proxy_credentials_are_masked_in_every_answer_and_never_stored_plain(
    admin: httpx.AsyncClient, redis: aioredis.Redis, keys: Keys, secret_key: str
) -> None:
    proxy, masked = "http://pu:pr0xy-s3cret@127.0.0.1:3128", "http://pu:****@127.0.0.1:3128"
    account, _ = await add_social(admin, proxy_url=proxy)
    path = f"/accounts/{account['id']}"
    assert account["proxy_url"] == masked
    assert (await admin.get(path)).json()["proxy_url"] == masked
    listing = await admin.get("/accounts")
    assert "pr0xy-s3cret" not in listing.text and masked in listing.text
    assert "pr0xy-s3cret" not in " ".join((await redis.hgetall(keys.account(account["id"]))).values())

    # the panel saves its edit form with the masked value it was shown: the real URL is kept
    r = await admin.patch(path, json={"proxy_url": masked, "label": "edited"})
    assert r.status_code == 200 and r.json()["proxy_url"] == masked
    backup = (await admin.get("/accounts/export")).json()
    assert "pr0xy-s3cret" not in str(backup)
    assert (await admin.delete(path)).status_code == 200
    assert (await admin.post("/accounts/restore", json=backup)).json()["added"] == [account["id"]]
    stored = await redis.hgetall(keys.account(account["id"]))
    assert SecretBox(secret_key).decrypt(stored["proxy_url_enc"]) == proxy


async def test_edit_disable_enable_and_delete_an_account(
    admin: httpx.AsyncClient, redis: aioredis.Redis, keys: Keys
) -> None:
    account, _ = await add_social(admin)
    path = f"/accounts/{account['id']}"
    r = await admin.patch(
        path, json={"weight": 5, "proxy_url": "socks5://127.0.0.1:1080", "label": "renamed"}
    )
    assert r.status_code == 200, r.text
    assert (r.json()["weight"], r.json()["proxy_url"], r.json()["label"]) == (
        5,
        "socks5://127.0.0.1:1080",
        "renamed",
    )

    r = await admin.post(f"{path}/disable")
    assert r.json()["state"] == "disabled" and r.json()["enabled"] is False
    assert await redis.zscore(keys.pool(), account["id"]) is None
    r = await admin.post(f"{path}/enable")
    assert r.json()["enabled"] is True and r.json()["state"] != "disabled"

    assert (await admin.delete(path)).status_code == 200
    assert (await admin.get(path)).status_code == 404
    assert not [k async for k in redis.scan_iter(match=f"{keys.account_prefix(account['id'])}*")]
    assert (await admin.delete(path)).status_code == 404


async def test_refresh_button_queues_one_refresh_job_for_the_refresher(
    admin: httpx.AsyncClient, redis: aioredis.Redis, keys: Keys
) -> None:
    account, _ = await add_social(admin)

    async def queued_jobs() -> list[str]:
        jobs = await redis.zrange(keys.arq_queue(), 0, -1)
        return [job for job in jobs if job.startswith(keys.refresh_job_id(account["id"], ""))]

    assert len(await queued_jobs()) == 1  # adding queued the first refresh
    r = await admin.post(f"/accounts/{account['id']}/refresh")
    assert r.json() == {"account_id": account["id"], "queued": True}  # forced: a job of its own
    r = await admin.post(f"/accounts/{account['id']}/refresh")
    assert r.json() == {"account_id": account["id"], "queued": False}  # a burst collapses into one job
    assert len(await queued_jobs()) == 2
    await redis.delete(keys.refresh_pending(account["id"], True))  # what a job does as it starts
    r = await admin.post(f"/accounts/{account['id']}/refresh")
    assert r.json()["queued"] is True
    assert len(await queued_jobs()) == 3
    assert (await admin.post("/accounts/acc_missing/refresh")).status_code == 404


async def test_kiro_go_import_reports_added_updated_and_skipped(admin: httpx.AsyncClient) -> None:
    config = kiro_go_config()
    r = await admin.post("/accounts/import", json=config)
    assert r.status_code == 200, r.text
    report = r.json()
    assert len(report["added"]) == 2 and report["updated"] == []
    assert report["skipped"] == [{"entry": "broken", "reason": "no refresh token"}]
    assert "rt-a-" not in r.text and "csecret" not in r.text

    again = (await admin.post("/accounts/import", json=config)).json()
    assert sorted(again["updated"]) == sorted(report["added"]) and again["added"] == []
    accounts = {a["label"]: a for a in (await admin.get("/accounts")).json()["accounts"]}
    assert accounts["a@example.com"]["usage_limit"] == 50
    assert accounts["builder"]["auth_kind"] == "idc"


async def test_export_restores_deleted_accounts_and_holds_no_plain_token(admin: httpx.AsyncClient) -> None:
    account, token = await add_social(admin, label="backed up")
    backup = await admin.get("/accounts/export")
    assert backup.status_code == 200 and token not in backup.text
    await admin.delete(f"/accounts/{account['id']}")
    r = await admin.post("/accounts/restore", json=backup.json())
    assert r.json()["added"] == [account["id"]], r.text
    assert (await admin.get(f"/accounts/{account['id']}")).json()["label"] == "backed up"
    r = await admin.post(
        "/accounts/restore", json={"format": "kiro-stack-accounts-backup", "data": "fernet:junk"}
    )
    assert r.status_code == 400
    assert "does not open" in message(r)


# --- client keys ----------------------------------------------------------------------------------


async def test_client_key_is_shown_once_and_stored_only_as_its_hash(
    admin: httpx.AsyncClient, redis: aioredis.Redis, keys: Keys
) -> None:
    r = await admin.post("/keys", json={"name": "laptop", "allowed_models": ["claude-sonnet-4.5"], "rpm": 60})
    assert r.status_code == 201, r.text
    created = r.json()
    plain = created["key"]
    assert plain.startswith("sk-") and len(plain) > 30
    assert created["hint"].endswith(plain[-4:])

    listing = await admin.get("/keys")
    assert plain not in listing.text
    [row] = listing.json()["keys"]
    assert (row["name"], row["rpm"], row["allowed_models"], row["enabled"]) == (
        "laptop", 60, ["claude-sonnet-4.5"], True
    )  # fmt: skip
    assert row["usage"]["requests"] == 0
    stored = await redis.hgetall(keys.client_key(sha256_hex(plain)))
    assert stored["name"] == "laptop" and plain not in orjson.dumps(stored).decode()

    r = await admin.patch(f"/keys/{created['id']}", json={"enabled": False, "daily_tokens": 1000})
    assert (r.json()["enabled"], r.json()["daily_tokens"]) == (False, 1000)
    assert (await admin.delete(f"/keys/{created['id']}")).status_code == 200
    assert (await admin.get("/keys")).json()["keys"] == []
    assert not await redis.exists(keys.client_key(sha256_hex(plain)))


async def test_client_key_limits_are_validated_and_listed_with_month_credits_and_requests_in_flight(
    admin: httpx.AsyncClient,
) -> None:
    in_a_day = int(time.time()) + 86400
    limits = {"max_concurrency": 3, "monthly_credits": 500, "expires_at": in_a_day, "note": "ci runners"}
    bad = [{"max_concurrency": -1}, {"monthly_credits": 1.5}, {"note": "x" * 501}, {"expires_at": 1_000_000}]

    r = await admin.post("/keys", json={"name": "ci", **limits})
    refused = [await admin.post("/keys", json={"name": "bad", **fields}) for fields in bad]
    [row] = (await admin.get("/keys")).json()["keys"]
    expire_now = await admin.patch(f"/keys/{row['id']}", json={"expires_at": 1_000_000, "note": ""})
    [expired] = (await admin.get("/keys")).json()["keys"]

    assert r.status_code == 201, r.text
    assert [x.status_code for x in refused] == [422, 422, 422, 422]
    assert {name: row[name] for name in limits} == limits
    assert (row["month_credits"], row["in_flight"], row["expired"], row["usage"]["credits"]) == (
        0,
        0,
        False,
        0,
    )
    assert expire_now.status_code == 200 and expired["expired"] and expired["note"] == ""


async def test_a_kiro_cli_database_upload_adds_its_login(
    admin: httpx.AsyncClient, redis: aioredis.Redis, keys: Keys
) -> None:
    database = social_login_db_bytes("aorCliUploadRefresh0001")
    headers = {"content-type": "application/octet-stream"}
    r = await admin.post(
        "/accounts/import/kiro-cli", content=database, params={"label": "laptop"}, headers=headers
    )
    again = await admin.post("/accounts/import/kiro-cli", content=database, headers=headers)
    not_a_db = await admin.post("/accounts/import/kiro-cli", content=b'{"accounts": []}', headers=headers)

    assert r.status_code == 200, r.text
    (account_id,) = r.json()["added"]
    assert again.json()["updated"] == [account_id]
    account = (await admin.get(f"/accounts/{account_id}")).json()
    assert (account["label"], account["auth_kind"], account["profile_arn"]) == (
        "laptop",
        "social",
        PROFILE_ARN,
    )
    assert not_a_db.status_code == 400 and "SQLite" in not_a_db.json()["detail"]
    assert "aorCliUpload" not in orjson.dumps(account).decode()


# --- settings and stats ---------------------------------------------------------------------------


async def test_settings_change_is_validated_stored_and_announced(
    admin: httpx.AsyncClient, redis: aioredis.Redis, keys: Keys
) -> None:
    defaults = (await admin.get("/settings")).json()
    assert defaults["thinking_suffix"] == "-thinking"
    assert defaults["openai_thinking_format"] == "reasoning_content"
    assert defaults["claude_thinking_format"] == "blocks"

    pubsub = redis.pubsub()
    await pubsub.subscribe(keys.events())
    await pubsub.get_message(timeout=1)  # the subscribe confirmation
    change = {
        "thinking_suffix": "-think",
        "model_aliases": {"gpt-4o": "claude-sonnet-4.5"},
        "failover_attempts": 2,
        "max_concurrency": 3,
        "min_interval_ms": 250,
        "claude_thinking_format": "thinking_tags",
    }
    r = await admin.put("/settings", json=change)
    assert r.status_code == 200, r.text
    assert r.json()["model_aliases"] == {"gpt-4o": "claude-sonnet-4.5"}
    notice = await pubsub.get_message(ignore_subscribe_messages=True, timeout=2)
    await pubsub.aclose()
    assert notice is not None and orjson.loads(notice["data"])["type"] == "settings_changed"
    assert orjson.loads(await redis.hget(keys.settings(), "thinking_suffix") or "null") == "-think"

    assert r.json()["claude_thinking_format"] == "thinking_tags"

    for bad in [{"openai_thinking_format": "xml"}, {"failover_attempts": 0}, {"thinking_suffix": "a b"},
                {"model_aliases": {"x": "x"}}, {"model_aliases": {"": "m"}}, {"max_concurrency": 0},
                {"min_interval_ms": -1}, {"claude_thinking_format": "think"}]:  # fmt: skip
        r = await admin.put("/settings", json=bad)
        assert r.status_code == 422, (bad, r.text)
    after = (await admin.get("/settings")).json()
    assert (after["thinking_suffix"], after["failover_attempts"]) == ("-think", 2)
    assert (after["max_concurrency"], after["min_interval_ms"]) == (3, 250)


async def test_settings_defaults_are_what_a_gateway_does_when_nothing_is_stored(
    admin: httpx.AsyncClient,
) -> None:
    # The panel shows (and saves back) what this API reports; a default that differs from the gateway's
    # changes behaviour on the first save of any setting (auto_continue once read false here, true there).
    shown = (await admin.get("/settings")).json()
    gateway = GatewaySettings.model_fields
    for name in (
        "thinking_suffix",
        "openai_thinking_format",
        "claude_thinking_format",
        "auto_continue",
        "endpoint_order",
    ):
        assert shown[name] == gateway[name].default == shown["defaults"][name], name
    assert shown["endpoint_origins"] == GatewaySettings().endpoint_origins == {}
    assert shown["default_model"] == ""  # "not set": each gateway keeps its own DEFAULT_MODEL
    assert shown["model_aliases"] == {}


async def test_settings_show_the_built_in_retired_names_and_which_operator_alias_replaces_one(
    admin: httpx.AsyncClient,
) -> None:
    shown = {e["name"]: e for e in (await admin.get("/settings")).json()["built_in_aliases"]}
    assert shown["claude-3.5-haiku"] == {
        "name": "claude-3.5-haiku",
        "model": "claude-haiku-4.5",
        "overridden_by": {},
    }
    assert shown.keys() == RETIRED_MODELS.keys()

    aliases = {"claude-3-5-haiku-20241022": "claude-sonnet-4.5", "team": "claude-opus-4.7"}
    after = (await admin.put("/settings", json={"model_aliases": aliases})).json()["built_in_aliases"]
    overridden = {e["name"]: e["overridden_by"] for e in after if e["overridden_by"]}
    assert overridden == {"claude-3.5-haiku": {"claude-3-5-haiku-20241022": "claude-sonnet-4.5"}}


async def test_stats_show_pool_counts_totals_and_per_account_and_key_counters(
    admin: httpx.AsyncClient, redis: aioredis.Redis, keys: Keys
) -> None:
    first, _ = await add_social(admin, label="one")
    second, _ = await add_social(admin, label="two")
    await admin.post(f"/accounts/{second['id']}/disable")
    await redis.hset(keys.account_stats(first["id"], today()), mapping={
        "requests": 3, "errors": 1, "input_tokens": 100, "output_tokens": 40, "credits": "0.5"
    })  # fmt: skip
    await admin.post("/keys", json={"name": "ci"})

    stats = (await admin.get("/stats")).json()
    assert stats["pool"]["total"] == 2
    assert stats["pool"]["disabled"] == 1 and stats["pool"]["pending"] == 1
    assert stats["totals"] == {
        "requests": 3,
        "errors": 1,
        "input_tokens": 100,
        "output_tokens": 40,
        "credits": 0.5,
    }
    per_account = {a["id"]: a for a in stats["accounts"]}
    assert per_account[first["id"]]["requests"] == 3
    assert [k["name"] for k in stats["keys"]] == ["ci"]
    listing = (await admin.get("/accounts")).json()["accounts"]
    assert {a["id"]: a["stats"]["errors"] for a in listing} == {first["id"]: 1, second["id"]: 0}


ZERO = {"requests": 0, "errors": 0, "input_tokens": 0, "output_tokens": 0, "credits": 0.0}


def counters(requests: int, errors: int, tokens_in: int, tokens_out: int, credits: float) -> dict[str, Any]:
    """A stats hash (or the answer's counters) in the order the history answers them."""
    return {
        "requests": requests,
        "errors": errors,
        "input_tokens": tokens_in,
        "output_tokens": tokens_out,
        "credits": credits,
    }


async def test_history_per_account_has_every_day_oldest_first_zeros_included_and_all_time(
    admin: httpx.AsyncClient, redis: aioredis.Redis, keys: Keys
) -> None:
    alpha = (await add_social(admin, label="Alpha"))[0]["id"]
    beta = (await add_social(admin, label="Beta"))[0]["id"]
    week = last_days(7)
    await redis.hset(keys.account_stats(alpha, week[0]), mapping=counters(5, 1, 500, 50, 0.5))
    await redis.hset(keys.account_stats(alpha, week[-1]), mapping=counters(2, 0, 200, 20, 0.25))
    await redis.hset(keys.account_stats(beta, week[-1]), mapping=counters(1, 1, 10, 0, 0.0))
    await redis.hset(keys.account_stats(alpha, last_days(8)[0]), mapping=counters(99, 0, 0, 0, 9.0))
    await redis.hset(keys.account_stats_total(alpha), mapping=counters(120, 3, 9000, 900, 12.5))
    await redis.hset(keys.account_stats_total(beta), mapping=counters(1, 1, 10, 0, 0.0))

    body = (await admin.get("/stats", params={"days": 7})).json()

    assert body["by"] == "account"
    assert body["totals"] == counters(3, 1, 210, 20, 0.25)  # today's figures as before
    series = {s["id"]: s for s in body["series"]}
    assert (series[alpha]["name"], series[beta]["name"]) == ("Alpha", "Beta")
    days = series[alpha]["days"]
    assert [d["day"] for d in days] == week
    assert days[0] == {"day": week[0], **counters(5, 1, 500, 50, 0.5)}
    assert days[1:6] == [{"day": day, **ZERO} for day in week[1:6]]
    assert days[6] == {"day": week[6], **counters(2, 0, 200, 20, 0.25)}
    assert [d["day"] for d in body["day_totals"]] == week
    assert body["day_totals"][6] == {"day": week[6], **counters(3, 1, 210, 20, 0.25)}
    assert body["day_totals"][3] == {"day": week[3], **ZERO}
    assert series[alpha]["all_time"] == counters(120, 3, 9000, 900, 12.5)
    assert body["all_time"] == counters(121, 4, 9010, 900, 12.5)

    today_only = (await admin.get("/stats")).json()
    assert [[d["day"] for d in s["days"]] for s in today_only["series"]] == [[week[-1]], [week[-1]]]


async def test_history_per_client_key_names_each_key_and_reads_its_all_time_usage(
    admin: httpx.AsyncClient, redis: aioredis.Redis, keys: Keys
) -> None:
    client_keys = ClientKeys(redis, keys)
    ci, _ = await client_keys.create("ci")
    batch, _ = await client_keys.create("batch")
    month = last_days(30)
    await redis.hset(keys.client_key_usage(ci.key_hash, month[0]), mapping=counters(4, 0, 40, 4, 0.4))
    await redis.hset(keys.client_key_usage(batch.key_hash, month[15]), mapping=counters(7, 2, 70, 7, 0.7))
    await redis.hset(keys.client_key_usage_total(ci.key_hash), mapping=counters(50, 1, 400, 40, 4.0))

    body = (await admin.get("/stats", params={"days": 30, "by": "key"})).json()

    assert body["by"] == "key"
    assert [(s["id"], s["name"]) for s in body["series"]] == [(ci.id, "ci"), (batch.id, "batch")]
    by_name = {s["name"]: s for s in body["series"]}
    assert len(by_name["ci"]["days"]) == len(by_name["batch"]["days"]) == 30
    assert by_name["ci"]["days"][0] == {"day": month[0], **counters(4, 0, 40, 4, 0.4)}
    assert by_name["batch"]["days"][15] == {"day": month[15], **counters(7, 2, 70, 7, 0.7)}
    assert by_name["batch"]["all_time"] == ZERO
    assert body["all_time"] == counters(50, 1, 400, 40, 4.0)
    assert sum(d["requests"] for d in body["day_totals"]) == 11


async def test_malformed_account_record_is_listed_apart_with_the_reason(
    admin: httpx.AsyncClient, redis: aioredis.Redis, keys: Keys
) -> None:
    await redis.sadd(keys.accounts(), "acc_broken")
    await put_account(redis, keys, {"id": "acc_broken", "weight": "heavy"})
    body = (await admin.get("/accounts")).json()
    assert body["accounts"] == []
    assert body["invalid"][0]["id"] == "acc_broken" and "weight" in body["invalid"][0]["reason"]
    r = await admin.get("/accounts/acc_broken")
    assert r.status_code == 409 and "malformed" in message(r)
    r = await admin.patch("/accounts/acc_broken", json={"label": "fixed?"})
    assert r.status_code == 409 and "weight" in message(r)
    assert (await admin.post("/accounts/acc_broken/enable")).status_code == 409


# --- bad input ------------------------------------------------------------------------------------

BAD_INPUT = [
    ("POST", "/accounts", {}, 422, "refresh_token"),
    ("POST", "/accounts", {"auth_kind": "github", "refresh_token": "x"}, 422, "auth_kind"),
    ("POST", "/accounts", {"auth_kind": "social", "refresh_token": "x", "weight": -1}, 422, "weight"),
    (
        "POST",
        "/accounts",
        {"auth_kind": "social", "refresh_token": "x", "proxy_url": "ftp://p"},
        422,
        "proxy",
    ),
    (
        "POST",
        "/accounts",
        {"auth_kind": "social", "refresh_token": "x", "auth_region": "mars"},
        422,
        "region",
    ),
    ("POST", "/accounts", {"kiro_auth_token": {"authMethod": "social"}}, 400, "refresh"),
    ("POST", "/accounts", "not json", 422, ""),
    ("POST", "/accounts/import", {"something": "else"}, 400, "kiro-go"),
    ("POST", "/accounts/import", {"accounts": "nope"}, 400, "accounts"),
    ("POST", "/accounts/import", [1, 2], 200, "not a string"),  # a report of skipped entries
    ("POST", "/accounts/import", {"refresh_tokens": 5}, 400, ""),
    (
        "POST",
        "/accounts",
        {"kiro_auth_token": {"refreshToken": "x", "authMethod": "weird"}},
        400,
        "authMethod",
    ),
    ("POST", "/accounts", {"kiro_auth_token": {"refreshToken": 5}}, 400, "refresh"),
    ("POST", "/accounts", {"kiro_auth_token": "file"}, 422, "kiro_auth_token"),
    ("POST", "/accounts/restore", {"format": "zip"}, 400, "kiro-stack-accounts-backup"),
    ("POST", "/accounts/restore", {"backup": "zip"}, 422, "backup"),
    ("POST", "/accounts/device-flow", {"start_url": "http://insecure"}, 422, "https"),
    ("PATCH", "/accounts/acc_nope", {}, 400, "nothing to change"),
    ("PATCH", "/accounts/acc_nope", {"weight": 5}, 404, "acc_nope"),
    ("PATCH", "/accounts/acc_nope", {"weight": "heavy"}, 422, "weight"),
    ("POST", "/accounts/acc_nope/explode", None, 422, "action"),
    ("POST", "/accounts/acc_nope/enable", None, 404, "acc_nope"),
    ("GET", "/accounts/bad id!", None, 422, "account_id"),
    ("POST", "/keys", {"name": ""}, 422, "name"),
    ("POST", "/keys", {"name": "k", "rpm": -5}, 422, "rpm"),
    ("PATCH", "/keys/k_missing", {"name": "x"}, 404, "k_missing"),
    ("DELETE", "/keys/k_missing", None, 404, "k_missing"),
    ("PUT", "/settings", {}, 400, "nothing to change"),
    ("PUT", "/settings", {"auto_continue": "maybe"}, 422, "auto_continue"),
    ("PUT", "/settings", {"endpoint_order": "auto,kiro"}, 400, "use 'auto' or a comma-separated list"),
    ("POST", "/login", {}, 422, "password"),
    ("GET", "/stats?days=0", None, 422, "days"),
    ("GET", "/stats?days=36", None, 422, "less than or equal to 35"),
    ("GET", "/stats?days=week", None, 422, "days"),
    ("GET", "/stats?by=model", None, 422, "by"),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "hint"), BAD_INPUT)
async def test_bad_input_gets_a_clear_client_error(
    admin: httpx.AsyncClient, method: str, path: str, body: Any, status: int, hint: str
) -> None:
    if isinstance(body, str):
        r = await admin.request(method, path, content=body, headers={"Content-Type": "application/json"})
    else:
        r = await admin.request(method, path, json=body)
    assert r.status_code == status, r.text
    assert hint.lower() in message(r).lower()


async def test_device_login_shows_the_user_code_and_reports_pending(admin: httpx.AsyncClient) -> None:
    r = await admin.post("/accounts/device-flow", json={"label": "builder id"})
    assert r.status_code == 200, r.text
    flow = r.json()
    assert flow["user_code"] and flow["verification_uri_complete"].startswith("http")
    status = (await admin.get(f"/accounts/device-flow/{flow['flow_id']}")).json()
    assert status == {"status": "pending"}
    assert (await admin.get("/accounts/device-flow/unknown-flow")).json() == {"status": "expired"}


async def test_admin_api_is_described_in_the_openapi_schema_with_its_request_models(
    router: ServiceProcess,
) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}  # strangers get the client API only
    async with httpx.AsyncClient(timeout=10, headers=headers) as client:
        schema = (await client.get(router.url + "/openapi.json")).json()
    paths = schema["paths"]
    body = paths["/admin/api/accounts"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/AccountCreate"}
    assert {"/admin/api/keys/{key_id}", "/admin/api/settings", "/admin/api/accounts/import"} <= set(paths)
    assert "refresh_token" in schema["components"]["schemas"]["AccountCreate"]["properties"]
