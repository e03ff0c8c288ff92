"""Waiting until a wall-clock instant, precisely enough for link emulation.

asyncio wakes a sleeping task up to a millisecond late (epoll timeouts are whole
milliseconds, rounded up). Emulated link delays are a few milliseconds, so that error
would be a large share of them. Waiters are therefore kept in one heap per event loop and
released by one waker, in order:

- On Linux the waker arms a ``timerfd`` (an absolute CLOCK_REALTIME deadline, the clock
  ``time.time()`` reads) 0.5 ms before the earliest instant and lets the event loop watch
  it like a socket: epoll returns when the kernel's high-resolution timer fires, with no
  millisecond rounding. Only the last 0.5 ms is waited out by yielding in short turns,
  because a virtual CPU that went idle takes that long to run again. The loop's thread
  also asks for 1 us of timer slack instead of the default 50 us.
- Elsewhere it sleeps coarsely until just before the earliest instant, then yields in
  short turns until it passes. That spends CPU: under load a gateway spinning for
  every request competes with the satellites and clients on the same cores, which is
  why the timerfd is preferred.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import heapq
import itertools
import os
import sys
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

__all__ = ["in_slices", "quiet_garbage_collector", "sleep_until"]

T = TypeVar("T")
R = TypeVar("R")

#: Items a host handles in one turn of its event loop when it works through all of its
#: members (a status poll of hundreds of satellites): about a millisecond of work, so a
#: request's timer or reply waits at most that long behind it.
SLICE_ITEMS = 32

#: The part of a wait spent yielding in short turns instead of in one timed sleep
#: (the fallback waker only).
SPIN_S = 0.003
#: How long before an instant the timerfd fires; the rest is waited out by yielding.
#: A vCPU that went idle takes 0.1-1 ms to run again once its timer fires (0.28 ms late
#: at p50 without this lead on the project's 2-core VM, 0.03 ms with it).
LEAD_S = 0.0005
#: Timer slack asked for on the event loop's thread (Linux only).
TIMER_SLACK_NS = 1_000

_Heap = list[tuple[float, int, "asyncio.Future[None]"]]


class _Waker(Protocol):
    def wait(self, wall_target: float) -> asyncio.Future[None]: ...


def _release_due(heap: _Heap) -> None:
    now = time.time()
    while heap and heap[0][0] <= now:
        _, _, future = heapq.heappop(heap)
        if not future.done():  # a cancelled waiter is simply dropped
            future.set_result(None)


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


_CLOCK_REALTIME = 0
_TFD_TIMER_ABSTIME = 1
_PR_SET_TIMERSLACK = 29


class _TimerFdWaker:
    """Releases one loop's waiters from a timerfd armed for the earliest instant."""

    def __init__(self, loop: asyncio.AbstractEventLoop, libc: ctypes.CDLL) -> None:
        self._heap: _Heap = []
        self._order = itertools.count()
        self._settime = libc.timerfd_settime
        fd = libc.timerfd_create(_CLOCK_REALTIME, os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "timerfd_create failed")
        self._fd = fd
        self._armed_for = float("inf")
        self._spinning = False
        libc.prctl(_PR_SET_TIMERSLACK, TIMER_SLACK_NS, 0, 0, 0)  # best effort
        loop.add_reader(fd, self._fired)
        # The loop holds this waker (through its reader), never the other way round, so
        # the registry below can forget a finished loop; the fd is closed with it.
        weakref.finalize(loop, os.close, fd)

    def wait(self, wall_target: float) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._heap, (wall_target, next(self._order), future))
        wake = wall_target - LEAD_S
        if not self._spinning and wake < self._armed_for:
            self._arm(wake)
        return future

    def _arm(self, wall_target: float) -> None:
        seconds = int(wall_target)
        spec = _Itimerspec()
        spec.it_value.tv_sec = seconds
        spec.it_value.tv_nsec = int((wall_target - seconds) * 1e9)
        if self._settime(self._fd, _TFD_TIMER_ABSTIME, ctypes.byref(spec), None) != 0:
            raise OSError(ctypes.get_errno(), "timerfd_settime failed")
        self._armed_for = wall_target

    def _fired(self) -> None:
        with contextlib.suppress(BlockingIOError):  # re-armed after it fired: nothing to read
            os.read(self._fd, 8)
        self._armed_for = float("inf")
        self._check()

    def _check(self) -> None:
        self._spinning = False
        _release_due(self._heap)
        if not self._heap:
            return
        wake = self._heap[0][0] - LEAD_S
        if wake <= time.time():
            # The last stretch: look again after one turn of the loop.
            self._spinning = True
            asyncio.get_running_loop().call_soon(self._check)
        else:
            self._arm(wake)


