"""Fault injection: per account or for the next N requests, per endpoint, errors and stream breakage."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from services.kiro_emulator.control import EmulatorControl, directive, unique_name
from tests.kiro_emulator.conftest import Kiro, kiro_body
from tests.support.polling import wait_until
from tests.support.procs import ServiceProcess

KINDS = {
    "invalid_token": (403, {"message": "The bearer token included in the request is invalid."}),
    "suspended": (
        403,
        {"message": "Your account has been temporarily suspended. Please contact support to appeal."},
    ),
    "quota": (402, {"message": "You have reached the limit.", "reason": "MONTHLY_REQUEST_COUNT"}),
    "throttled": (429, {"message": "Too many requests, please wait before trying again."}),
    "bad_request": (400, {"message": "Improperly formed request."}),
    "too_long": (400, {"message": "Input is too long.", "reason": "CONTENT_LENGTH_EXCEEDS_THRESHOLD"}),
    "server_error": (
        500,
        {"message": "Encountered an unexpected error when processing the request, please try again."},
    ),
    "unavailable": (503, {"message": "Service is temporarily unavailable."}),
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_fault_kind_answers_with_kiros_status_and_body_once(
    kiro: Kiro, ctl: EmulatorControl, account: dict[str, Any], kind: str
) -> None:
    ctl.add_fault(account=account["name"], kind=kind)
    answer = kiro.chat(account["access_token"], kiro_body())
    assert (answer.status, answer.error) == KINDS[kind]
    assert kiro.chat(account["access_token"], kiro_body()).status == 200


def test_fault_applies_times_then_stops(kiro: Kiro, ctl: EmulatorControl, account: dict[str, Any]) -> None:
    ctl.add_fault(account=account["name"], kind="server_error", times=2)
    statuses = [kiro.chat(account["access_token"], kiro_body()).status for _ in range(3)]
    assert statuses == [500, 500, 200]


def test_fault_with_times_zero_lasts_until_cleared(
    kiro: Kiro, ctl: EmulatorControl, account: dict[str, Any]
) -> None:
    ctl.add_fault(account=account["name"], kind="throttled", times=0)
    assert [kiro.chat(account["access_token"], kiro_body()).status for _ in range(3)] == [429] * 3
    ctl.clear_faults(account["name"])
    assert kiro.chat(account["access_token"], kiro_body()).status == 200


def test_one_chat_endpoint_throttled_while_the_other_works(
    kiro: Kiro, ctl: EmulatorControl, account: dict[str, Any]
) -> None:
    ctl.add_fault(account=account["name"], endpoint="chat_codewhisperer", kind="throttled", times=0)
    token = account["access_token"]
    assert kiro.chat(token, kiro_body(), endpoint="chat_codewhisperer").status == 429
    assert kiro.chat(token, kiro_body(origin="CLI"), endpoint="chat_amazonq").status == 200
    assert ctl.statuses(account["name"]) == {"chat_codewhisperer": {"429": 1}, "chat_amazonq": {"200": 1}}


def test_chat_endpoint_filter_matches_both_chat_endpoints_but_not_models(
    kiro: Kiro, ctl: EmulatorControl, account: dict[str, Any]
) -> None:
    ctl.add_fault(account=account["name"], endpoint="chat", kind="unavailable", times=0)
    token = account["access_token"]
    assert kiro.chat(token, kiro_body(), endpoint="chat_codewhisperer").status == 503
    assert kiro.chat(token, kiro_body(), endpoint="chat_amazonq").status == 503
    assert kiro.get("models", token).status_code == 200


def test_explicit_status_body_and_headers(kiro: Kiro, ctl: EmulatorControl, account: dict[str, Any]) -> None:
    ctl.add_fault(
        account=account["name"],
        status=429,
        body={"message": "slow down", "reason": "X"},
        headers={"Retry-After": "3"},
    )
    answer = kiro.chat(account["access_token"], kiro_body())
    assert (answer.status, answer.error) == (429, {"message": "slow down", "reason": "X"})
    assert answer.headers["retry-after"] == "3"


def test_stream_faults_break_an_otherwise_normal_answer(
    kiro: Kiro, ctl: EmulatorControl, account: dict[str, Any]
) -> None:
    ctl.add_fault(
        account=account["name"],
        exception={"after_frames": 1, "type": "InternalServerException", "message": "x"},
    )
    answer = kiro.chat(account["access_token"], kiro_body(directive(text="abcdef", chunks=3)))
    assert [f.message_type for f in answer.frames] == ["event", "exception"]
    assert answer.frames[1].exception_type == "InternalServerException"


def test_fault_delay_holds_back_the_first_byte_of_non_chat_endpoints(
    kiro: Kiro, ctl: EmulatorControl, account: dict[str, Any]
) -> None:
    ctl.add_fault(account=account["name"], endpoint="usage", first_byte_delay_ms=300)
    start = time.monotonic()
    assert kiro.get("usage", account["access_token"]).status_code == 200
    assert time.monotonic() - start >= 0.25


def test_a_released_fault_answers_the_requests_it_holds_at_once(
    kiro: Kiro, ctl: EmulatorControl, account: dict[str, Any]
) -> None:
    rule_id = ctl.add_fault(account=account["name"], endpoint="usage", first_byte_delay_ms=60_000, times=2)
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(kiro.get, "usage", account["access_token"])
        wait_until(lambda: ctl.counts(account["name"]).get("usage"), what="the held request")
        ctl.release_fault(rule_id)
        assert held.result(timeout=30).status_code == 200  # not the 60 s delay
    assert ctl.statuses(account["name"])["usage"] == {"200": 1}


@pytest.mark.parametrize(
    ("endpoint", "path"), [("models", "/ListAvailableModels"), ("usage", "/getUsageLimits")]
)
def test_faults_reach_models_and_usage(
    kiro: Kiro, ctl: EmulatorControl, account: dict[str, Any], endpoint: str, path: str
) -> None:
    ctl.add_fault(account=account["name"], endpoint=endpoint, kind="throttled")
    assert kiro.get(endpoint, account["access_token"]).status_code == 429
    assert kiro.get(endpoint, account["access_token"]).status_code == 200


def test_a_fault_rule_can_be_deleted_by_id(kiro: Kiro, ctl: EmulatorControl, account: dict[str, Any]) -> None:
    rule_id = ctl.add_fault(account=account["name"], kind="throttled", times=0)
    ctl.delete_fault(rule_id)
    assert kiro.chat(account["access_token"], kiro_body()).status == 200


@pytest.mark.parametrize(
    "rule",
    [{"endpoint": "chat_bogus"}, {"kind": "meltdown"}, {"status": 200}, {"times": -1}, {"tiems": 2}],
    ids=["endpoint", "kind", "status", "times", "typo"],
)
def test_invalid_fault_rules_are_refused(
    ctl: EmulatorControl, account: dict[str, Any], rule: dict[str, Any]
) -> None:
    with pytest.raises(httpx.HTTPStatusError) as err:
        ctl.add_fault(account=account["name"], **rule)
    assert err.value.response.status_code == 400


@pytest.fixture(scope="module")
def private_emulator() -> Iterator[ServiceProcess]:
    """An emulator of this module's own: global rules here cannot disturb other tests."""
    with ServiceProcess(
        "services.kiro_emulator", health_path="/_emulator/health", name="emulator-faults"
    ) as proc:
        yield proc


def test_global_rule_hits_the_next_requests_of_any_account(private_emulator: ServiceProcess) -> None:
    kiro = Kiro(private_emulator.url)
    with EmulatorControl(private_emulator.url) as ctl:
        a = ctl.register_account(unique_name("a"))["access_token"]
        b = ctl.register_account(unique_name("b"))["access_token"]
        ctl.add_fault(kind="server_error", times=2)
        assert [kiro.chat(t, kiro_body()).status for t in (a, b, a)] == [500, 500, 200]
        ctl.add_fault(kind="throttled", times=1)
        assert kiro.chat("no-such-token", kiro_body()).status == 429
    kiro.http.close()


def test_global_script_answers_the_next_request_of_anyone(private_emulator: ServiceProcess) -> None:
    kiro = Kiro(private_emulator.url)
    with EmulatorControl(private_emulator.url) as ctl:
        token = ctl.register_account(unique_name("c"))["access_token"]
        ctl.queue_script(text="global")
        assert [kiro.chat(token, kiro_body("mine")).text for _ in range(2)] == ["global", "mine"]
    kiro.http.close()
