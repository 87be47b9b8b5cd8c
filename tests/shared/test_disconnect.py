"""The one disconnect watch of router and gateway: what cancels, what is swallowed, what goes on."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from shared.disconnect import ClientWatch, until_client_leaves


class Connection:
    """An ASGI `receive` whose client leaves when the test says so."""

    def __init__(self) -> None:
        self.left = asyncio.Event()

    async def receive(self) -> dict[str, Any]:
        await self.left.wait()
        return {"type": "http.disconnect"}


async def test_a_client_that_leaves_cancels_the_work_and_the_answer_is_none() -> None:
    conn = Connection()
    reached = asyncio.Event()

    async def work() -> str:
        reached.set()
        await asyncio.Event().wait()  # a Kiro call that never answers
        return "answer"

    async def leave() -> None:
        await reached.wait()
        conn.left.set()

    leaving = asyncio.create_task(leave())
    assert await until_client_leaves(conn.receive, work(), after=0) is None
    await leaving


async def test_work_that_finishes_first_is_answered_and_leaves_no_watch_behind() -> None:
    conn = Connection()

    async def work() -> str:
        return "answer"

    before = len(asyncio.all_tasks())
    assert await until_client_leaves(conn.receive, work(), after=0) == "answer"
    await asyncio.sleep(0)  # the stopped watch's task finishes its cancellation
    assert len(asyncio.all_tasks()) == before


async def test_a_shutdown_cancellation_is_never_swallowed() -> None:
    conn = Connection()

    async def request() -> None:
        await until_client_leaves(conn.receive, asyncio.Event().wait(), after=0)

    task = asyncio.create_task(request())
    await asyncio.sleep(0)
    task.cancel()  # the server shutting down, not the client
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_disarmed_watch_only_notes_the_client_left() -> None:
    conn = Connection()
    watch = ClientWatch(conn.receive, armed=False)
    conn.left.set()
    for _ in range(100):  # the watch task reads the disconnect within a few loop turns
        if watch.gone:
            break
        await asyncio.sleep(0)
    assert watch.gone
    assert not watch.ours()
    watch.stop()


async def test_a_delayed_watch_reads_nothing_before_its_time() -> None:
    reads = 0

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        return {"type": "http.disconnect"}

    watch = ClientWatch(receive, after=60, armed=False)
    await asyncio.sleep(0)
    watch.stop()
    assert reads == 0


async def test_a_failing_receive_counts_as_a_client_gone() -> None:
    async def receive() -> dict[str, Any]:
        raise RuntimeError("transport closed")

    async def request() -> str | None:
        return await until_client_leaves(receive, asyncio.Event().wait(), after=0)

    assert await request() is None
