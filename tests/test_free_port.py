"""Ports given to a test's services never repeat: two services of one test on one port would answer each
other's health checks (a gateway's /metrics scrape once got the router's)."""

from __future__ import annotations

from tests.support.procs import free_port


def test_free_port_never_gives_the_same_port_twice() -> None:
    ports = [free_port() for _ in range(2000)]  # the kernel alone repeats one within a few hundred
    assert len(set(ports)) == len(ports)
