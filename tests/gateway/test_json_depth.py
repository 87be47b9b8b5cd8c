"""The gateway's nesting limit: exact at the boundary, for objects and arrays alike, whatever the size."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from services.gateway.body import json_depth_exceeds, parse_json_object
from shared.errors import InvalidRequestError


def _nested(levels: int, leaf: Any = 1) -> Any:
    """`levels` containers, alternating arrays and objects, around `leaf`."""
    value = leaf
    for n in range(levels):
        value = [value] if n % 2 else {"k": value}
    return value


@pytest.mark.parametrize(
    ("levels", "too_deep"), [(0, False), (1, False), (127, False), (128, False), (129, True)]
)
def test_nesting_is_counted_exactly_at_the_limit(levels: int, too_deep: bool) -> None:
    assert json_depth_exceeds(_nested(levels), 128) is too_deep


def test_one_deep_branch_among_many_shallow_ones_is_found() -> None:
    wide = {
        "tools": [{"name": f"t{n}", "schema": {"type": "object"}} for n in range(2000)],
        "x": _nested(129),
    }

    assert json_depth_exceeds(wide, 128)
    assert not json_depth_exceeds({**wide, "x": _nested(127)}, 128)


def test_big_shallow_body_parses_and_a_deep_one_is_a_400() -> None:
    shallow = orjson.dumps({"messages": [{"role": "user", "content": "x" * 100_000}] * 300})
    assert parse_json_object(shallow, 128)["messages"][0]["role"] == "user"
    with pytest.raises(InvalidRequestError, match="deeper than 128"):
        parse_json_object(orjson.dumps({"metadata": _nested(200)}), 128)
