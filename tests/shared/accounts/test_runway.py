"""Credit runway: the daily burn of the last seven UTC days, days left, and a reset that may come first."""

from __future__ import annotations

import calendar
import math

import pytest

from shared.accounts.runway import DAY_SECONDS, Runway, daily_burn, pool_runway, runway, window_days

NOW = float(calendar.timegm((2026, 12, 5, 12, 0, 0)))  # noon UTC: the window covers 6.5 days so far
DAY = DAY_SECONDS


def test_window_is_the_last_seven_utc_days_today_first() -> None:
    assert window_days(NOW) == [f"2026-12-0{d}" for d in (5, 4, 3, 2, 1)] + ["2026-11-30", "2026-11-29"]


def test_burn_averages_over_the_time_the_window_covers_today_as_far_as_it_has_gone() -> None:
    # six full days of 10 and half a day of 5: 10 a day
    assert daily_burn([5, 10, 10, 10, 10, 10, 10], created_at=0, now=NOW) == 10.0
    # the same at midnight: six full days, nothing yet today
    assert daily_burn([0, 10, 10, 10, 10, 10, 10], created_at=0, now=NOW - 12 * 3600) == 10.0


def test_burn_of_an_account_added_within_the_window_counts_only_the_days_it_existed() -> None:
    assert daily_burn([10, 20, 10, 0, 0, 0, 0], created_at=NOW - 2 * DAY, now=NOW) == 20.0


def test_burn_of_an_account_added_an_hour_ago_is_averaged_over_one_day() -> None:
    assert daily_burn([50, 0, 0, 0, 0, 0, 0], created_at=NOW - 3600, now=NOW) == 50.0


def test_runs_out_in_three_days_before_a_reset_in_ten() -> None:
    r = runway(limit=1000, used=700, reset_at=NOW + 10 * DAY, burn_per_day=100, now=NOW)
    assert (r.days_left, r.runs_out_before_reset, r.text) == (3.0, True, "runs out in ~3 days")
    assert r.remaining == 300
    assert r.reset_days(NOW) == 10.0


def test_lasts_until_a_reset_that_comes_first() -> None:
    r = runway(limit=1000, used=700, reset_at=NOW + 2 * DAY, burn_per_day=100, now=NOW)
    assert (r.days_left, r.runs_out_before_reset) == (3.0, False)
    assert r.text == "lasts until the reset on 2026-12-07"


def test_no_limit_known() -> None:
    r = runway(limit=0, used=50, reset_at=NOW + DAY, burn_per_day=10, now=NOW)
    assert (r.days_left, r.runs_out_before_reset, r.text) == (None, False, "no limit known")


def test_no_burn_never_runs_out() -> None:
    r = runway(limit=1000, used=10, reset_at=NOW + DAY, burn_per_day=0, now=NOW)
    assert (r.days_left, r.runs_out_before_reset, r.text) == (None, False, "no usage in 7 days")


def test_already_over_the_limit_has_no_days_left() -> None:
    r = runway(limit=1000, used=1200, reset_at=NOW + 5 * DAY, burn_per_day=40, now=NOW)
    assert (r.days_left, r.runs_out_before_reset, r.text) == (0.0, True, "limit reached")
    assert r.remaining == 0


def test_a_reset_in_the_past_is_unknown_so_the_credits_run_out_first() -> None:
    r = runway(limit=1000, used=0, reset_at=NOW - DAY, burn_per_day=10, now=NOW)
    assert (r.days_left, r.reset_at, r.runs_out_before_reset) == (100.0, 0.0, True)
    assert r.text == "runs out in ~100 days"
    assert r.reset_days(NOW) == math.inf


@pytest.mark.parametrize(
    ("left", "text"),
    [(0.5, "runs out within a day"), (1.2, "runs out in ~1 day"), (2.6, "runs out in ~3 days")],
)
def test_short_runways_read_naturally(left: float, text: str) -> None:
    assert runway(limit=100, used=100 - left * 10, reset_at=0, burn_per_day=10, now=NOW).text == text


def test_pool_sums_known_limits_and_an_overdrawn_account_owes_nothing() -> None:
    a = runway(limit=1000, used=700, reset_at=NOW + 10 * DAY, burn_per_day=100, now=NOW)
    b = runway(limit=500, used=600, reset_at=NOW + 20 * DAY, burn_per_day=50, now=NOW)
    unknown = runway(limit=0, used=0, reset_at=0, burn_per_day=30, now=NOW)
    pool = pool_runway([a, b, unknown], NOW)
    assert (pool.limit, pool.used, pool.remaining, pool.burn_per_day) == (1500, 1200, 300, 150)
    assert (pool.days_left, pool.reset_at, pool.text) == (2.0, NOW + 10 * DAY, "runs out in ~2 days")


def test_pool_without_any_known_limit() -> None:
    unknown = runway(limit=0, used=0, reset_at=0, burn_per_day=30, now=NOW)
    assert pool_runway([unknown], NOW).text == "no limit known"
    assert pool_runway([], NOW).text == "no limit known"


def test_answer_rounds_days_left_to_hundredths() -> None:
    r = runway(limit=100, used=0, reset_at=0, burn_per_day=30, now=NOW)
    assert isinstance(r, Runway)
    assert r.as_dict() == {
        "limit": 100,
        "used": 0,
        "remaining": 100,
        "burn_per_day": 30,
        "days_left": 3.33,
        "reset_at": 0.0,
        "runs_out_before_reset": True,
        "text": "runs out in ~3 days",
    }
