"""How long credits last at their recent pace: an account's or the pool's "runway" (pure, no I/O).

The pace is the average daily burn over the last `WINDOW_DAYS` UTC days, today included: the credits of
those days divided by the time they cover so far. Today counts only as far as it has gone (at 01:00 UTC
the window covers six days and an hour), so the figure is the same at every hour of a steady day. An
account added within the window is averaged from the moment it was added (`created_at`), never over days
before it existed, and over at least one day, so a burst in its first hour does not project a month's
burn.

The runway is what is left of the limit divided by that pace. A reset date that has passed is treated as
unknown (the refresher has not read the new one yet): nothing known refills the credits, so the account
runs out "before the reset" whenever it runs out.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from shared.accounts.pool import last_days

#: UTC days averaged for the daily burn (the day stats are kept 35 days)
WINDOW_DAYS = 7
DAY_SECONDS = 86400.0


def window_days(now: float) -> list[str]:
    """The UTC day buckets of the window (`today()` format), today first."""
    return last_days(WINDOW_DAYS, now)[::-1]


def daily_burn(credits: Sequence[float], created_at: float, now: float) -> float:
    """Average credits per day; `credits` are those of `window_days(now)`, today first.

    `created_at` 0 (unknown) averages over the whole window."""
    window_start = (now // DAY_SECONDS - (WINDOW_DAYS - 1)) * DAY_SECONDS
    covered = max(now - max(window_start, created_at), DAY_SECONDS)
    return sum(credits) / (covered / DAY_SECONDS)


@dataclass(frozen=True)
class Runway:
    """Credits left at the recent pace. `days_left` is None when there is no limit or no burn."""

    limit: float
    used: float
    burn_per_day: float
    days_left: float | None
    reset_at: float  # unix s; 0 = unknown or passed
    runs_out_before_reset: bool
    text: str

    @property
    def remaining(self) -> float:
        return max(self.limit - self.used, 0.0)

    def reset_days(self, now: float) -> float:
        """Days until the reset; infinite when none is known (nothing refills the credits)."""
        return (self.reset_at - now) / DAY_SECONDS if self.reset_at else math.inf

    def as_dict(self) -> dict[str, Any]:
        return {
            "limit": round(self.limit, 4),
            "used": round(self.used, 4),
            "remaining": round(self.remaining, 4),
            "burn_per_day": round(self.burn_per_day, 4),
            "days_left": None if self.days_left is None else round(self.days_left, 2),
            "reset_at": self.reset_at,
            "runs_out_before_reset": self.runs_out_before_reset,
            "text": self.text,
        }


def runway(limit: float, used: float, reset_at: float, burn_per_day: float, now: float) -> Runway:
    """The runway of `limit - used` credits at `burn_per_day`, against the reset at `reset_at`."""
    reset = reset_at if reset_at > now else 0.0
    if limit <= 0:
        return Runway(limit, used, burn_per_day, None, reset, False, "no limit known")
    if used >= limit:
        return Runway(limit, used, burn_per_day, 0.0, reset, True, "limit reached")
    if burn_per_day <= 0:
        return Runway(limit, used, 0.0, None, reset, False, f"no usage in {WINDOW_DAYS} days")
    days = (limit - used) / burn_per_day
    if reset and now + days * DAY_SECONDS >= reset:
        text = "lasts until the reset on " + time.strftime("%Y-%m-%d", time.gmtime(reset))
        return Runway(limit, used, burn_per_day, days, reset, False, text)
    return Runway(limit, used, burn_per_day, days, reset, True, _runs_out_in(days))


def _runs_out_in(days: float) -> str:
    if days < 1:
        return "runs out within a day"
    whole = round(days)
    return f"runs out in ~{whole} day" + ("" if whole == 1 else "s")


def pool_runway(runways: Iterable[Runway], now: float) -> Runway:
    """The pool's runway: limits, usage and burn summed over the accounts with a known limit.

    An account over its limit adds nothing left (not a debt to the others); the pool's reset is the
    soonest of its accounts', when the first of them is refilled."""
    known = [r for r in runways if r.limit > 0]
    limit = sum(r.limit for r in known)
    used = sum(min(r.used, r.limit) for r in known)
    burn = sum(r.burn_per_day for r in known)
    resets = [r.reset_at for r in known if r.reset_at > now]
    return runway(limit, used, min(resets, default=0.0), burn, now)
