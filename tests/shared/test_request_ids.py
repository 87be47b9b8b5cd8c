"""One request-id rule for router and gateway: a sane caller id is kept, anything else gets a new one."""

from __future__ import annotations

import pytest
from starlette.types import Scope

from shared.request_ids import request_id


def scope(*headers: tuple[bytes, bytes]) -> Scope:
    return {"type": "http", "headers": list(headers)}


def test_a_sane_caller_id_is_kept_and_asked_twice_it_is_the_same() -> None:
    s = scope((b"x-request-id", b"trace-42:a.b_c"))
    assert request_id(s) == "trace-42:a.b_c"
    assert request_id(s) == "trace-42:a.b_c"


@pytest.mark.parametrize("supplied", [b"", b"a" * 129, b"has space", b"line\r\nbreak", b"\xff\xfe"])
def test_an_insane_caller_id_is_replaced(supplied: bytes) -> None:
    rid = request_id(scope((b"x-request-id", supplied)))
    assert rid.startswith("req_") and len(rid) == 28


def test_each_request_without_an_id_gets_its_own() -> None:
    assert request_id(scope()) != request_id(scope())
