"""Gauge series that go away (a gateway address DNS stopped giving, an account gone) leave `/metrics`, with
worker processes too, where prometheus_client cannot delete a series from the shared files."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support.procs import ROOT

pytestmark = pytest.mark.e2e  # a fresh interpreter: the worker mode changes prometheus_client for good

SCRIPT = """
import json, os, pathlib, sys, tempfile
from shared import metrics

if sys.argv[1] == "workers":
    metrics.merge_workers(pathlib.Path(tempfile.mkdtemp()))
registry = metrics.new_registry()
up = metrics.gauge(registry, "kiro_test_address_up", "doc", ("gateway", "address"), "livemax")

def shown():
    body = metrics.exposition(registry)[0].decode()
    return sorted(line for line in body.splitlines() if line.startswith("kiro_test_address_up{"))

metrics.series(up, "http://gw", "10.0.0.1").set(1)
metrics.series(up, "http://gw", "10.0.0.2").set(0)  # ejected: still a series, at 0
before = shown()
metrics.retire_series(up, "http://gw", "10.0.0.1")
retired = shown()
metrics.series(up, "http://gw", "10.0.0.1")  # DNS gives it again: shown, at 0 until admitted
back = shown()
print(json.dumps([before, retired, back]))
"""


@pytest.mark.parametrize("mode", ["single", "workers"])
def test_a_retired_series_leaves_metrics_and_comes_back_when_its_address_does(mode: str) -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, check=True, cwd=ROOT, timeout=60
    )
    before, retired, back = json.loads(out.stdout)
    one = 'kiro_test_address_up{address="10.0.0.1",gateway="http://gw"}'
    two = 'kiro_test_address_up{address="10.0.0.2",gateway="http://gw"} 0.0'
    assert before == [f"{one} 1.0", two]
    assert retired == [two]
    assert back == [f"{one} 0.0", two]
