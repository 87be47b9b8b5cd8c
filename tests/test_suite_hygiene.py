"""The suite waits for what it expects, never for a fixed time: fixed sleeps flake on a busy CI machine.

A test waits for a condition by polling it (`tests/support/polling.py`: `wait_for`, `wait_until`) or for an
event. A `time.sleep(...)` or `asyncio.sleep(...)` of a literal longer than 0.2 s is allowed only when it is
not synchronisation, and says why in a comment starting with `# not sync:` on the same line or the line
before, e.g. a slow upstream's delay, a stream's pace, or a "nothing may happen" window kept as short as it
can be. This test lists every sleep that breaks the rule.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
LIMIT = 0.2  # seconds: a poll interval or a short pace needs no comment
MARKER = "# not sync:"


def unjustified_sleeps(source: str) -> list[tuple[int, float]]:
    """(line, seconds) of every `time.sleep`/`asyncio.sleep` of a literal over LIMIT without the marker."""
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args):
            continue
        owner, seconds = node.func.value, node.args[0]
        if not (
            node.func.attr == "sleep" and isinstance(owner, ast.Name) and owner.id in ("time", "asyncio")
        ):
            continue
        if not (isinstance(seconds, ast.Constant) and isinstance(seconds.value, int | float)):
            continue
        if seconds.value <= LIMIT:
            continue
        nearby = lines[max(0, node.lineno - 2) : node.end_lineno or node.lineno]
        if not any(MARKER in line for line in nearby):
            found.append((node.lineno, float(seconds.value)))
    return sorted(found)


def test_the_scanner_finds_a_long_sleep_and_accepts_a_justified_or_short_one() -> None:
    source = (
        "import asyncio, time\n"
        "async def f():\n"
        "    await asyncio.sleep(1.5)\n"
        "    time.sleep(2)\n"
        "    await asyncio.sleep(0.05)\n"
        "    await asyncio.sleep(3)  # not sync: a slow upstream\n"
        "    # not sync: nothing may happen meanwhile\n"
        "    time.sleep(0.5)\n"
        "    await asyncio.sleep(delay)\n"
    )
    assert unjustified_sleeps(source) == [(3, 1.5), (4, 2.0)]


def test_no_test_sleeps_longer_than_a_poll_interval_without_saying_why() -> None:
    offenders = [
        f"{path.relative_to(TESTS.parent)}:{line}: sleep({seconds:g})"
        for path in sorted(TESTS.rglob("*.py"))
        for line, seconds in unjustified_sleeps(path.read_text())
    ]
    assert not offenders, (
        f"fixed sleeps over {LIMIT} s: poll the condition (tests/support/polling.py) or, if the sleep is "
        f"not synchronisation, say why with a `{MARKER} ...` comment:\n" + "\n".join(offenders)
    )
