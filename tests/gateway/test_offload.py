"""Big requests' CPU work goes to a worker thread; small ones stay on the loop; the collector comes back."""

from __future__ import annotations

import asyncio
import gc
import threading

import pytest

from services.gateway.offload import Offload
from shared.errors import InvalidRequestError


async def test_small_work_runs_inline_and_big_work_in_a_worker() -> None:
    offload = Offload(threshold_bytes=1000, threads=1)
    try:
        loop_thread = threading.get_ident()
        assert await offload.run(1000, threading.get_ident) == loop_thread
        assert await offload.run(1001, threading.get_ident) != loop_thread
    finally:
        offload.close()


async def test_the_cyclic_collector_pauses_while_a_big_request_is_held_and_resumes_after() -> None:
    offload = Offload(threshold_bytes=10, threads=2)
    assert gc.isenabled()
    try:
        with offload.collector_paused(5):
            assert gc.isenabled()  # small: nothing changes
        first, second = offload.collector_paused(11), offload.collector_paused(11)
        with first:
            assert not gc.isenabled()
            with second:
                await asyncio.sleep(0)
            assert not gc.isenabled()  # the other big request is still held
        assert gc.isenabled()
        with pytest.raises(InvalidRequestError), offload.collector_paused(11):
            await offload.run(11, _fail)
        assert gc.isenabled()
    finally:
        offload.close()


def _fail() -> None:
    raise InvalidRequestError("bad")
