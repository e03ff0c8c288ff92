"""Handing freed heap back to the operating system (glibc's ``malloc_trim``).

glibc keeps memory a process freed for its next allocations. Two kinds of process here
need it returned: a satellite host after start-up (imports and model loading free
megabytes a hundred satellites would each keep cached), and the orchestrator, whose
ticks of a million satellites allocate and free hundreds of MB of arrays a second and
whose own memory otherwise climbs in steps as the heap fragments.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable
from functools import cache

__all__ = ["release_freed_heap"]


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    libc = ctypes.util.find_library("c")
    if libc is None:
        return None
    trim: Callable[[int], int] | None = getattr(ctypes.CDLL(libc), "malloc_trim", None)
    return trim  # None off glibc (musl, macOS): nothing to do there


def release_freed_heap() -> None:
    """Return the heap's free pages to the OS, every arena's (a few ms at most)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
