"""Reading numbers that were stored or sent as text (Redis hash fields, headers): never an exception."""

from __future__ import annotations


def float_or_zero(raw: str | None) -> float:
    """`raw` as a float; 0.0 when it is missing, empty or not a number."""
    try:
        return float(raw) if raw else 0.0
    except ValueError:
        return 0.0
