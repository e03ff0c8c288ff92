"""The load generator: many inference requests through ground stations, every one accounted for.

Two modes:

- **open loop** (``rps``): requests leave on a schedule
  (:mod:`orbitmesh.ground.load.schedule`) whether or not earlier ones came back, as
  independent users would send them. Latency counts from the *intended* send instant, so
  a generator or system that falls behind shows up as latency instead of silently
  sending less (coordinated omission avoided). At most ``max_in_flight`` requests are
  outstanding; beyond that sends wait, and that wait is part of their latency.
- **closed loop** (``concurrency``): that many callers, each sending its next request
  when the previous one came back.

Requests are pre-serialised once per station and sent as raw bytes over one gRPC channel
per station, and replies are parsed only for the figures the report needs, so the
generator itself stays cheap (benchmarks/load.py measures it). The first ``warmup_s``
seconds run the same load but are excluded from the figures (and counted as such).
Every request ends as exactly one :class:`~orbitmesh.ground.load.loadstats.Finished`
record: success, failure with its cause (a failure without an orbitmesh cause is named
after its gRPC status code: ``grpc-unavailable``, ...), or cancelled when the run ended
before it came back.

Given a :class:`~orbitmesh.ground.load.liveness.Liveness` judge, the generator tells it
how each call ended and asks it a few times a second whether the emulation is still
there; when it died the run stops at once (``end_reason`` ``"emulation-died"``, the
requests in flight cancelled) instead of sending into closed ports until its end.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import grpc
import numpy as np
import numpy.typing as npt

from orbitmesh.ground.load.liveness import Liveness, evidence_of
from orbitmesh.ground.load.loadstats import OK, EmulationDied, Finished, grpc_cause
from orbitmesh.ground.load.schedule import Schedule, ScheduleKind
from orbitmesh.protos.contract import CANCELLED, Param, cause_of
from orbitmesh.protos.inference import grpc_service_pb2 as pb
from orbitmesh.protos.serving import Credentials, aio_channel_to
from orbitmesh.protos.tensors import DATATYPES, to_raw

__all__ = ["LoadOptions", "LoadRun", "Progress", "build_request", "run_load"]

_METHOD: Final = "/inference.GRPCInferenceService/ModelInfer"
#: Replies may be large; requests are built by us.
_CHANNEL_OPTIONS: Final = (("grpc.max_receive_message_length", -1),)
#: Seconds of completions the live progress figures cover.
_PROGRESS_WINDOW_S: Final = 5.0
#: The parts of a reply's modelled latency (simulated ms); a reply without one of them
#: has none.
_MODELLED_PARTS: Final = (
    Param.UPLINK_MS,
    Param.QUEUE_MS,
    Param.INFERENCE_MS,
    Param.DOWNLINK_MS,
)
#: Time on the laser links between a pipeline's stages; absent (0) for one model.
_ISL_PART: Final = Param.ISL_MS
#: Seconds between two questions to the liveness judge.
_LIVENESS_EVERY_S: Final = 0.25
#: How long the generator waits for its channels to connect before it starts.
_CONNECT_S: Final = 5.0


@dataclass(frozen=True)
class LoadOptions:
    model: str
    stations: Sequence[str]
    rps: float | None = None  # open loop
    concurrency: int | None = None  # closed loop
    duration_s: float = 30.0  # measured phase, wall seconds
    warmup_s: float = 0.0
    schedule: ScheduleKind = ScheduleKind.CONST
    steps: int = 5
    start_rps: float | None = None
    policy: str | None = None
    satellite: str | None = None
    timeout_s: float | None = 30.0
    max_in_flight: int = 10_000
    #: Seconds to wait, after the last send, for requests still in flight.
    drain_s: float | None = None  # None: the request timeout (plus a little)
    seed: int | None = None

    def __post_init__(self) -> None:
        problems = []
        if (self.rps is None) == (self.concurrency is None):
            problems.append("give exactly one of rps (open loop) and concurrency (closed loop)")
        if self.concurrency is not None and self.concurrency < 1:
            problems.append(f"concurrency must be at least 1, got {self.concurrency}")
        if not (math.isfinite(self.duration_s) and self.duration_s > 0):
            problems.append(f"duration must be positive, got {self.duration_s}")
        if not (math.isfinite(self.warmup_s) and self.warmup_s >= 0):
            problems.append(f"warm-up must be >= 0, got {self.warmup_s}")
        if self.timeout_s is not None and not self.timeout_s > 0:
            problems.append(f"timeout must be positive, got {self.timeout_s}")
        if self.max_in_flight < 1:
            problems.append(f"max in flight must be at least 1, got {self.max_in_flight}")
        if not self.stations:
            problems.append("no ground station to send through")
        if problems:
            raise ValueError("; ".join(problems))
        if self.rps is not None:
            self.measured_schedule()  # validates rps, steps and start rps

    @property
    def open_loop(self) -> bool:
        return self.rps is not None

    def measured_schedule(self) -> Schedule:
        assert self.rps is not None
        return Schedule(
            self.schedule, self.rps, self.duration_s, self.steps, self.start_rps, self.seed
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "mode": "open" if self.open_loop else "closed",
            "schedule": str(self.schedule) if self.open_loop else None,
            "rps": self.rps,
            "concurrency": self.concurrency,
            "duration_s": self.duration_s,
            "warmup_s": self.warmup_s,
            "steps": self.steps if self.schedule is ScheduleKind.STEP else None,
            "start_rps": self.start_rps,
            "stations": list(self.stations),
            "policy": self.policy,
            "satellite": self.satellite,
            "timeout_s": self.timeout_s,
            "max_in_flight": self.max_in_flight,
            "seed": self.seed,
        }


def build_request(
    model: str,
    inputs: Mapping[str, npt.NDArray[Any]],
    datatypes: Mapping[str, str],
    *,
    policy: str | None = None,
    satellite: str | None = None,
) -> bytes:
    """A serialised ModelInferRequest with raw tensor contents."""
    request = pb.ModelInferRequest(model_name=model)
    for name, array in inputs.items():
        datatype = DATATYPES[datatypes[name]]
        request.inputs.add(name=name, datatype=datatype.name, shape=list(array.shape))
        request.raw_input_contents.append(to_raw("input", name, datatype, array))
    if policy:
        request.parameters[Param.POLICY].string_param = policy
    if satellite:
        request.parameters[Param.SATELLITE].string_param = satellite
    return bytes(request.SerializeToString())


@dataclass
class Progress:
    """Live figures for the progress line, over the last few seconds of completions."""

    elapsed_s: float
    phase: str  # "warm-up", "load", "drain"
    issued: int
    in_flight: int
    done: int
    failed: int
    rps: float
    p50_ms: float | None
    p99_ms: float | None


@dataclass
class LoadRun:
    """What a run produced: records (one per issued request) and its clock."""

    options: LoadOptions
    records: list[Finished] = field(default_factory=list)
    issued: int = 0
    started_wall: float = 0.0  # time.time() at the run's start (warm-up included)
    measured_from_s: float = 0.0  # seconds after the start where measurement begins
    measured_length_s: float = 0.0
    end_reason: str = "normal"  # "normal", "cancel", "drain-timeout" or "emulation-died"
    died: EmulationDied | None = None  # the emulation went away: the run stopped early


class _Runner:
    def __init__(
        self,
        options: LoadOptions,
        addresses: Mapping[str, str],
        payloads: Mapping[str, bytes],
        on_progress: Callable[[Progress], None] | None,
        progress_every_s: float,
        on_phase: Callable[[str, LoadRun], None] | None = None,
        liveness: Liveness | None = None,
        credentials: Credentials | None = None,
    ) -> None:
        self.options = options
        self._credentials = credentials
        self.run = LoadRun(options)
        self._addresses = addresses
        self._payloads = payloads
        self._on_progress = on_progress
        self._on_phase = on_phase
        self._progress_every_s = progress_every_s
        self._in_flight: set[asyncio.Task[None]] = set()
        self._recent: deque[tuple[float, float, bool]] = deque()  # (done_s, latency_ms, ok)
        self._stop = asyncio.Event()
        self._t0 = 0.0
        self._phase = "warm-up"
        self._announced = ""  # the last phase given to on_phase
        self._done = 0  # measured requests finished (not cancelled)
        self._failed = 0
        self._liveness = liveness

    def _now_s(self) -> float:
        return time.perf_counter() - self._t0

    def _set_phase(self, phase: str) -> None:
        self._phase = phase
        if phase != self._announced:
            self._announced = phase
            if self._on_phase is not None:
                self._on_phase(phase, self.run)

    async def execute(self) -> LoadRun:
        o = self.options
        channels = {
            s: aio_channel_to(self._addresses[s], self._credentials, _CHANNEL_OPTIONS)
            for s in o.stations
        }
        calls = {
            s: ch.unary_unary(_METHOD, request_serializer=None, response_deserializer=None)
            for s, ch in channels.items()
        }
        # Connect before the clock starts: a first call on a channel pays TCP and HTTP/2
        # set-up (1-2 ms here), which no orbit causes. Through a thousand phones most
        # calls would be a channel's first. A gateway that does not answer in time is
        # left to fail its calls as before.
        await asyncio.gather(
            *(asyncio.wait_for(ch.channel_ready(), _CONNECT_S) for ch in channels.values()),
            return_exceptions=True,
        )
        self.run.started_wall = time.time()
        self._t0 = time.perf_counter()
        self.run.measured_from_s = o.warmup_s
        self.run.measured_length_s = o.duration_s
        loop = asyncio.get_running_loop()
        reporter = loop.create_task(self._report())
        sending = loop.create_task(
            self._open_loop(calls) if o.open_loop else self._closed_loop(calls)
        )
        watcher = loop.create_task(self._watch(sending))
        try:
            self._set_phase("warm-up" if o.warmup_s > 0 else "load")
            try:
                await sending
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if self.run.died is None or (current is not None and current.cancelling()):
                    raise  # cancelled from outside, not by the watcher
            if self.run.died is None:
                self._set_phase("drain")
                await self._drain()
            await self._cancel_all()
            if self.run.died is not None:
                self.run.end_reason = "emulation-died"
        except asyncio.CancelledError:
            self.run.end_reason = "cancel"
            sending.cancel()
            await self._cancel_all()
            raise
        finally:
            self._stop.set()
            watcher.cancel()
            await asyncio.gather(reporter, watcher, sending, return_exceptions=True)
            await asyncio.gather(*(ch.close() for ch in channels.values()))
        return self.run

    async def _watch(self, sending: asyncio.Task[None]) -> None:
        """Ask the liveness judge a few times a second; when the emulation died, stop
        sending and cut short what is in flight."""
        if self._liveness is None:
            return
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=_LIVENESS_EVERY_S)
            death = self._liveness.verdict(time.perf_counter())
            if death is None:
                continue
            detected_s = death.detected - self._t0
            self.run.died = EmulationDied(
                reason=death.reason,
                last_seen_s=max(0.0, death.last_seen - self._t0),
                detected_s=detected_s,
                detected_utc=datetime.fromtimestamp(self.run.started_wall + detected_s, UTC),
            )
            sending.cancel()
            for task in set(self._in_flight):
                task.cancel()
            return

    # ------------------------------------------------------------------ sending

    async def _open_loop(self, calls: Mapping[str, Any]) -> None:
        o = self.options
        measured = o.measured_schedule()
        warm = (
            Schedule(ScheduleKind.CONST, measured.rate_per_s(0.0), o.warmup_s)
            if o.warmup_s > 0
            else None
        )
        arrivals = itertools.chain(
            ((t, True) for t in (warm.arrivals() if warm else ())),
            ((o.warmup_s + t, False) for t in measured.arrivals()),
        )
        slots = asyncio.Semaphore(o.max_in_flight)
        stations = itertools.cycle(o.stations)
        for intended_s, warmup in arrivals:
            self._set_phase("warm-up" if warmup else "load")
            ahead_s = intended_s - self._now_s()
            if ahead_s > 0:
                # Arrivals due within the sleep's overshoot go out together on waking.
                await asyncio.sleep(ahead_s)
            await slots.acquire()
            station = next(stations)
            self._start(calls[station], station, intended_s, warmup, slots.release)

    async def _closed_loop(self, calls: Mapping[str, Any]) -> None:
        o = self.options
        assert o.concurrency is not None
        end_s = o.warmup_s + o.duration_s
        stations = itertools.cycle(o.stations)

        async def caller() -> None:
            while (now_s := self._now_s()) < end_s:
                station = next(stations)
                self._set_phase("warm-up" if now_s < o.warmup_s else "load")
                await self._request(calls[station], station, now_s, now_s < o.warmup_s)

        callers = [asyncio.get_running_loop().create_task(caller()) for _ in range(o.concurrency)]
        self._in_flight.update(callers)  # so that a cancelled run cancels the callers too
        try:
            await asyncio.gather(*callers)
        finally:
            self._in_flight.difference_update(callers)

    def _start(
        self,
        call: Any,
        station: str,
        intended_s: float,
        warmup: bool,
        release: Callable[[], None],
    ) -> None:
        task = asyncio.get_running_loop().create_task(
            self._request(call, station, intended_s, warmup)
        )
        self._in_flight.add(task)

        def done(t: asyncio.Task[None]) -> None:
            self._in_flight.discard(t)
            release()

        task.add_done_callback(done)

    async def _request(self, call: Any, station: str, intended_s: float, warmup: bool) -> None:
        self.run.issued += 1
        sent_s = self._now_s()
        record = Finished(intended_s, sent_s, sent_s, CANCELLED, "CANCELLED", station, warmup)
        # A pinned request's failure is that satellite's, though no reply names it.
        record.satellite = self.options.satellite or ""
        try:
            reply = await call(self._payloads[station], timeout=self.options.timeout_s)
        except grpc.aio.AioRpcError as exc:
            record.done_s = self._now_s()
            record.code = exc.code().name
            cause = cause_of(exc.trailing_metadata())
            record.outcome = cause if cause is not None else grpc_cause(record.code)
            record.details = exc.details() or ""
            if self._liveness is not None:
                self._liveness.saw(station, time.perf_counter(), evidence_of(record.code, cause))
        except asyncio.CancelledError:
            record.done_s = self._now_s()
            raise
        else:
            record.done_s = self._now_s()
            record.code = "OK"
            record.outcome = OK
            _read_reply(record, reply)
            if self._liveness is not None:
                self._liveness.saw(station, time.perf_counter(), evidence_of("OK", None))
        finally:
            self.run.records.append(record)
            if not warmup and record.outcome != CANCELLED:
                ok = record.outcome == OK
                self._done += 1
                self._failed += not ok
                self._recent.append((record.done_s, record.latency_s * 1e3, ok))

    async def _drain(self) -> None:
        o = self.options
        limit_s = o.drain_s if o.drain_s is not None else (o.timeout_s or 30.0) + 1.0
        pending = set(self._in_flight)
        if pending:
            _, still = await asyncio.wait(pending, timeout=limit_s)
            if still:
                self.run.end_reason = "drain-timeout"
        await self._cancel_all()

    async def _cancel_all(self) -> None:
        pending = set(self._in_flight)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    # ------------------------------------------------------------------ progress

    async def _report(self) -> None:
        if self._on_progress is None:
            return
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self._progress_every_s)
            self._on_progress(self.progress())

    def progress(self) -> Progress:
        now_s = self._now_s()
        while self._recent and self._recent[0][0] < now_s - _PROGRESS_WINDOW_S:
            self._recent.popleft()
        latencies = [ms for _, ms, ok in self._recent if ok]
        window_s = min(_PROGRESS_WINDOW_S, max(now_s - self.options.warmup_s, 1e-3))
        p50, p99 = (
            (float(v) for v in np.percentile(latencies, [50, 99])) if latencies else (None, None)
        )
        return Progress(
            elapsed_s=now_s,
            phase=self._phase,
            issued=self.run.issued,
            in_flight=len(self._in_flight),
            done=self._done,
            failed=self._failed,
            rps=len(self._recent) / window_s,
            p50_ms=p50,
            p99_ms=p99,
        )


def _read_reply(record: Finished, reply: bytes) -> None:
    params = pb.ModelInferResponse.FromString(reply).parameters
    if Param.SATELLITE in params:
        record.satellite = params[Param.SATELLITE].string_param
    if all(k in params for k in _MODELLED_PARTS):
        isl_ms = params[_ISL_PART].double_param if _ISL_PART in params else 0.0
        record.modelled_ms = sum(params[k].double_param for k in _MODELLED_PARTS) + isl_ms
    else:
        record.modelled_ms = None
    if Param.ENERGY_WH in params:
        record.energy_wh = params[Param.ENERGY_WH].double_param
    if Param.LATE_MS in params:
        record.late_ms = params[Param.LATE_MS].double_param
    record.handover = Param.HANDOVER in params and params[Param.HANDOVER].bool_param


async def run_load(
    options: LoadOptions,
    addresses: Mapping[str, str],
    payloads: Mapping[str, bytes],
    *,
    on_progress: Callable[[Progress], None] | None = None,
    progress_every_s: float = 0.5,
    on_phase: Callable[[str, LoadRun], None] | None = None,
    liveness: Liveness | None = None,
    credentials: Credentials | None = None,
) -> LoadRun:
    """Run the load against the ground stations at ``addresses`` (name -> host:port),
    sending ``payloads[station]`` (serialised ModelInferRequests) to each.

    ``on_phase(phase, run)`` is called on the event loop as the run enters each phase:
    ``"warm-up"`` (if any), ``"load"`` (the measured phase) and ``"drain"`` (sends are
    over). It must return at once: anything slow belongs in a thread of its own.
    ``run.records`` grows while the load runs.

    ``liveness``: a judge of whether the emulation is still there (its clock
    ``time.perf_counter()``), told how every call ended; when it says the emulation died
    the run stops early, ``run.died`` says why and when.

    ``credentials``: TLS and the bearer token for secured stations (the endpoints'
    :meth:`~orbitmesh.ground.endpoints.Endpoints.credentials`; None: plaintext).
    """
    missing = [s for s in options.stations if s not in addresses or s not in payloads]
    if missing:
        raise ValueError(f"no address or request for station(s): {', '.join(missing)}")
    runner = _Runner(
        options,
        addresses,
        payloads,
        on_progress,
        progress_every_s,
        on_phase,
        liveness,
        credentials,
    )
    return await runner.execute()
