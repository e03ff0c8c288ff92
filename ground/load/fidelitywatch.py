"""Measuring, beside a load test, what its fidelity is judged against.

A :class:`FidelityWatch` follows the load generator's phases (``run_load``'s
``on_phase``): while the measured phase runs, a
:class:`~orbitmesh.ground.load.floor.FloorProbe` times the machine's own gRPC round trip
after a pause as long as the median modelled latency seen so far; and the stations under
load are asked for their late tick lookups just before the measured phase and again
after it (its drain included: the measured requests still in flight look links up until
they end). Everything slow happens in threads of its own; the hook only starts one or
sets an event.
"""

from __future__ import annotations

import statistics
import threading
from collections.abc import Mapping, Sequence
from typing import Final

from orbitmesh.ground.client import Client
from orbitmesh.ground.errors import OrbitmeshError
from orbitmesh.ground.load.floor import FloorProbe
from orbitmesh.ground.load.loadgen import LoadRun
from orbitmesh.ground.load.loadstats import Finished
from orbitmesh.protos.serving import Credentials

__all__ = ["FidelityWatch"]

#: Records the pause's median is taken over at most (evenly spread over the run so far),
#: so that the probe thread never holds the interpreter long enough to delay a send.
_PAUSE_SAMPLE: Final = 1000
_STATS_TIMEOUT_S: Final = 5.0
#: How long before the measured phase the stations are first asked: reading them all
#: takes a few milliseconds, which must end before the phase begins.
_READ_LEAD_S: Final = 0.1


def _median_modelled_s(records: Sequence[Finished], speed: float) -> float | None:
    """The median modelled latency so far in wall seconds (None: none known yet)."""
    step = max(1, len(records) // _PAUSE_SAMPLE)
    modelled = [r.modelled_ms for r in records[::step] if r.modelled_ms is not None]
    return statistics.median(modelled) / speed / 1e3 if modelled else None


def late_tick_lookups(
    stations: Mapping[str, str], credentials: Credentials | None = None
) -> int | None:
    """The stations' late tick lookups since they started, summed (None: one did not
    answer)."""
    try:
        with Client.connect(stations, credentials=credentials) as client:
            return sum(
                int(client.link_stats(name, timeout_s=_STATS_TIMEOUT_S).late_tick_lookups)
                for name in stations
            )
    except OrbitmeshError:
        return None


class FidelityWatch:
    """``start`` early, ``ready`` just before the load, ``on_phase`` to ``run_load``,
    ``stop`` after it.

    ``stations``: name -> address of the stations under load; ``speed``: the emulation
    clock's; ``warmup_s``: the load's warm-up, after which the measured phase begins.
    """

    def __init__(
        self,
        stations: Mapping[str, str],
        speed: float,
        warmup_s: float,
        *,
        credentials: Credentials | None = None,
    ) -> None:
        self._stations = dict(stations)
        self._credentials = credentials
        self._speed = speed
        self._warmup_s = warmup_s
        self._records: Sequence[Finished] = ()
        self._probe = FloorProbe(lambda: _median_modelled_s(self._records, self._speed))
        self._before: int | None = None
        self._reader: threading.Thread | None = None
        self._measuring = False
        self._stopping = threading.Event()

    def start(self) -> None:
        self._probe.start()

    def ready(self) -> None:
        self._probe.ready()
        if self._warmup_s <= 0:  # the load is measured from its first request
            self._before = late_tick_lookups(self._stations, self._credentials)

    def on_phase(self, phase: str, run: LoadRun) -> None:
        self._records = run.records
        if phase == "warm-up" and self._reader is None:
            self._reader = threading.Thread(
                target=self._read_before,
                args=(max(0.0, self._warmup_s - _READ_LEAD_S),),
                name="orbitmesh-late-ticks",
                daemon=True,
            )
            self._reader.start()
        elif phase == "load":
            self._measuring = True
            self._probe.begin()

    def _read_before(self, delay_s: float) -> None:
        if self._stopping.wait(delay_s):  # the run ended during its warm-up
            return
        self._before = late_tick_lookups(self._stations, self._credentials)

    def stop(self) -> tuple[list[float], int | None]:
        """The floor's round trips (ms) and the late tick lookups of the measured phase
        (None: not read)."""
        self._stopping.set()
        round_trips_ms = self._probe.stop()
        if self._reader is not None:
            self._reader.join()
        if not self._measuring or self._before is None:
            return round_trips_ms, None
        after = late_tick_lookups(self._stations, self._credentials)
        if after is None or after < self._before:  # a station restarted: its count is lost
            return round_trips_ms, None
        return round_trips_ms, after - self._before
