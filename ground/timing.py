"""Waiting until a wall-clock instant, precisely enough for link emulation.

asyncio wakes a sleeping task up to a millisecond late (epoll timeouts are whole
milliseconds, rounded up). Emulated link delays are a few milliseconds, so that error
would be a large share of them. Waiters are therefore kept in one heap per event loop and
released by a single waker task: it sleeps coarsely until just before the earliest
instant, then yields in short turns until it passes. Only the waker ever spins, however
many requests are in flight, so a gateway under load does not burn its CPU in hundreds
of spinning tasks.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
import weakref

__all__ = ["freeze_startup_objects", "sleep_until"]

#: The part of a wait spent yielding in short turns instead of in one timed sleep.
SPIN_S = 0.003


class _Waker:
    """Releases the waiters of one event loop at their instants, in order."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._heap: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._task: asyncio.Task[None] | None = None
        self._nap: asyncio.Future[None] | None = None

    def wait(self, wall_target: float) -> asyncio.Future[None]:
        future: asyncio.Future[None] = self._loop.create_future()
        heapq.heappush(self._heap, (wall_target, next(self._order), future))
        if self._task is None:
            self._task = self._loop.create_task(self._run())
        elif self._heap[0][2] is future and self._nap is not None and not self._nap.done():
            self._nap.set_result(None)  # an earlier instant than the one napped for
        return future

    async def _run(self) -> None:
        try:
            while self._heap:
                now = time.time()
                while self._heap and self._heap[0][0] <= now:
                    _, _, future = heapq.heappop(self._heap)
                    if not future.done():  # a cancelled waiter is simply dropped
                        future.set_result(None)
                if not self._heap:
                    break
                ahead_s = self._heap[0][0] - now
                if ahead_s > SPIN_S:
                    self._nap = self._loop.create_future()
                    handle = self._loop.call_later(ahead_s - SPIN_S, _settle, self._nap)
                    try:
                        await self._nap
                    finally:
                        handle.cancel()
                        self._nap = None
                else:
                    await asyncio.sleep(0)
        finally:
            self._task = None


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


_wakers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Waker] = weakref.WeakKeyDictionary()


async def sleep_until(wall_target: float) -> None:
    """Return at ``wall_target`` (``time.time()`` seconds), never before it."""
    if wall_target <= time.time():
        return
    loop = asyncio.get_running_loop()
    waker = _wakers.get(loop)
    if waker is None:
        waker = _wakers[loop] = _Waker(loop)
    await waker.wait(wall_target)


def freeze_startup_objects(*, collect: bool = True) -> None:
    """Keep the garbage collector away from everything that exists at start-up.

    A server process holds hundreds of thousands of long-lived objects (Ray, gRPC,
    protobuf descriptors, numpy); a full collection walking them stalls the event loop
    for milliseconds, which shows up directly as emulated latency. Freezing moves them
    out of the collector's view; objects made per request are still collected.
    """
    import gc

    if collect:  # a first pass frees start-up garbage instead of freezing it (~30 ms)
        gc.collect()
    gc.freeze()
