"""A small synchronous client of the emulator's control API, for tests of every area.

    ctl = EmulatorControl(emulator.url)
    acct = ctl.register_account("gw-text-1")               # tokens generated, returned in the view
    ctl.queue_script("gw-text-1", text="hello", chunks=5, delay_ms=200)
    ctl.add_fault(account="gw-text-1", endpoint="chat_amazonq", kind="throttled", times=0)
    ctl.counts("gw-text-1")["chat_codewhisperer"]
    prompt = "Say hi\\n" + directive(text="hi", chunks=3)    # inline script, no control call needed

Only tests import this; services talk to the emulator through `KIRO_EMULATOR_URL` like to Kiro.
See services/kiro_emulator/README.md for every field.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx


def directive(**script: Any) -> str:
    """The inline directive line that makes the emulator answer the message with `script`."""
    return f"[[emulator {json.dumps(script, ensure_ascii=False)}]]"


def unique_name(prefix: str = "acct") -> str:
    """An account name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class EmulatorControl:
    """Calls `/_emulator/*`; every method raises `httpx.HTTPStatusError` on a refused call."""

    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(base_url=self.base_url, timeout=timeout)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> EmulatorControl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._client.request(method, path, **kwargs)
        response.raise_for_status()
        return response.json()

    # accounts

    def register_account(self, name: str, **fields: Any) -> dict[str, Any]:
        """Register (or replace) an account; returns its view including `access_token`, `refresh_token`."""
        return dict(self._call("POST", "/_emulator/accounts", json={"name": name, **fields}))

    def accounts(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/_emulator/accounts"))

    def account(self, name: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/_emulator/accounts/{name}"))

    def update_account(self, name: str, **fields: Any) -> dict[str, Any]:
        return dict(self._call("PATCH", f"/_emulator/accounts/{name}", json=fields))

    def delete_account(self, name: str) -> None:
        self._call("DELETE", f"/_emulator/accounts/{name}")

    def expire_tokens(self, name: str, access_token: str | None = None) -> int:
        body = {"access_token": access_token} if access_token else {}
        return int(self._call("POST", f"/_emulator/accounts/{name}/expire", json=body)["expired"])

    def reset_account(self, name: str) -> None:
        self._call("POST", f"/_emulator/accounts/{name}/reset")

    def reset_all(self) -> None:
        """Everything back to the start state; only for a test that owns its emulator process."""
        self._call("POST", "/_emulator/reset")

    # scripts and faults

    def queue_script(self, account: str | None = None, **script: Any) -> None:
        """Queue one script for `account` (or, without one, for the next chat request of anyone)."""
        body = {**script, "account": account} if account else script
        self._call("POST", "/_emulator/scripts", json=body)

    def queue_scripts(self, account: str, scripts: list[dict[str, Any]]) -> None:
        """Queue several scripts answering the account's next requests in order."""
        self._call("POST", "/_emulator/scripts", json={"account": account, "scripts": scripts})

    def clear_scripts(self, account: str | None = None) -> None:
        self._call("DELETE", "/_emulator/scripts", params={"account": account} if account else None)

    def add_fault(self, **rule: Any) -> str:
        """Add a fault rule (`account`, `endpoint`, `times`, `kind`/`status`/`body`, stream faults)."""
        return str(self._call("POST", "/_emulator/faults", json=rule)["id"])

    def clear_faults(self, account: str | None = None) -> None:
        self._call("DELETE", "/_emulator/faults", params={"account": account} if account else None)

    def delete_fault(self, rule_id: str) -> None:
        self._call("DELETE", f"/_emulator/faults/{rule_id}")

    def release_fault(self, rule_id: str) -> None:
        """End now the `first_byte_delay_ms` of the requests this rule holds back."""
        self._call("POST", f"/_emulator/faults/{rule_id}/release")

    # observations

    def counters(self) -> dict[str, Any]:
        return dict(self._call("GET", "/_emulator/counters"))

    def counts(self, account: str) -> dict[str, int]:
        """Requests per endpoint name for one account (missing endpoint = 0 requests)."""
        return dict(self._call("GET", "/_emulator/counters", params={"account": account})["counts"])

    def statuses(self, account: str) -> dict[str, dict[str, int]]:
        """Answer statuses per endpoint for one account: `{"chat_amazonq": {"429": 2}}`."""
        return dict(self._call("GET", "/_emulator/counters", params={"account": account})["statuses"])

    def requests(
        self, account: str | None = None, endpoint: str | None = None, limit: int = 0
    ) -> list[dict[str, Any]]:
        """Recorded requests, oldest first (no account: requests with unknown tokens)."""
        params: dict[str, str | int] = {"limit": limit}
        if account:
            params["account"] = account
        if endpoint:
            params["endpoint"] = endpoint
        return list(self._call("GET", "/_emulator/requests", params=params))

    # device flow

    def device_flows(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/_emulator/device"))

    def approve_device(self, user_code: str, **account: Any) -> dict[str, Any]:
        """Approve a pending device login as the user would; `account` fields name/shape the account."""
        body: dict[str, Any] = {"user_code": user_code}
        if account:
            body["account"] = account
        return dict(self._call("POST", "/_emulator/device/approve", json=body))

    def deny_device(self, user_code: str) -> None:
        self._call("POST", "/_emulator/device/deny", json={"user_code": user_code})

    def expire_device(self, user_code: str) -> None:
        self._call("POST", "/_emulator/device/expire", json={"user_code": user_code})
