"""The UTC day buckets of stats keys: right at every boundary, whatever order the times come in."""

from __future__ import annotations

from shared.accounts.pool import last_days, today

MIDNIGHT = 1_733_356_800  # 2024-12-05 00:00:00 UTC


def test_the_day_changes_exactly_at_utc_midnight_in_either_direction() -> None:
    assert today(MIDNIGHT - 0.001) == "2024-12-04"
    assert today(MIDNIGHT) == "2024-12-05"
    assert today(MIDNIGHT + 86_399.999) == "2024-12-05"
    assert today(MIDNIGHT + 86_400) == "2024-12-06"
    assert today(MIDNIGHT - 0.001) == "2024-12-04"  # back again: the remembered day is not reused
    assert today(951_868_799) == "2000-02-29"  # a leap day
    assert today(0) == "1970-01-01"


def test_last_days_are_consecutive_and_end_with_the_day_of_now() -> None:
    assert last_days(3, MIDNIGHT + 5) == ["2024-12-03", "2024-12-04", "2024-12-05"]
    assert last_days(2, MIDNIGHT - 5) == ["2024-12-03", "2024-12-04"]
