"""Reading numbers that were stored or sent as text (Redis hash fields, headers): never an exception."""

from __future__ import annotations

import math


def float_or_zero(raw: str | None) -> float:
    """`raw` as a finite float; 0.0 when it is missing, empty, not a number, `inf` or `nan`.

    A non-finite value would pass through sums and then raise where it is turned into an int.
    """
    try:
        value = float(raw) if raw else 0.0
    except ValueError:
        return 0.0
    return value if math.isfinite(value) else 0.0