class _SpinningWaker:
    """Releases one loop's waiters by napping, then yielding until each instant."""

    def __init__(self) -> None:
        self._heap: _Heap = []
        self._order = itertools.count()
        self._task: asyncio.Task[None] | None = None
        self._nap: asyncio.Future[None] | None = None

    def wait(self, wall_target: float) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        heapq.heappush(self._heap, (wall_target, next(self._order), future))
        if self._task is None:
            self._task = loop.create_task(self._run())
        elif self._heap[0][2] is future and self._nap is not None and not self._nap.done():
            self._nap.set_result(None)  # an earlier instant than the one napped for
        return future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._heap:
                _release_due(self._heap)
                if not self._heap:
                    break
                ahead_s = self._heap[0][0] - time.time()
                if ahead_s > SPIN_S:
                    self._nap = loop.create_future()
                    handle = loop.call_later(ahead_s - SPIN_S, _settle, self._nap)
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


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.timerfd_create  # noqa: B018 - glibc and musl have it; probe before use
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _libc()
_wakers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Waker] = weakref.WeakKeyDictionary()


def _new_waker(loop: asyncio.AbstractEventLoop, *, precise: bool = True) -> _Waker:
    if precise and _LIBC is not None:
        try:
            return _TimerFdWaker(loop, _LIBC)
        except (OSError, NotImplementedError):  # no fd readers (Windows' proactor loop)
            pass
    return _SpinningWaker()


async def sleep_until(wall_target: float) -> None:
    """Return at ``wall_target`` (``time.time()`` seconds), never before it."""
    if wall_target <= time.time():
        return
    loop = asyncio.get_running_loop()
    waker = _wakers.get(loop)
    if waker is None:
        waker = _wakers[loop] = _new_waker(loop)
    await waker.wait(wall_target)


async def in_slices(
    items: Sequence[T], work: Callable[[T], R], per_slice: int = SLICE_ITEMS
) -> list[R]:
    """``[work(x) for x in items]``, yielding to the event loop every ``per_slice``."""
    out: list[R] = []
    for start in range(0, len(items), per_slice):
        if start:
            await asyncio.sleep(0)
        out.extend(work(x) for x in items[start : start + per_slice])
    return out


def quiet_garbage_collector(*, collect: bool = True) -> None:
    """Keep the garbage collector's full passes off a serving process's event loop.

    A host holds hundreds of thousands of long-lived objects (Ray, gRPC, protobuf
    descriptors, numpy, and hundreds of satellites' or stations' state); a full
    collection walks all of them, and measured in a host under load one took 32 ms and
    another 233 ms, which a request waiting on that loop pays in full. So: what exists
    now is frozen (moved out of the collector's view), automatic full collections are
    turned off, and every ``REFREEZE_S`` the young generations are collected (cheap) and
    what survived is frozen too. Objects are still freed by reference counting and cyclic
    garbage by the young collections; a cycle that outlives both before it becomes
    garbage is kept, the price of never pausing for a full pass.

    Call it on the process's event loop once start-up is done.
    """
    import gc

    if collect:  # a first pass frees start-up garbage instead of freezing it (~30 ms)
        gc.collect()
    gc.freeze()
    young, middle, _full = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_COLLECTION_NEVER)
    loop = asyncio.get_running_loop()
    if loop not in _refreezing:
        _refreezing[loop] = loop.create_task(_refreeze())


#: A threshold for full collections no process reaches (their count of middle-generation
#: collections).
FULL_COLLECTION_NEVER = 1 << 30
#: How often survivors of the young collections are frozen.
REFREEZE_S = 5.0
_refreezing: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task[None]] = (
    weakref.WeakKeyDictionary()
)


async def _refreeze() -> None:
    import gc

    while True:
        await asyncio.sleep(REFREEZE_S)
        gc.collect(1)
        gc.freeze()
