"""Fault suite 9a: schemathesis against the router's and the gateway's own OpenAPI descriptions.

Real processes (emulator → gateway → router on the shared Redis under a private prefix); every operation
the descriptions list (client API and admin API, authenticated as a real client/admin would be) gets
generated requests, valid and invalid. Bad input must get a 4xx, never an answer ≥ 500.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
import redis as sync_redis
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from services.kiro_emulator.control import EmulatorControl, unique_name
from tests.chaos.conftest import figure
from tests.support.procs import ServiceProcess, free_port

EXAMPLES = 25
#: what each fuzzed service answered, per operation (for the figures)
_SEEN: dict[str, dict[str, list[int]]] = {"router": {}, "gateway": {}}


@dataclass
class Target:
    name: str
    url: str
    headers: dict[str, str]
    schema_headers: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def fuzz_stack(redis_url: str, secret_key: str, emulator: ServiceProcess) -> Iterator[dict[str, Target]]:
    prefix = f"kst:{uuid.uuid4().hex[:12]}:"
    admin_key = "fuzz-admin-key-" + uuid.uuid4().hex
    client_key = "fuzz-client-key-" + uuid.uuid4().hex
    internal = "fuzz-internal-" + uuid.uuid4().hex
    env = {
        "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": prefix,
        "KIRO_SECRET_KEY": secret_key,
        "INTERNAL_API_KEY": internal,
        "ADMIN_PASSWORD": "fuzz-admin-password-" + uuid.uuid4().hex[:8],
        "ADMIN_API_KEY": admin_key,
        "PROXY_API_KEY": client_key,
        "LOG_LEVEL": "WARNING",
        "PICK_WAIT_SECONDS": "0.2",
    }
    gateway = ServiceProcess(
        "services.gateway", env={**env, "KIRO_EMULATOR_URL": emulator.url}, name="gateway"
    )
    router = ServiceProcess(
        "services.router",
        env={**env, "GATEWAY_URLS": gateway.url, "KIRO_EMULATOR_URL": emulator.url},
        name="router",
    )
    metrics_port = free_port()
    refresher = ServiceProcess(
        "services.refresher",
        ["worker"],
        env={**env, "KIRO_EMULATOR_URL": emulator.url, "REFRESHER_METRICS_PORT": str(metrics_port)},
        port=metrics_port,
        name="refresher",
    )
    control = EmulatorControl(emulator.url)
    try:
        gateway.start()
        router.start()
        refresher.start()
        _add_account(router.url, admin_key, control)
        yield {
            "router": Target(
                "router",
                router.url,
                {"x-api-key": client_key, "Authorization": f"Bearer {admin_key}"},
                {"Authorization": f"Bearer {admin_key}"},
            ),
            "gateway": Target("gateway", gateway.url, {"X-Internal-Key": internal}),
        }
    finally:
        refresher.stop()
        router.stop()
        gateway.stop()
        control.close()
        client = sync_redis.Redis.from_url(redis_url)
        found = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if found:
            client.delete(*found)
        client.close()


def _add_account(router_url: str, admin_key: str, control: EmulatorControl) -> None:
    """One real account through the admin API, so proxied requests reach the emulator."""
    emulated = control.register_account(unique_name("fuzz"))
    answer = httpx.post(
        router_url + "/admin/api/accounts",
        json={"auth_kind": "social", "refresh_token": emulated["refresh_token"], "label": "fuzz"},
        headers={"Authorization": f"Bearer {admin_key}"},
        timeout=10,
    )
    assert answer.status_code in (200, 201), answer.text
    account_id = answer.json()["id"]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # the refresher fetches its first access token
        account = httpx.get(
            f"{router_url}/admin/api/accounts/{account_id}",
            headers={"Authorization": f"Bearer {admin_key}"},
            timeout=10,
        ).json()
        if account.get("state") == "active":
            return
        time.sleep(0.1)
    raise AssertionError(f"account never became active: {account}")


def _schema(target: Target) -> schemathesis.BaseSchema:
    raw = httpx.get(target.url + "/openapi.json", headers=target.schema_headers, timeout=10).json()
    return schemathesis.openapi.from_dict(raw)


_FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)


def _fuzz(target: Target) -> list[str]:
    """Every operation of the target's description, positive and negative cases; the failures found."""
    raw = httpx.get(target.url + "/openapi.json", headers=target.schema_headers, timeout=10).json()
    schema = schemathesis.openapi.from_dict(raw)
    failures: list[str] = []
    if True:
        for result in schema.get_all_operations():
            operation = result.ok()
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

                @_FUZZ_SETTINGS
                @given(case=operation.as_strategy(generation_mode=mode))
                def run(case: schemathesis.Case) -> None:
                    status = _send(target, case)
                    key = f"{case.method.upper()} {case.path}"
                    _SEEN[target.name].setdefault(key, []).append(status)
                    if status >= 500 and len(failures) < 20:
                        failures.append(f"{key} -> {status}: {case.as_curl_command()}")

                try:
                    run()
                except Unsatisfiable:  # nothing to make invalid (an operation without parameters)
                    continue
    return failures


def _send(target: Target, case: schemathesis.Case) -> int:
    try:
        response = case.call(
            base_url=target.url, headers={**target.headers, **(case.headers or {})}, timeout=30
        )
    except requests.ConnectionError:
        return 599  # the server dropped the connection: as bad as a 500
    return response.status_code


def test_router_never_answers_5xx_to_generated_requests(fuzz_stack: dict[str, Target]) -> None:
    failures = _fuzz(fuzz_stack["router"])
    assert not failures, "\n".join(failures)


def test_gateway_never_answers_5xx_to_generated_requests(fuzz_stack: dict[str, Target]) -> None:
    failures = _fuzz(fuzz_stack["gateway"])
    assert not failures, "\n".join(failures)


def test_fuzz_figures() -> None:
    """Summary of the two fuzz runs above (runs after them in file order)."""
    for service, seen in _SEEN.items():
        answers = [status for statuses in seen.values() for status in statuses]
        figure("openapi_fuzz", f"{service}: operations fuzzed", len(seen))
        figure("openapi_fuzz", f"{service}: requests sent", len(answers))
        figure("openapi_fuzz", f"{service}: answers >= 500", sum(s >= 500 for s in answers), "0")
