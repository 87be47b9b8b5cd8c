"""The OpenAI Responses API through router → gateway → emulator, with the official openai SDK."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from services.kiro_emulator.control import directive
from tests.router.stack import Seeder, Stack
from tests.support.polling import wait_for
from tests.support.procs import ServiceProcess

pytestmark = pytest.mark.e2e

WEATHER: Any = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


async def _client(url: str, seeder: Seeder) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(api_key=await seeder.client_key(), base_url=url + "/v1", max_retries=0)


async def test_create_and_stream_answer_with_usage_and_keep_the_conversation(
    stack: Stack, seeder: Seeder
) -> None:
    await seeder.account()
    client = await _client(stack.routers[0].url, seeder)

    plain = await client.responses.create(
        model="claude-sonnet-4.5", input="plain answer", instructions="Brief."
    )
    async with client.responses.stream(
        model="claude-sonnet-4.5", input=directive(text="one two three four", chunks=4)
    ) as stream:
        deltas = [event.delta async for event in stream if event.type == "response.output_text.delta"]
        final = await stream.get_final_response()
    await client.close()

    # the emulator echoes the prompt: instructions are the system prompt, before the input
    assert plain.status == "completed" and plain.output_text == "Brief.\n\nplain answer"
    assert plain.usage is not None and plain.usage.output_tokens > 0
    assert plain.usage.total_tokens == plain.usage.input_tokens + plain.usage.output_tokens
    assert len(deltas) == 4 and "".join(deltas) == "one two three four"  # streamed as Kiro sent it
    assert final.output_text == "one two three four" and final.id.startswith("resp_")
    for response_id in (plain.id, final.id):
        key = stack.keys.response(response_id)
        assert 0 < await seeder.redis.ttl(key) <= 3600  # in Redis, where every gateway replica finds it
    stored = json.loads(await seeder.redis.get(stack.keys.response(plain.id)))
    assert [item.get("role") for item in stored] == ["user", "assistant"]

    async def two_logged() -> list[dict[str, Any]]:
        entries = await seeder.redis.xrange(stack.keys.request_log())
        return [json.loads(fields["e"]) for _, fields in entries] if len(entries) >= 2 else []

    logged = await wait_for(two_logged, what="two request log entries")
    assert [e["route"] for e in logged] == ["responses", "responses"]
    assert all(e["status"] == 200 and e["output_tokens"] > 0 for e in logged)


async def test_function_call_round_trip_continues_with_previous_response_id(
    stack: Stack, seeder: Seeder
) -> None:
    account = await seeder.account()
    client = await _client(stack.routers[1].url, seeder)
    stack.control.queue_script(account=account, text="It is sunny in Paris.")
    ask = "Weather in Paris?\n" + directive(tool_calls=[{"name": "get_weather", "input": {"city": "Paris"}}])

    async with client.responses.stream(model="claude-sonnet-4.5", input=ask, tools=[WEATHER]) as stream:
        first = await stream.get_final_response()
    call = next(item for item in first.output if item.type == "function_call")
    follow_up = await client.responses.create(
        model="claude-sonnet-4.5",
        previous_response_id=first.id,
        tools=[WEATHER],
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 24 C"}],
    )
    await client.close()

    assert (call.name, json.loads(call.arguments)) == ("get_weather", {"city": "Paris"})
    assert follow_up.output_text == "It is sunny in Paris."
    sent = stack.control.requests(account=account)[-1]["body"]["conversationState"]
    result = sent["currentMessage"]["userInputMessage"]["userInputMessageContext"]["toolResults"][0]
    assert result["toolUseId"] == call.call_id and result["content"] == [{"text": "sunny, 24 C"}]
    assert "Weather in Paris?" in sent["history"][0]["userInputMessage"]["content"]  # from the store
    assert sent["history"][1]["assistantResponseMessage"]["toolUses"][0]["input"] == {"city": "Paris"}


async def test_store_false_keeps_nothing_and_its_follow_up_is_refused(stack: Stack, seeder: Seeder) -> None:
    await seeder.account()
    client = await _client(stack.routers[0].url, seeder)

    unstored = await client.responses.create(model="claude-sonnet-4.5", input="forget me", store=False)
    with pytest.raises(openai.BadRequestError) as caught:
        await client.responses.create(
            model="claude-sonnet-4.5", input="and?", previous_response_id=unstored.id
        )
    await client.close()

    assert await seeder.redis.exists(stack.keys.response(unstored.id)) == 0
    assert caught.value.code == "previous_response_not_found"
    assert caught.value.param == "previous_response_id" and unstored.id in caught.value.message


async def test_expired_previous_response_is_a_bad_request_naming_it(stack: Stack, seeder: Seeder) -> None:
    await seeder.account()
    gateway = ServiceProcess(
        "services.gateway",
        env={**stack.env, "KIRO_EMULATOR_URL": stack.emulator.url, "RESPONSES_TTL_SECONDS": "1"},
        name="gateway",
    )
    stack.extra.append(gateway)
    router = stack.start_router(gateway.start().url)
    client = await _client(router.url, seeder)

    first = await client.responses.create(model="claude-sonnet-4.5", input="short-lived")
    second = await client.responses.create(
        model="claude-sonnet-4.5", input="next", previous_response_id=first.id
    )
    await wait_for(lambda: _gone(seeder, stack.keys.response(first.id)), what="the first response to expire")

    async def refused() -> openai.BadRequestError | None:
        try:
            await client.responses.create(
                model="claude-sonnet-4.5", input="too late", previous_response_id=first.id
            )
        except openai.BadRequestError as exc:
            return exc
        return None

    caught = await wait_for(refused, what="a follow-up of the expired response to be refused")
    await client.close()

    assert second.output_text == "next"  # within its lifetime the follow-up is served
    assert caught.code == "previous_response_not_found" and first.id in caught.message


async def _gone(seeder: Seeder, key: str) -> bool:
    return await seeder.redis.exists(key) == 0


async def test_account_failure_before_the_first_byte_fails_over(stack: Stack, seeder: Seeder) -> None:
    failing = await seeder.account(weight=1_000_000)
    healthy = await seeder.account(weight=1)
    stack.control.add_fault(account=failing, endpoint="chat", kind="throttled", times=0)
    client = await _client(stack.routers[0].url, seeder)

    async with client.responses.stream(model="claude-sonnet-4.5", input="fail over please") as stream:
        final = await stream.get_final_response()
    await client.close()

    assert final.output_text == "fail over please"
    assert seeder.chat_calls(failing) >= 1 and seeder.chat_calls(healthy) == 1


async def test_unsupported_features_are_a_clear_400_in_openai_shape(stack: Stack, seeder: Seeder) -> None:
    account = await seeder.account()
    client = await _client(stack.routers[1].url, seeder)

    with pytest.raises(openai.BadRequestError) as built_in:
        await client.responses.create(
            model="claude-sonnet-4.5",
            input="x",
            tools=[{"type": "web_search"}],
            tool_choice={"type": "web_search"},
        )
    with pytest.raises(openai.BadRequestError) as background:
        await client.responses.create(model="claude-sonnet-4.5", input="x", background=True)
    await client.close()

    assert built_in.value.param == "tool_choice" and "web_search" in built_in.value.message
    assert background.value.param == "background"
    assert seeder.chat_calls(account) == 0  # refused before Kiro
