"""Admin login limits: per client address, and for the admin account as a whole, without a lockout.

Each password check is reserved in Redis (one script) *before* the password is verified, and counts as
a failure until it succeeds, so parallel attempts cannot all slip under the limit.

- Per client address: `FAILURES_PER_CLIENT` failures per `FAILURE_WINDOW_SECONDS`, then 429.
- Per account (the one admin): after `FAILURES_OVERALL` failures in the window from all addresses
  together, checks from addresses that never signed in are spaced stack-wide to one per
  `SLOW_SPACING_SECONDS` (a request waits up to `SLOW_MAX_WAIT_SECONDS` for its turn, else 429). The
  admin is slowed down, never locked out: a distributed attacker who makes the account "locked" would
  otherwise lock the admin out too (OWASP's warning about account lockout). Addresses that signed in
  successfully within `TRUSTED_CLIENT_SECONDS` skip the slow-down (OWASP's "device cookie" idea, keyed
  by address since the admin API is also used by scripts without cookies).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from fastapi import HTTPException

from services.router.context import AppContext
from shared.accounts.scripts import argv, register
from shared.client_errors import retry_headers

FAILURES_PER_CLIENT = 10
FAILURES_OVERALL = 100
FAILURE_WINDOW_SECONDS = 900
SLOW_SPACING_SECONDS = 1.0
SLOW_MAX_WAIT_SECONDS = 5.0
TRUSTED_CLIENT_SECONDS = 30 * 24 * 3600


@dataclass(frozen=True)
class Reservation:
    """A password check reserved for one client address."""

    client: str


def _too_many(retry_after_ms: int, why: str) -> HTTPException:
    headers = retry_headers(retry_after_ms / 1000)
    return HTTPException(
        429, f"too many failed logins{why}; try again in {headers['retry-after']} s", headers=headers
    )


async def reserve(ctx: AppContext, client: str) -> Reservation:
    """Count one password check of `client` before it happens; waits for its turn; raises 429."""
    keys = ctx.keys
    verdict, ms = await register(ctx.redis, "admin_login_reserve")(
        keys=[
            keys.admin_login_failures(client),
            keys.admin_login_failures("*"),
            keys.admin_login_turn(),
            keys.admin_trusted_client(client),
        ],
        args=argv(
            "admin_login_reserve",
            per_address=FAILURES_PER_CLIENT,
            overall=FAILURES_OVERALL,
            window=FAILURE_WINDOW_SECONDS,
            spacing=int(SLOW_SPACING_SECONDS * 1000),
            max_wait=int(SLOW_MAX_WAIT_SECONDS * 1000),
        ),
    )
    verdict = verdict.decode() if isinstance(verdict, bytes) else str(verdict)
    if verdict == "address":
        raise _too_many(int(ms), " from this address")
    if verdict == "busy":
        raise _too_many(int(ms), " for the admin account; sign-ins are slowed down")
    if int(ms) > 0:
        await asyncio.sleep(int(ms) / 1000)
    return Reservation(client)


async def release(ctx: AppContext, reservation: Reservation) -> None:
    """The reserved check succeeded: forget the address's failures and trust the address."""
    keys = ctx.keys
    await register(ctx.redis, "admin_login_release")(
        keys=[
            keys.admin_login_failures(reservation.client),
            keys.admin_login_failures("*"),
            keys.admin_trusted_client(reservation.client),
        ],
        args=[TRUSTED_CLIENT_SECONDS],
    )
