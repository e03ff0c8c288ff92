"""Waiting until a wall-clock instant, precisely enough for link emulation.

asyncio wakes a sleeping task up to a millisecond late (epoll timeouts are whole
milliseconds, rounded up). Emulated link delays are a few milliseconds, so that error
would be a large share of them: :func:`sleep_until` sleeps to just before the target
and yields its last stretch in short turns instead, which keeps other tasks running.
"""

from __future__ import annotations

import asyncio
import time

__all__ = ["freeze_startup_objects", "sleep_until"]

#: The part of a wait spent yielding in short turns instead of in one timed sleep.
SPIN_S = 0.003


async def sleep_until(wall_target: float, *, precise: bool = True) -> None:
    """Return at ``wall_target`` (``time.time()`` seconds), never before it."""
    remaining = wall_target - time.time()
    if remaining > SPIN_S or (not precise and remaining > 0):
        await asyncio.sleep(remaining - (SPIN_S if precise else 0.0))
    if not precise:
        while time.time() < wall_target:  # asyncio may return a hair early
            await asyncio.sleep(wall_target - time.time())
        return
    while time.time() < wall_target:
        await asyncio.sleep(0)


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
