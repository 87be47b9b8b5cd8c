"""The launcher's output: the services' log lines never cut what the demo prints, and none is lost."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import pytest

from services.stack.supervisor import Supervisor

pytestmark = pytest.mark.e2e

#: a service that logs a numbered line every 5 ms
CHATTER = """
import itertools, time
for n in itertools.count():
    print(f"tick {n}", flush=True)
    time.sleep(0.005)
"""
ANSWER = ["Kiro Stack ", "streams this ", "answer piece ", "by piece, ", "unbroken."]


def test_held_log_lines_wait_for_the_answer_and_all_follow_it_in_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "chatter.py").write_text(CHATTER)
    sup = Supervisor(cwd=str(tmp_path), colour=False)
    out = ""
    try:
        sup.start("gateway", "chatter", [], {})
        deadline = time.monotonic() + 20
        while "tick 3\n" not in out and time.monotonic() < deadline:
            time.sleep(0.02)
            out += capsys.readouterr().out
        with sup.hold_logs():
            for piece in ANSWER:  # ~50 ticks are logged while the answer is printed
                sys.stdout.write(piece)
                sys.stdout.flush()
                time.sleep(0.05)
            sys.stdout.write("\n")
        time.sleep(0.1)
    finally:
        sup.stop()
    out += capsys.readouterr().out

    assert "".join(ANSWER) + "\n" in out, out
    ticks = [int(n) for n in re.findall(r"^\[gateway  \] tick (\d+)$", out, re.MULTILINE)]
    assert ticks == list(range(len(ticks))), ticks  # none lost, none out of order
    after = out.split("".join(ANSWER), 1)[1]
    assert len(re.findall("tick", after)) >= 20, after  # those logged meanwhile came after it
