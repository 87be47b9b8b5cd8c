"""The load client: closed-loop workers in separate processes, so the client is not the bottleneck.

Every answer carries numbered markers (`m000.` … `m049.`), one per upstream event, so a worker can tell
the first content byte (time to first token) and count events lost or reordered on the way, whatever the
framing (AWS event stream from the emulator, SSE or JSON from the gateway and the router).
"""

from __future__ import annotations

import asyncio
import copy
import functools
import itertools
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from services.kiro_emulator.control import directive

MARKER = re.compile(rb"m(\d{3})\.")
MODEL = "claude-sonnet-4.5"
#: a real Claude Code first turn (76 KB: 24 tools, 3 system blocks, metadata), as captured
CLAUDE_CODE_FIXTURE = (
    Path(__file__).resolve().parents[1]
    / "tests"
    / "fixtures"
    / "clients"
    / "claude_code_02_messages_stream_first_turn.json"
)


@functools.cache
def claude_code_request() -> tuple[dict[str, Any], str]:
    """The captured body and its `X-Claude-Code-Session-Id`, read once per process."""
    captured = orjson.loads(CLAUDE_CODE_FIXTURE.read_bytes())
    return captured["body"], captured["headers"]["X-Claude-Code-Session-Id"]


@dataclass(frozen=True)
class Scenario:
    """What every request asks for: streamed or not, how many upstream events, paced or not, and the body:
    a small prompt, or Claude Code's captured first turn (`claude_code`) with the script appended."""

    name: str
    stream: bool
    events: int
    delay_ms: int = 0
    body: str = "small"  # "small" | "claude_code"

    @property
    def text(self) -> str:
        return "".join(f"m{i:03d}." for i in range(self.events))

    def script(self) -> str:
        script: dict[str, object] = {"text": self.text, "chunks": self.events, "metering": 0.01}
        if self.delay_ms:
            script["delay_ms"] = self.delay_ms
        return directive(**script)


@dataclass(frozen=True)
class Target:
    """Where requests go: the emulator as Kiro (`kiro`), or a gateway/router Anthropic API."""

    name: str
    urls: tuple[str, ...]
    headers: tuple[tuple[str, str], ...]
    protocol: str  # "kiro" | "anthropic"

    def request(self, scenario: Scenario) -> tuple[str, bytes, dict[str, str]]:
        """Path, body and extra headers of one request."""
        body: dict[str, Any]
        if self.protocol == "kiro":
            body = {
                "conversationState": {
                    "chatTriggerType": "MANUAL",
                    "conversationId": str(uuid.uuid4()),
                    "currentMessage": {
                        "userInputMessage": {
                            "content": "bench\n" + scenario.script(),
                            "modelId": MODEL,
                            "origin": "AI_EDITOR",
                        }
                    },
                }
            }
            return "/codewhisperer/generateAssistantResponse", orjson.dumps(body), {}
        if scenario.body == "claude_code":
            return _claude_code(scenario)
        body = {
            "model": MODEL,
            "max_tokens": 1024,
            "stream": scenario.stream,
            "messages": [{"role": "user", "content": "bench\n" + scenario.script()}],
        }
        return "/v1/messages", orjson.dumps(body), {}


def _claude_code(scenario: Scenario) -> tuple[str, bytes, dict[str, str]]:
    """Claude Code's first turn as captured, the script as one more text block of its last user message."""
    captured, session = claude_code_request()
    body = copy.copy(captured)
    messages = list(body["messages"])
    at = max(n for n, m in enumerate(messages) if m["role"] == "user")
    last = copy.copy(messages[at])
    content = last["content"]
    blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
    last["content"] = [*blocks, {"type": "text", "text": scenario.script()}]
    messages[at] = last
    body["messages"] = messages
    if scenario.stream:
        body["stream"] = True
    else:
        body.pop("stream", None)
    return "/v1/messages?beta=true", orjson.dumps(body), {"x-claude-code-session-id": session}


@dataclass(frozen=True)
class Job:
    """One worker process's share of a measurement."""

    target: Target
    scenario: Scenario
    concurrency: int
    start_at: float  # wall clock, so every worker process starts together
    warmup: float
    duration: float
    worker: int
    ramp: float = 0.0  # seconds over which the workers' loops start (0 = all at once)
    once: bool = False  # one request per loop instead of a closed loop until the deadline


# one sample: (ok, status, first byte s, first content s, total s, events lost, started after warmup,
# events out of order)
Sample = tuple[bool, int, float, float, float, int, bool, int]


def run_job(job: Job) -> tuple[list[Sample], float]:
    """Entry point in a worker process: the samples and the CPU seconds the client spent on them."""
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        pass
    cpu = time.process_time()
    samples = asyncio.run(_run(job))
    return samples, time.process_time() - cpu


async def _run(job: Job) -> list[Sample]:
    delay = job.start_at - time.time()
    if delay > 0:
        await asyncio.sleep(delay)
    start = time.perf_counter()
    measure_from = start + job.warmup
    deadline = measure_from + job.duration
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=120)
    headers = dict(job.target.headers) | {"content-type": "application/json"}
    samples: list[Sample] = []
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, headers=headers) as session:

        async def loop(n: int) -> None:
            base = job.target.urls[(job.worker + n) % len(job.target.urls)]
            if job.ramp:
                await asyncio.sleep(job.ramp * n / job.concurrency)
            while time.perf_counter() < deadline or (job.once and not any_sent[n]):
                any_sent[n] = True
                path, body, extra = job.target.request(job.scenario)
                began = time.perf_counter()
                ok, status, first_byte, first_content, total, lost, reordered = await _one(
                    session, base + path, body, job.scenario.events, extra
                )
                measured = began >= measure_from
                samples.append((ok, status, first_byte, first_content, total, lost, measured, reordered))
                if job.once:
                    return

        any_sent = [False] * job.concurrency

        await asyncio.gather(*(loop(n) for n in range(job.concurrency)))
    return samples


async def _one(
    session: aiohttp.ClientSession, url: str, body: bytes, events: int, headers: dict[str, str] | None = None
) -> tuple[bool, int, float, float, float, int, int]:
    began = time.perf_counter()
    first_byte = first_content = 0.0
    buf = bytearray()
    try:
        async with session.post(url, data=body, headers=headers) as response:
            async for chunk in response.content.iter_any():
                now = time.perf_counter()
                if not first_byte:
                    first_byte = now - began
                buf += chunk
                if not first_content and b"m000." in buf:
                    first_content = now - began
            status = response.status
    except (aiohttp.ClientError, TimeoutError):
        return False, 0, 0.0, 0.0, time.perf_counter() - began, events, 0
    total = time.perf_counter() - began
    markers = [int(n) for n in MARKER.findall(bytes(buf))]
    reordered = sum(1 for a, b in itertools.pairwise(markers) if b <= a)
    ok = status == 200 and bool(first_content)
    return ok, status, first_byte, first_content, total, events - len(set(markers)), reordered
