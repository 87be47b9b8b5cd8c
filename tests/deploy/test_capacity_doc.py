"""docs/capacity.md's Redis figure per request is still what the stack does (the doc cannot drift)."""

from __future__ import annotations

import pytest
import redis as sync_redis

from bench.redis_cost import DOC_FIGURE, measure
from bench.stack import BenchStack
from tests.support.procs import ROOT
from tests.support.redis_server import PrivateRedis

pytestmark = pytest.mark.e2e  # starts processes (a private Redis and the services)

DOC = ROOT / "docs" / "capacity.md"


def doc_commands_per_request() -> float:
    found = DOC_FIGURE.search(DOC.read_text())
    assert found, f"{DOC.name} must state `Redis commands per request: **N**`"
    return float(found.group(1))


def test_redis_commands_per_request_match_the_capacity_doc() -> None:
    stated = doc_commands_per_request()
    server = PrivateRedis().start()  # its counters see nothing but this stack
    stack = BenchStack(server.url)
    client = sync_redis.Redis.from_url(server.url)
    try:
        stack.start()
        measured = measure(stack, client, requests=30, refreshes=0, idle=3.0)["per_request"]
    finally:
        client.close()
        stack.stop()
        server.kill()

    tolerance = max(1.5, 0.15 * stated)
    assert abs(measured["commands"] - stated) <= tolerance, (
        f"a request now costs {measured['commands']} Redis commands ({measured['by_command']}); "
        f"docs/capacity.md says {stated}: update the doc (python -m bench.redis_cost)"
    )
