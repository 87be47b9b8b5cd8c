"""The emulator rejects what Kiro rejects (kiro-protocol.md §3, §8.1), with Kiro's error bodies."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from services.kiro_emulator.control import EmulatorControl
from shared.kiro.endpoints import EMULATOR_PATHS
from tests.kiro_emulator.conftest import Kiro, kiro_body

IMPROPER = {"message": "Improperly formed request."}
PNG_1PX = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="


def tool(name: str = "get_weather", description: str = "Current weather for a city.") -> dict[str, Any]:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": []}
    return {"toolSpecification": {"name": name, "description": description, "inputSchema": {"json": schema}}}


def full_body() -> dict[str, Any]:
    """Valid: history with a tool use, current message with its result, tools, an image, extra fields."""
    body = kiro_body(
        "Thanks, and what does this image show?",
        history=[
            {
                "userInputMessage": {
                    "content": "Weather in Paris?",
                    "modelId": "claude-sonnet-4.5",
                    "origin": "AI_EDITOR",
                }
            },
            {
                "assistantResponseMessage": {
                    "content": "Let me check.",
                    "toolUses": [
                        {
                            "toolUseId": "tooluse_1",
                            "name": "get_weather",
                            "input": {"city": "Paris", "x": None},
                        }
                    ],
                }
            },
        ],
        agentContinuationId="b3b6",
        agentTaskType="vibe",
    )
    current = body["conversationState"]["currentMessage"]["userInputMessage"]
    current["images"] = [{"format": "png", "source": {"bytes": PNG_1PX}}]
    current["userInputMessageContext"] = {
        "tools": [tool()],
        "toolResults": [{"toolUseId": "tooluse_1", "content": [{"text": "18°C"}], "status": "success"}],
    }
    body["profileArn"] = "arn:aws:codewhisperer:us-east-1:123456789012:profile/ABC"
    body["inferenceConfig"] = {"maxTokens": 100}
    return body


def _state(b: dict[str, Any]) -> dict[str, Any]:
    return b["conversationState"]


def _current(b: dict[str, Any]) -> dict[str, Any]:
    return b["conversationState"]["currentMessage"]["userInputMessage"]


def _ctx(b: dict[str, Any]) -> dict[str, Any]:
    return _current(b)["userInputMessageContext"]


def _assistant(b: dict[str, Any]) -> dict[str, Any]:
    return b["conversationState"]["history"][1]["assistantResponseMessage"]


Mutation = Callable[[dict[str, Any]], Any]

MALFORMED: dict[str, tuple[Mutation, str]] = {
    "no_conversation_state": (lambda b: b.pop("conversationState"), "conversationState missing"),
    "chat_trigger_auto": (lambda b: _state(b).update(chatTriggerType="AUTO"), "chatTriggerType"),
    "no_conversation_id": (lambda b: _state(b).pop("conversationId"), "conversationId missing"),
    "current_message_with_two_keys": (
        lambda b: _state(b)["currentMessage"].update(assistantResponseMessage={"content": "x"}),
        "currentMessage not exactly",
    ),
    "empty_content": (lambda b: _current(b).update(content=""), "currentMessage.content empty"),
    "whitespace_content": (lambda b: _current(b).update(content="  \n "), "currentMessage.content empty"),
    "no_model_id": (lambda b: _current(b).pop("modelId"), "modelId missing"),
    "cli_origin_on_codewhisperer": (lambda b: _current(b).update(origin="CLI"), "origin not one of"),
    "null_value": (lambda b: b.update(profileArn=None), "null at $.profileArn"),
    "null_in_message": (lambda b: _current(b).update(images=None), "null at"),
    "empty_history": (lambda b: _state(b).update(history=[]), "empty array"),
    "empty_tools": (lambda b: _ctx(b).update(tools=[]), "empty array"),
    "empty_images": (lambda b: _current(b).update(images=[]), "empty array"),
    "empty_message_context": (
        lambda b: _state(b)["history"][0]["userInputMessage"].update(userInputMessageContext={}),
        "userInputMessageContext empty",
    ),
    "history_starts_with_assistant": (
        lambda b: _state(b)["history"].insert(0, {"assistantResponseMessage": {"content": "Hi"}}),
        "history[0]: expected userInputMessage",
    ),
    "history_two_users_in_a_row": (
        lambda b: _state(b)["history"].insert(0, {"userInputMessage": {"content": "Hi"}}),
        "history[1]: expected assistantResponseMessage",
    ),
    "history_ends_with_user": (
        lambda b: _state(b)["history"].append(
            {
                "userInputMessage": {
                    "content": "More",
                    "userInputMessageContext": {"toolResults": _ctx(b).pop("toolResults")},
                }
            }
        ),
        "currentMessage: expected assistantResponseMessage",
    ),
    "history_item_with_two_keys": (
        lambda b: _state(b)["history"][0].update(assistantResponseMessage={"content": "x"}),
        "exactly one key",
    ),
    "history_item_unknown_key": (
        lambda b: _state(b)["history"].__setitem__(0, {"systemMessage": {"content": "x"}}),
        "'systemMessage' unknown",
    ),
    "empty_assistant_content": (lambda b: _assistant(b).update(content=""), "history[1].content empty"),
    "tool_name_65_chars": (lambda b: _ctx(b)["tools"].append(tool("t" * 65)), "tool name"),
    "tool_description_empty": (lambda b: _ctx(b)["tools"].append(tool("other", "")), "description"),
    "tool_description_10001_chars": (
        lambda b: _ctx(b)["tools"].append(tool("other", "d" * 10_001)),
        "description",
    ),
    "tool_schema_not_object": (
        lambda b: _ctx(b)["tools"][0]["toolSpecification"]["inputSchema"].update(json="{}"),
        "inputSchema.json",
    ),
    "duplicate_tool_name": (lambda b: _ctx(b)["tools"].append(tool()), "duplicate tool name"),
    "orphan_tool_result": (
        lambda b: _ctx(b)["toolResults"].append({"toolUseId": "tooluse_2", "content": [{"text": "?"}]}),
        "do not match the preceding toolUses",
    ),
    "tool_use_without_result": (
        lambda b: _ctx(b).pop("toolResults"),
        "do not match the preceding toolUses",
    ),
    "duplicate_tool_result": (
        lambda b: _ctx(b)["toolResults"].append(copy.deepcopy(_ctx(b)["toolResults"][0])),
        "duplicate toolResults id",
    ),
    "duplicate_tool_use_ids_in_history": (
        lambda b: _state(b)["history"].extend(
            [
                {
                    "userInputMessage": {
                        "content": "again",
                        "userInputMessageContext": {"toolResults": _ctx(b)["toolResults"]},
                    }
                },
                copy.deepcopy(_state(b)["history"][1]),
            ]
        ),
        "duplicate toolUseId",
    ),
    "history_tool_not_declared": (lambda b: _ctx(b).update(tools=[tool("read_file")]), "not declared"),
    "tool_use_input_is_a_string": (
        lambda b: _assistant(b)["toolUses"][0].update(input='{"city": "Paris"}'),
        "input not an object",
    ),
    "tool_result_status_unknown": (lambda b: _ctx(b)["toolResults"][0].update(status="ok"), "status invalid"),
    "tool_result_content_not_blocks": (
        lambda b: _ctx(b)["toolResults"][0].update(content="18°C"),
        "content not a list",
    ),
    "image_with_data_url": (
        lambda b: _current(b)["images"][0]["source"].update(bytes="data:image/png;base64," + PNG_1PX),
        "not plain base64",
    ),
    "image_not_base64": (
        lambda b: _current(b)["images"][0]["source"].update(bytes="not base64!"),
        "not base64",
    ),
    "image_format_bmp": (lambda b: _current(b)["images"][0].update(format="bmp"), "format not one of"),
}


def mutated(mutation: Mutation) -> dict[str, Any]:
    """A valid full body changed in place by `mutation` (its return value is ignored)."""
    body = full_body()
    mutation(body)
    return body


def test_a_complete_valid_request_is_answered_on_every_chat_endpoint(kiro: Kiro, token: str) -> None:
    for endpoint in ("chat_codewhisperer", "chat_amazonq", "chat_kiro"):
        answer = kiro.chat(token, full_body(), endpoint=endpoint)
        assert answer.status == 200, answer.error
        assert answer.headers["content-type"] == "application/vnd.amazon.eventstream"
        assert answer.text.startswith("Thanks, and what does this image show?")


@pytest.mark.parametrize("endpoint", ["chat_amazonq", "chat_kiro"])
def test_amazonq_and_kiro_endpoints_accept_cli_origin(kiro: Kiro, token: str, endpoint: str) -> None:
    answer = kiro.chat(token, kiro_body("hi", origin="CLI"), endpoint=endpoint)
    assert answer.status == 200


def test_each_call_records_its_path_origin_and_target(
    kiro: Kiro, ctl: EmulatorControl, account: dict[str, Any], token: str
) -> None:
    target = {"X-Amz-Target": "AmazonQDeveloperStreamingService.SendMessage"}
    kiro.http.post(
        EMULATOR_PATHS["chat_kiro"],
        content=orjson.dumps(kiro_body("hi", origin="CLI")),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json", **target},
    )
    kiro.chat(token, kiro_body("hi"), endpoint="chat_amazonq")
    kiro.http.get(
        EMULATOR_PATHS["models_kiro"],
        params={"origin": "AI_EDITOR"},
        headers={"Authorization": f"Bearer {token}"},
    )
    seen = [
        (r["endpoint"], r["path"], r["origin"], r["amz_target"], r["status"])
        for r in ctl.requests(account["name"])
    ]
    assert seen == [
        ("chat_kiro", "/kiro/generateAssistantResponse", "CLI", target["X-Amz-Target"], 200),
        ("chat_amazonq", "/q/generateAssistantResponse", "AI_EDITOR", None, 200),
        ("models_kiro", "/kiro/ListAvailableModels", "AI_EDITOR", None, 200),
    ]


def test_history_tool_names_are_matched_case_insensitively(kiro: Kiro, token: str) -> None:
    body = full_body()
    _ctx(body)["tools"] = [tool("Get_Weather")]
    assert kiro.chat(token, body).status == 200


@pytest.mark.parametrize(("mutation", "reason"), list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_request_is_rejected_as_improperly_formed(
    kiro: Kiro, ctl: EmulatorControl, account: dict[str, Any], mutation: Mutation, reason: str
) -> None:
    answer = kiro.chat(account["access_token"], mutated(mutation))
    assert (answer.status, answer.error) == (400, IMPROPER)
    assert answer.headers["x-amzn-errortype"] == "ValidationException"
    (record,) = ctl.requests(account["name"])
    assert reason in record["reject_reason"]


@pytest.mark.parametrize(
    "raw", [b'{"conversationState": ', b"[]", b"", b'"text"'], ids=["cut", "list", "empty", "string"]
)
def test_body_that_is_not_a_json_object_is_improperly_formed(kiro: Kiro, token: str, raw: bytes) -> None:
    answer = kiro.chat(token, None, raw=raw)
    assert (answer.status, answer.error) == (400, IMPROPER)


def test_rejection_reason_is_recorded_for_the_test_author(
    kiro: Kiro, ctl: EmulatorControl, account: dict[str, Any]
) -> None:
    kiro.chat(account["access_token"], mutated(MALFORMED["history_tool_not_declared"][0]))
    (record,) = ctl.requests(account["name"], endpoint="chat_codewhisperer")
    assert record["status"] == 400
    assert "not declared" in record["reject_reason"]


def test_body_over_the_size_limit_is_input_too_long(kiro: Kiro, token: str) -> None:
    answer = kiro.chat(token, kiro_body("x" * 600_001))
    assert answer.status == 400
    assert answer.error == {"message": "Input is too long.", "reason": "CONTENT_LENGTH_EXCEEDS_THRESHOLD"}


def test_body_just_under_the_size_limit_is_accepted(kiro: Kiro, token: str) -> None:
    body = kiro_body("x")
    overhead = len(orjson.dumps(body)) - 1
    answer = kiro.chat(token, kiro_body("x" * (600_000 - overhead)))
    assert answer.status == 200, answer.error


def test_body_sent_without_json_content_type_is_improperly_formed(kiro: Kiro, token: str) -> None:
    r = kiro.http.post(
        "/codewhisperer/generateAssistantResponse",
        content=orjson.dumps(kiro_body()),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/octet-stream"},
    )
    assert (r.status_code, r.json()) == (400, IMPROPER)


def test_unknown_model_is_invalid_model_id(kiro: Kiro, token: str) -> None:
    answer = kiro.chat(token, kiro_body("hi", model="claude-sonnet-4-5-20250929"))
    assert answer.status == 400
    assert answer.error["reason"] == "INVALID_MODEL_ID"


def test_model_missing_from_the_accounts_list_is_invalid_model_id(
    kiro: Kiro, ctl: EmulatorControl, account: dict[str, Any]
) -> None:
    ctl.update_account(account["name"], models=["claude-haiku-4.5"])
    assert kiro.chat(account["access_token"], kiro_body("hi", model="claude-haiku-4.5")).status == 200
    answer = kiro.chat(account["access_token"], kiro_body("hi", model="claude-opus-4.6"))
    assert (answer.status, answer.error["reason"]) == (400, "INVALID_MODEL_ID")


@pytest.mark.parametrize("auth", ["Bearer not-a-known-token", "", "Basic abc"])
def test_unknown_or_missing_bearer_is_403_invalid_token(kiro: Kiro, auth: str) -> None:
    r = kiro.http.post(
        "/codewhisperer/generateAssistantResponse", json=kiro_body(), headers={"Authorization": auth}
    )
    assert r.status_code == 403
    assert r.json() == {"message": "The bearer token included in the request is invalid."}


def test_bad_token_is_checked_before_the_body(kiro: Kiro) -> None:
    answer = kiro.chat("unknown", None, raw=b"not json")
    assert answer.status == 403


def test_expired_access_token_is_403_invalid_token(
    kiro: Kiro, ctl: EmulatorControl, account: dict[str, Any]
) -> None:
    assert kiro.chat(account["access_token"], kiro_body()).status == 200
    ctl.expire_tokens(account["name"])
    answer = kiro.chat(account["access_token"], kiro_body())
    assert answer.status == 403
    assert answer.error["message"] == "The bearer token included in the request is invalid."


def test_suspended_account_gets_403_suspended_until_unsuspended(
    kiro: Kiro, ctl: EmulatorControl, account: dict[str, Any]
) -> None:
    ctl.update_account(account["name"], suspended=True)
    answer = kiro.chat(account["access_token"], kiro_body())
    assert answer.status == 403
    assert "temporarily suspended" in answer.error["message"]
    assert kiro.get("models", account["access_token"]).status_code == 403
    ctl.update_account(account["name"], suspended=False)
    assert kiro.chat(account["access_token"], kiro_body()).status == 200


def test_enforced_usage_limit_answers_402_monthly_request_count(
    kiro: Kiro, ctl: EmulatorControl, account: dict[str, Any]
) -> None:
    ctl.update_account(account["name"], usage={"current": 0.0, "limit": 0.015, "enforce": True})
    assert kiro.chat(account["access_token"], kiro_body()).status == 200
    assert kiro.chat(account["access_token"], kiro_body()).status == 200
    answer = kiro.chat(account["access_token"], kiro_body())
    assert answer.status == 402
    assert answer.error == {"message": "You have reached the limit.", "reason": "MONTHLY_REQUEST_COUNT"}
