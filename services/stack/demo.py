"""`make demo`: the whole stack against the Kiro emulator, a demo account, and one streamed answer.

The request goes client → router → gateway → emulator, and its text is printed as each SSE event
arrives. The demo uses its own Redis key prefix and throwaway secrets, so it never touches the data of a
`make run` stack, and it removes its keys when it ends.
"""

from __future__ import annotations

import os
import secrets
import sys
import time
from pathlib import Path

import httpx
import orjson
import redis

from services.stack.redis_boot import ensure_redis, free_port, sync_client
from services.stack.supervisor import Supervisor
from shared.crypto import generate_fernet_key, new_api_key

DEMO_PREFIX = "ks-demo:"
DEMO_REFRESH_TOKEN = "emu-demo-refresh-token"  # the emulator's built-in demo account
ANSWER = (
    "Kiro Stack is streaming this answer to you frame by frame: the emulator sends AWS event-stream "
    "frames, the gateway decodes each one and re-encodes it as an Anthropic SSE event, and the router "
    "passes every byte through the moment it arrives."
)


def _wait(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f}s")


def _add_demo_account(router: str, admin_key: str, sup: Supervisor) -> None:
    headers = {"Authorization": f"Bearer {admin_key}"}
    body = {"auth_kind": "social", "refresh_token": DEMO_REFRESH_TOKEN, "label": "demo (emulator)"}
    answer = httpx.post(f"{router}/admin/api/accounts", json=body, headers=headers, timeout=10)
    answer.raise_for_status()
    account_id = answer.json()["id"]
    sup.say(f"added demo account {account_id}; waiting for the refresher to fetch its first token ...")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        view = httpx.get(f"{router}/admin/api/accounts/{account_id}", headers=headers, timeout=5).json()
        if view.get("state") == "active" and view.get("has_access_token"):
            sup.say("demo account is active")
            return
        time.sleep(0.2)
    raise RuntimeError("the demo account did not become active (see the refresher's log above)")


def _stream_one_answer(router: str, client_key: str, sup: Supervisor) -> None:
    script = {"text": ANSWER, "chunks": 24, "delay_ms": 80}
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 512,
        "stream": True,
        "messages": [
            {"role": "user", "content": f"Say hello.\n[[emulator {orjson.dumps(script).decode()}]]"}
        ],
    }
    sup.say("POST /v1/messages (stream) through router → gateway → emulator:")
    started = time.perf_counter()
    first: float | None = None
    with httpx.stream(
        "POST", f"{router}/v1/messages", json=body, headers={"x-api-key": client_key}, timeout=60
    ) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: "):
                continue
            event = orjson.loads(line[6:])
            if event.get("type") == "content_block_delta" and event["delta"].get("type") == "text_delta":
                if first is None:
                    first = time.perf_counter() - started
                sys.stdout.write(event["delta"]["text"])
                sys.stdout.flush()
            elif event.get("type") == "message_delta":
                usage = event.get("usage", {})
                total = time.perf_counter() - started
                sys.stdout.write("\n")
                sup.say(
                    f"stop_reason={event['delta'].get('stop_reason')} "
                    f"output_tokens={usage.get('output_tokens')} "
                    f"first text after {1000 * (first or 0):.0f} ms, whole answer {total:.1f} s"
                )


def run_demo(root: Path, state_dir: Path, *, keep: bool) -> int:
    sup = Supervisor(cwd=str(root))
    handle = ensure_redis(os.environ.get("REDIS_URL"), None, allow_embedded=True, daemonize=False)
    for note in handle.notes:
        sup.say(note)
    ports = {name: free_port() for name in ("emulator", "gateway", "router", "metrics")}
    admin_key, client_key = "adm-" + secrets.token_urlsafe(16), new_api_key()
    emulator = f"http://127.0.0.1:{ports['emulator']}"
    router = f"http://127.0.0.1:{ports['router']}"
    env = {
        "REDIS_URL": handle.url,
        "REDIS_KEY_PREFIX": DEMO_PREFIX,
        "KIRO_EMULATOR_URL": emulator,
        "KIRO_SECRET_KEY": generate_fernet_key(),
        "INTERNAL_API_KEY": secrets.token_urlsafe(24),
        "ADMIN_PASSWORD": secrets.token_urlsafe(12),
        "ADMIN_API_KEY": admin_key,
        "PROXY_API_KEY": client_key,
        "GATEWAY_URLS": f"http://127.0.0.1:{ports['gateway']}",
        "REFRESHER_METRICS_PORT": str(ports["metrics"]),
    }
    try:
        sup.start(
            "emulator",
            "services.kiro_emulator",
            ["--host", "127.0.0.1", "--port", str(ports["emulator"])],
            env,
        )
        _wait(f"{emulator}/_emulator/health")
        sup.start(
            "gateway", "services.gateway", ["--host", "127.0.0.1", "--port", str(ports["gateway"])], env
        )
        sup.start("refresher", "services.refresher", [], env)
        sup.start("router", "services.router", ["--host", "127.0.0.1", "--port", str(ports["router"])], env)
        _wait(f"{router}/ready")
        _add_demo_account(router, admin_key, sup)
        with sup.hold_logs():
            _stream_one_answer(router, client_key, sup)
        if keep:
            sup.say(f"stack kept running: router {router} (client key {client_key}); Ctrl-C stops it")
            return sup.wait()
        return 0
    finally:
        sup.stop()
        _forget(handle.url)
        handle.stop()


def _forget(url: str) -> None:
    """Remove every key the demo wrote (its own prefix, and its arq queue which lives under it)."""
    try:
        client = sync_client(url, 2)
        keys = list(client.scan_iter(match=f"{DEMO_PREFIX}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()
    except redis.RedisError:
        pass
