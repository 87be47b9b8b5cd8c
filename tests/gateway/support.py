"""Helpers for gateway tests: a gateway process against the emulator, SDK clients, emulator control."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anthropic
import httpx
import openai
import orjson

from tests.support.procs import ServiceProcess

AnthropicFactory = Callable[..., anthropic.Anthropic]
OpenAIFactory = Callable[..., openai.OpenAI]

INTERNAL_KEY = "gw-test-internal-" + uuid.uuid4().hex

#: settings of the shared test gateway: fast retries, generous first-token timeout, small body limit
BASE_ENV = {
    "INTERNAL_API_KEY": INTERNAL_KEY,
    "RETRY_ATTEMPTS": "3",
    "RETRY_BASE_DELAY": "0.01",
    "RETRY_MAX_DELAY": "0.05",
    "RETRY_BUDGET_MIN": "1000",  # retries counted one request at a time; the budget: test_retry_budget
    "FIRST_TOKEN_TIMEOUT": "10",
    "PING_INTERVAL": "5",
    "IDLE_READ_TIMEOUT": "10",
    "MAX_BODY_BYTES": "2000000",
    "LOG_LEVEL": "INFO",
}


def start_gateway(emulator_url: str, **env: str) -> ServiceProcess:
    merged = {**BASE_ENV, "KIRO_EMULATOR_URL": emulator_url, **env}
    return ServiceProcess("services.gateway", env=merged, name="gateway").start()


def directive(**script: Any) -> str:
    """The emulator's inline script line (services/kiro_emulator/README.md)."""
    return "[[emulator " + orjson.dumps(script).decode() + "]]"


class Emulator:
    """The emulator's control API (`/_emulator/...`) over sync httpx."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=10)

    def account(self, **fields: Any) -> Account:
        name = fields.pop("name", None) or "gw-" + uuid.uuid4().hex[:10]
        token = fields.pop("access_token", None) or "gw-access-" + uuid.uuid4().hex
        r = self.http.post("/_emulator/accounts", json={"name": name, "access_token": token, **fields})
        r.raise_for_status()
        data = r.json()
        return Account(
            name,
            data["access_token"],
            data["refresh_token"],
            data.get("profile_arn"),
            data.get("client_id") or "",
            data.get("client_secret") or "",
        )

    def patch(self, name: str, **fields: Any) -> None:
        self.http.patch(f"/_emulator/accounts/{name}", json=fields).raise_for_status()

    def expire(self, name: str) -> None:
        self.http.post(f"/_emulator/accounts/{name}/expire", json={}).raise_for_status()

    def fault(self, **rule: Any) -> None:
        self.http.post("/_emulator/faults", json=rule).raise_for_status()

    def script(self, account: str, **script: Any) -> None:
        self.http.post("/_emulator/scripts", json={"account": account, **script}).raise_for_status()

    def counts(self, name: str) -> dict[str, int]:
        """Calls per endpoint for one account, without the gateway's background model-list fetches."""
        r = self.http.get("/_emulator/counters", params={"account": name})
        r.raise_for_status()
        counts: dict[str, int] = r.json()["counts"]
        return {endpoint: n for endpoint, n in counts.items() if endpoint != "models" and n}

    def requests(self, name: str, endpoint: str | None = None) -> list[dict[str, Any]]:
        params = {"account": name, **({"endpoint": endpoint} if endpoint else {})}
        r = self.http.get("/_emulator/requests", params=params)
        r.raise_for_status()
        result: list[dict[str, Any]] = r.json()
        return result


@dataclass(frozen=True)
class Account:
    name: str
    access_token: str
    refresh_token: str
    profile_arn: str | None
    client_id: str = ""
    client_secret: str = ""

    def headers(self, **extra: str) -> dict[str, str]:
        """The internal headers the router would add for this account."""
        return {
            "X-Internal-Key": INTERNAL_KEY,
            "X-Kiro-Access-Token": self.access_token,
            "X-Kiro-Account-Id": self.name,
            **({"X-Kiro-Profile-Arn": self.profile_arn} if self.profile_arn else {}),
            **extra,
        }


def anthropic_client(gateway: ServiceProcess, account: Account, **headers: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=gateway.url,
        api_key="client-key-unused",
        max_retries=0,
        timeout=30,
        default_headers=account.headers(**headers),
    )


def openai_client(gateway: ServiceProcess, account: Account, **headers: str) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=gateway.url + "/v1",
        api_key="client-key-unused",
        max_retries=0,
        timeout=30,
        default_headers=account.headers(**headers),
    )


def sse_events(raw: str) -> list[tuple[str | None, str]]:
    """(event name, data) of each SSE event; comment lines kept as ("comment", text)."""
    events: list[tuple[str | None, str]] = []
    for block in raw.split("\n\n"):
        if not block.strip():
            continue
        name: str | None = None
        data: list[str] = []
        for line in block.split("\n"):
            if line.startswith(":"):
                events.append(("comment", line[1:].strip()))
            elif line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
        if data:
            events.append((name, "\n".join(data)))
    return events
