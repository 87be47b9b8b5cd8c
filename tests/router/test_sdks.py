"""The official SDKs and the real Claude Code CLI through router → gateway → emulator."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import anthropic
import openai
import pytest

from services.kiro_emulator.control import directive
from tests.router.stack import Seeder, Stack
from tests.support.claude_code import CLAUDE_BIN, NODE_PREFIX, claude_print

pytestmark = pytest.mark.e2e


async def test_anthropic_sdk_streams_and_answers(stack: Stack, seeder: Seeder) -> None:
    await seeder.account()
    client = anthropic.AsyncAnthropic(
        api_key=await seeder.client_key(), base_url=stack.routers[0].url, max_retries=0
    )

    async with client.messages.stream(
        model="claude-sonnet-4.5", max_tokens=64, messages=[{"role": "user", "content": "stream me please"}]
    ) as stream:
        text = "".join([t async for t in stream.text_stream])
        final = await stream.get_final_message()
    plain = await client.messages.create(
        model="claude-sonnet-4.5", max_tokens=64, messages=[{"role": "user", "content": "and once more"}]
    )
    counted = await client.messages.count_tokens(
        model="claude-sonnet-4.5", messages=[{"role": "user", "content": "count these words"}]
    )
    models = await client.models.list()
    await client.close()

    assert text == "stream me please"
    assert final.stop_reason == "end_turn"
    assert plain.content[0].type == "text" and plain.content[0].text == "and once more"
    assert counted.input_tokens > 0
    assert any("claude" in m.id for m in models.data)


async def test_anthropic_sdk_sees_authentication_and_overload_errors(stack: Stack, seeder: Seeder) -> None:
    key = await seeder.client_key()
    bad = anthropic.AsyncAnthropic(api_key="sk-wrong", base_url=stack.routers[1].url, max_retries=0)
    empty_pool = anthropic.AsyncAnthropic(api_key=key, base_url=stack.routers[1].url, max_retries=0)
    message = [{"role": "user", "content": "hi"}]

    with pytest.raises(anthropic.AuthenticationError):
        await bad.messages.create(model="claude-sonnet-4.5", max_tokens=8, messages=message)  # type: ignore[arg-type]
    with pytest.raises(anthropic.APIStatusError) as unavailable:
        await empty_pool.messages.create(model="claude-sonnet-4.5", max_tokens=8, messages=message)  # type: ignore[arg-type]
    await bad.close()
    await empty_pool.close()

    assert unavailable.value.status_code == 500
    assert "no Kiro account is configured" in unavailable.value.message


async def test_openai_sdk_streams_with_usage_and_lists_models(stack: Stack, seeder: Seeder) -> None:
    await seeder.account()
    client = openai.AsyncOpenAI(
        api_key=await seeder.client_key(), base_url=stack.routers[1].url + "/v1", max_retries=0
    )

    stream = await client.chat.completions.create(
        model="claude-sonnet-4.5",
        messages=[{"role": "user", "content": "openai streaming"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    parts, usage = [], None
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            parts.append(chunk.choices[0].delta.content)
        usage = chunk.usage or usage
    models = await client.models.list()
    one = await client.models.retrieve("claude-sonnet-4.5")
    await client.close()

    assert "".join(parts) == "openai streaming"
    assert one.id == "claude-sonnet-4.5"
    assert usage is not None and usage.completion_tokens > 0
    assert any("claude" in m.id for m in models.data)


@pytest.fixture(scope="session")
def claude_cli() -> Iterator[Path]:
    """The Claude Code CLI, installed from npm into .stack/node when missing."""
    if not CLAUDE_BIN.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("npm is not installed, so the Claude Code CLI cannot be installed")
        done = subprocess.run(
            [npm, "install", "--prefix", str(NODE_PREFIX), "@anthropic-ai/claude-code"],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0 or not CLAUDE_BIN.exists():
            pytest.skip(f"npm could not install @anthropic-ai/claude-code: {done.stderr[-500:]}")
    yield CLAUDE_BIN


@pytest.mark.slow
async def test_claude_code_cli_completes_a_tool_round_trip(
    stack: Stack, seeder: Seeder, claude_cli: Path, tmp_path: Path
) -> None:
    account = await seeder.account()
    stack.control.queue_script(account=account, text="The command printed kiro-round-trip.")
    tool_turn = directive(
        text="Running it.", tool_calls=[{"name": "Bash", "input": {"command": "echo kiro-round-trip"}}]
    )
    key, prompt = await seeder.client_key(), f"Run the echo command. {tool_turn}"
    result = await claude_print(stack.routers[0].url, key, prompt, tools="Bash", tmp_path=tmp_path)
    assert result["is_error"] is False
    assert "kiro-round-trip" in result["result"]
    chats = [r for r in stack.control.requests(account=account) if r["endpoint"].startswith("chat")]
    assert len(chats) == 2
    assert "toolResults" in json.dumps(chats[1]["body"])
    assert "kiro-round-trip" in json.dumps(chats[1]["body"])
