"""Whatever JSON a client sends, the translation layer answers with InvalidRequestError or a valid payload."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.gateway.translate import build_kiro_request, count_tokens, parse_anthropic, parse_openai
from shared.errors import InvalidRequestError
from tests.gateway.translate.fixtures import assert_valid_kiro_payload, load_capture

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
BASES = {
    "anthropic": [
        load_capture(n)["body"]
        for n in ("sdk_anthropic_py_stream_tool_result", "sdk_anthropic_py_stream_thinking")
    ],
    "openai": [load_capture(n)["body"] for n in ("sdk_openai_py_tool_result", "sdk_openai_py_stream_tools")],
}


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths(item, (*prefix, index))
    return found


def mutate(body: dict[str, Any], path: tuple[Any, ...], replacement: Any) -> Any:
    if not path:
        return replacement
    body = copy.deepcopy(body)
    target = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = replacement
    return body


def translate_or_refuse(protocol: str, body: Any) -> None:
    parse = parse_anthropic if protocol == "anthropic" else parse_openai
    try:
        req = parse(body)
        kiro = build_kiro_request(req, model_id="claude-sonnet-4.5", conversation_id="c")
    except InvalidRequestError as exc:
        assert exc.status == 400 and exc.message
        return
    assert_valid_kiro_payload(kiro.payload)
    assert count_tokens(req) >= 1


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(protocol=st.sampled_from(["anthropic", "openai"]), which=st.integers(0, 1), data=st.data())
def test_any_subtree_of_a_real_request_replaced_by_any_json(
    protocol: str, which: int, data: st.DataObject
) -> None:
    base = BASES[protocol][which]
    path = data.draw(st.sampled_from(paths(base)))
    translate_or_refuse(protocol, mutate(base, path, data.draw(JSON)))


@settings(max_examples=100, deadline=None)
@given(protocol=st.sampled_from(["anthropic", "openai"]), body=JSON)
def test_any_json_body(protocol: str, body: Any) -> None:
    translate_or_refuse(protocol, body)
