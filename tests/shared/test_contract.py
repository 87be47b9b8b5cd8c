"""The router↔gateway usage report: what the gateway writes, the router reads back, whatever arrives."""

from __future__ import annotations

import pytest

from shared import contract
from shared.contract import Usage


def test_a_trailer_reads_back_as_written_and_is_an_internal_sse_comment() -> None:
    usage = Usage(1200, 34, 0.412345678, "suspended", "account temporarily suspended " * 20)
    line = usage.trailer()
    assert line.startswith(contract.INTERNAL_LINE) and line.endswith(b"\n\n")
    back = Usage.from_trailer(line.rstrip(b"\n"))
    assert (back.input_tokens, back.output_tokens, back.credits, back.failure) == (
        1200,
        34,
        0.412346,
        "suspended",
    )
    assert back.reason is not None and len(back.reason) == contract.REASON_LIMIT


def test_a_reason_travels_only_with_a_failure() -> None:
    assert Usage.from_trailer(Usage(1, 2, 0.0, None, "ignored").trailer()).reason is None


def test_headers_read_back_as_written() -> None:
    assert Usage.from_headers(Usage(7, 8, 0.25).headers()) == Usage(7, 8, 0.25)


@pytest.mark.parametrize(
    "line",
    [b"", b": x-kiro-usage ", b": x-kiro-usage {not json", b": x-kiro-usage []", b": x-kiro-other {}"],
)
def test_a_broken_trailer_counts_as_nothing_used_never_an_error(line: bytes) -> None:
    assert Usage.from_trailer(line) == Usage()


def test_malformed_usage_headers_count_as_zero() -> None:
    assert Usage.from_headers({contract.USAGE_INPUT_TOKENS: "many", contract.USAGE_CREDITS: ""}) == Usage()


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e999"])
def test_non_finite_usage_headers_count_as_zero(value: str) -> None:
    headers = {
        contract.USAGE_INPUT_TOKENS: value,
        contract.USAGE_OUTPUT_TOKENS: value,
        contract.USAGE_CREDITS: value,
    }
    assert Usage.from_headers(headers) == Usage()
