"""Watching, beside a load test, for signs that the emulation under load is gone.

The load generator tells the :class:`~orbitmesh.ground.load.liveness.Liveness` judge how
each of its calls ended; a :class:`DeathWatch` adds, from a thread of its own, what the
generator cannot see: whether the endpoints file the run was started from still
describes the same run (``orbitmesh up`` removes it when it stops), and whether the
observer's polls of the emulation's hosts are answered. Blocking reads stay off the
generator's event loop.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Final, Protocol

from orbitmesh.ground.endpoints import Endpoints, EndpointsError, load_endpoints
from orbitmesh.ground.load.liveness import Liveness

__all__ = ["DeathWatch", "run_identity"]

#: Seconds between two looks.
CHECK_EVERY_S: Final = 0.5


class _Polled(Protocol):
    def health(self) -> tuple[int, int] | None: ...


def run_identity(endpoints: Endpoints, stations: list[str]) -> tuple[object, ...]:
    """What tells one run of an emulation from another in its endpoints file: the pid
    and start time of ``orbitmesh up`` when the file has them (an emulation that
    rewrites its file, a restarted part at a new address, stays the same run), else the
    addresses of the stations under load."""
    if endpoints.pid is not None or endpoints.started_utc is not None:
        return ("run", endpoints.pid, endpoints.started_utc)
    return ("stations", *(endpoints.ground_stations.get(s) for s in stations))


class DeathWatch:
    """``start`` when the load starts, ``stop`` when it ends.

    ``path``: the endpoints file the run was started from (None: the emulation was
    brought up for the run, there is none); ``endpoints``: what it said then;
    ``observer``: the observer whose polls count (None: not observed).
    """

    def __init__(
        self,
        liveness: Liveness,
        stations: list[str],
        *,
        path: Path | None = None,
        endpoints: Endpoints | None = None,
        observer: _Polled | None = None,
        every_s: float = CHECK_EVERY_S,
    ) -> None:
        self._liveness = liveness
        self._stations = stations
        self._path = path
        self._identity = run_identity(endpoints, stations) if endpoints is not None else None
        self._observer = observer
        self._polls = (0, 0)
        #: The file's (inode, mtime, size) when last read: it is parsed again only when
        #: it changed (a large constellation's file takes a millisecond or more to parse,
        #: taken from the generator's interpreter).
        self._file_stamp: tuple[int, int, int] | None = None
        self._every_s = every_s
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="orbitmesh-deathwatch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()

    def _loop(self) -> None:
        while not self._stopping.wait(self._every_s):
            self.check(time.perf_counter())

    def check(self, now: float) -> None:
        """One look at the endpoints file and the observer's polls (``now``: the judge's
        clock, ``time.perf_counter()``)."""
        reason = self._file_says_gone()
        if reason is not None:
            self._liveness.gone(now, reason)
        health = self._observer.health() if self._observer is not None else None
        if health is not None:
            answered, failed = health
            if answered > self._polls[0]:
                self._liveness.polled(now, ok=True)
            elif failed > self._polls[1]:
                self._liveness.polled(now, ok=False)
            self._polls = health

    def _file_says_gone(self) -> str | None:
        if self._path is None or self._identity is None:
            return None
        try:
            stat = self._path.stat()
        except FileNotFoundError:
            return f"its endpoints file {self._path} was removed (the emulation stopped)"
        except OSError:
            return None
        stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if stamp == self._file_stamp:
            return None
        self._file_stamp = stamp
        try:
            now = load_endpoints(self._path)
        except EndpointsError:
            return None  # being edited by hand, say: not evidence either way
        if run_identity(now, self._stations) != self._identity:
            return f"its endpoints file {self._path} now describes another run"
        return None
