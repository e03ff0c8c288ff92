"""One load test end to end against a running emulation: inputs, run, observations, files.

:func:`run_load_test` takes the endpoints of a running emulation (the document
``orbitmesh up`` writes), checks the model and input with one request, runs the load
(:mod:`orbitmesh.ground.load.loadgen`) while an
:class:`~orbitmesh.ground.load.observer.Observer`, in a process of its own, watches the
constellation, and writes ``summary.json``, ``timeseries.csv`` and ``report.html`` into
the output folder. ``orbitmesh load`` and ``orbitmesh demo`` are
thin shells around it.

While the load runs, a :class:`~orbitmesh.ground.load.liveness.Liveness` judge, fed by
the generator and by a :class:`~orbitmesh.ground.load.deathwatch.DeathWatch`, says whether
the emulation is still there; a run whose emulation died stops early and its summary
says so. The summary also holds the run to its thresholds (error rate, p99).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, TextIO

import numpy as np
import numpy.typing as npt

from orbitmesh.ground.endpoints import Endpoints
from orbitmesh.ground.errors import CallFailed, InvalidInput, NotFound, OrbitmeshError
from orbitmesh.ground.load.deathwatch import DeathWatch
from orbitmesh.ground.load.fidelitywatch import FidelityWatch
from orbitmesh.ground.load.liveness import DEAD_AFTER_S, Liveness
from orbitmesh.ground.load.loadgen import LoadOptions, LoadRun, Progress, build_request, run_load
from orbitmesh.ground.load.loadstats import (
    UNATTRIBUTED,
    Finished,
    Thresholds,
    account,
    summarize,
    timeseries,
    write_timeseries_csv,
)
from orbitmesh.ground.load.observer import Observations, ObserverProcess, SimClockView
from orbitmesh.protos.contract import CANCELLED
from orbitmesh.protos.tensors import DATATYPES, datatype_of

__all__ = ["LoadTestResult", "ProgressPrinter", "format_summary", "run_load_test"]

#: Individual requests kept for the report's scatter plot (evenly spread over the run).
REPORT_REQUESTS: Final = 4000


@dataclass(frozen=True)
class LoadTestResult:
    summary: dict[str, Any]
    out_dir: Path
    files: dict[str, Path]
    run: LoadRun
    observations: Observations

    @property
    def reconciles(self) -> bool:
        return account(self.run.records, self.run.issued).reconciles

    @property
    def thresholds_passed(self) -> bool:
        return bool(self.summary["orbitmesh"]["thresholds"]["passed"])

    @property
    def emulation_died(self) -> bool:
        return self.run.died is not None

    @property
    def ok(self) -> bool:
        """What the exit status says: nothing to report as a failure of the run."""
        return self.reconciles and self.thresholds_passed and not self.emulation_died


def _inputs(
    endpoints: Endpoints, station: str, model: str, input_path: str | None, seed: int | None
) -> tuple[dict[str, npt.NDArray[Any]], dict[str, str]]:
    """The request's tensors: from a .npy file, or random ones shaped by the model."""
    from orbitmesh.ground.client import Client

    with Client.connect(endpoints.gateways, credentials=endpoints.credentials()) as client:
        try:
            meta = client.model_metadata(station, model, timeout_s=10.0)
        except NotFound as exc:
            raise OrbitmeshError(f"no model {model!r} in this emulation ({exc.details})") from None
    specs = list(meta.inputs)
    if input_path not in (None, "random"):
        if len(specs) != 1:
            names = ", ".join(s.name for s in specs)
            raise OrbitmeshError(
                f"model {model!r} has {len(specs)} inputs ({names}); --input FILE.npy feeds "
                "single-input models (use --input random for this one)"
            )
        try:
            array = np.load(str(input_path), allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise OrbitmeshError(f"cannot read {input_path}: {exc}") from None
        datatype = datatype_of(array.dtype)
        if datatype is None:
            raise OrbitmeshError(f"{input_path}: numpy dtype {array.dtype} has no protocol type")
        return {specs[0].name: array}, {specs[0].name: datatype.name}
    rng = np.random.default_rng(seed)
    inputs, types = {}, {}
    for spec in specs:
        shape = [1 if d < 0 else int(d) for d in spec.shape]
        dt = DATATYPES.get(spec.datatype)
        if dt is None or dt.is_bytes:
            raise OrbitmeshError(
                f"input {spec.name!r} of {model!r} is {spec.datatype}: give --input FILE.npy"
            )
        if dt.dtype.kind == "f":
            inputs[spec.name] = rng.uniform(0.0, 1.0, size=shape).astype(dt.dtype)
        elif dt.dtype.kind == "b":
            inputs[spec.name] = rng.integers(0, 2, size=shape).astype(dt.dtype)
        else:
            inputs[spec.name] = rng.integers(0, 10, size=shape).astype(dt.dtype)
        types[spec.name] = spec.datatype
    return inputs, types


def _preflight(endpoints: Endpoints, station: str, payload: bytes) -> None:
    """One request before the load: a wrong model or input stops the run here, with the
    server's own message, instead of failing every request of it."""
    import grpc

    from orbitmesh.ground.errors import error_from_rpc
    from orbitmesh.protos.inference import grpc_service_pb2 as pb
    from orbitmesh.protos.serving import channel_to

    address = endpoints.gateways[station]
    with channel_to(address, endpoints.credentials()) as channel:
        call = channel.unary_unary(
            "/inference.GRPCInferenceService/ModelInfer",
            request_serializer=None,
            response_deserializer=pb.ModelInferResponse.FromString,
        )
        try:
            call(payload, timeout=30.0)
        except grpc.RpcError as exc:
            error = error_from_rpc(exc, station=station)
            if isinstance(error, InvalidInput | NotFound):
                raise OrbitmeshError(f"the request is refused: {error}") from None
            # No contact, power, ...: that is what the load test is for.
            assert isinstance(error, CallFailed)


class ProgressPrinter:
    """A live line on a terminal, a line every few seconds otherwise."""

    def __init__(self, options: LoadOptions, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.total_s = options.warmup_s + options.duration_s
        self._last_line = -1e9

    def __call__(self, p: Progress) -> None:
        if not self.tty and p.elapsed_s - self._last_line < 5.0:
            return
        self._last_line = p.elapsed_s
        width = 24
        filled = min(width, int(width * p.elapsed_s / self.total_s))
        bar = "#" * filled + "." * (width - filled)
        latency = (
            f"p50 {p.p50_ms:7.1f} ms  p99 {p.p99_ms:7.1f} ms"
            if p.p50_ms is not None and p.p99_ms is not None
            else "p50       - ms  p99       - ms"
        )
        line = (
            f"[{bar}] {min(p.elapsed_s, self.total_s):5.1f}/{self.total_s:g} s {p.phase:<7} "
            f"{p.rps:7.1f} rps  {latency}  done {p.done:,}  failed {p.failed:,}  "
            f"in flight {p.in_flight:,}"
        )
        if self.tty:
            self.stream.write("\r" + line + "\x1b[K")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def finish(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def run_load_test(
    endpoints: Endpoints,
    options: LoadOptions,
    out_dir: Path,
    *,
    input_path: str | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    observe: bool = True,
    meta: Mapping[str, Any] | None = None,
    thresholds: Thresholds | None = None,
    endpoints_path: Path | None = None,
    dead_after_s: float = DEAD_AFTER_S,
) -> LoadTestResult:
    """Run the load test and write its files; see the module docstring.

    ``thresholds``: what the run is held to (in the summary; :attr:`LoadTestResult.ok`).
    ``endpoints_path``: the endpoints file ``endpoints`` was read from, watched for the
    emulation going away. ``dead_after_s``: how long every station may refuse calls (or
    every poll fail) before the emulation is judged dead
    (:mod:`orbitmesh.ground.load.liveness`).
    """
    unknown = [s for s in options.stations if s not in endpoints.gateways]
    if unknown:
        known = ", ".join(endpoints.gateways)
        raise OrbitmeshError(f"no ground station {', '.join(unknown)} (stations: {known})")
    speed = float(endpoints.speed or 1.0)
    credentials = endpoints.credentials()
    watch = FidelityWatch(
        {s: endpoints.gateways[s] for s in options.stations},
        speed,
        options.warmup_s,
        credentials=credentials,
    )
    watch.start()  # its helper process comes up while the request is prepared
    try:
        first = options.stations[0]
        inputs, datatypes = _inputs(endpoints, first, options.model, input_path, options.seed)
        payload = build_request(
            options.model, inputs, datatypes, policy=options.policy, satellite=options.satellite
        )
        _preflight(endpoints, first, payload)
        watch.ready()
    except BaseException:
        watch.stop()
        raise
    payloads = dict.fromkeys(options.stations, payload)

    wall0 = endpoints.extra.get("wall0")
    sim_start = endpoints.sim_start or datetime(2000, 1, 1, tzinfo=UTC)
    clock = SimClockView(sim_start, speed, float(wall0) if wall0 is not None else None)
    observer = ObserverProcess(
        endpoints.gateways,
        endpoints.satellites,
        clock,
        watch_stations=options.stations,
        hosts=endpoints.extra.get("hosts"),
        credentials=credentials,
    )
    date = datetime.now(UTC)

    origin = time.time()
    if observe:
        observer.start(origin)
    liveness = Liveness(options.stations, time.perf_counter(), dead_after_s)
    deaths = DeathWatch(
        liveness,
        list(options.stations),
        path=endpoints_path,
        endpoints=endpoints,
        observer=observer if observe else None,
    )
    deaths.start()
    try:
        run = asyncio.run(
            run_load(
                options,
                endpoints.gateways,
                payloads,
                on_progress=on_progress,
                on_phase=watch.on_phase,
                liveness=liveness,
                credentials=credentials,
            )
        )
    finally:
        deaths.stop()
        floor_round_trips_ms, late_tick_lookups = watch.stop()  # probes end with the run
        observations = observer.stop() if observe else Observations()
    # The generator's clock started a moment after ours: shift observations onto it.
    shift_s = run.started_wall - origin
    observations = _shifted(observations, shift_s)

    measured_wall = run.started_wall + run.measured_from_s
    measured_sim = clock.sim_at(measured_wall) or sim_start
    run_meta = {
        "scenario": endpoints.scenario,
        "speed": speed,
        "sim_start": _iso(measured_sim),
        "sim_end": _iso(clock.sim_at(measured_wall + options.duration_s) or measured_sim),
        **dict(meta or {}),
    }
    rows = timeseries(
        run.records,
        speed=speed,
        origin_s=run.measured_from_s,
        length_s=options.duration_s,
        sim_start=measured_sim,
        samples=observations.samples,
        handovers_at_s=[e.at_s for e in observations.events if e.kind == "handover"],
    )
    summary = summarize(
        run.records,
        issued=run.issued,
        options=options.as_json(),
        meta=run_meta,
        date=date,
        end_reason=run.end_reason,
        # The measured phase's handovers, as the time series bins them.
        handovers=sum(row["handovers"] for row in rows) if observe else None,
        handovers_by_motion=(
            sum(
                1
                for e in observations.events
                if e.by_motion and 0.0 <= e.at_s - run.measured_from_s < options.duration_s
            )
            if observe
            else None
        ),
        floor_round_trips_ms=floor_round_trips_ms,
        late_tick_lookups=late_tick_lookups,
        thresholds=thresholds,
        died=run.died,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "summary": out_dir / "summary.json",
        "timeseries": out_dir / "timeseries.csv",
        "report": out_dir / "report.html",
    }
    files["summary"].write_text(json.dumps(summary, indent=2) + "\n")
    write_timeseries_csv(rows, files["timeseries"])
    document = _report_document(summary, rows, run, observations, speed)
    from orbitmesh.ground.load.report import write_report

    write_report(document, files["report"])
    return LoadTestResult(summary, out_dir, files, run, observations)


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _shifted(data: Observations, shift_s: float) -> Observations:
    """Observations re-stamped on the generator's clock (``t - shift_s``)."""
    return Observations(
        samples=[replace(s, at_s=s.at_s - shift_s) for s in data.samples],
        satellites={
            sid: [replace(x, at_s=x.at_s - shift_s) for x in xs]
            for sid, xs in data.satellites.items()
        },
        stations=data.stations,
        events=[replace(e, at_s=e.at_s - shift_s) for e in data.events],
        failed_polls=data.failed_polls,
    )


def _report_document(
    summary: dict[str, Any],
    rows: list[dict[str, Any]],
    run: LoadRun,
    data: Observations,
    speed: float,
) -> dict[str, Any]:
    """What the HTML report draws, on one time axis: simulated seconds since the
    measured phase began."""
    origin_s = run.measured_from_s

    def sim_s(wall_s: float) -> float:
        return round((wall_s - origin_s) * speed, 3)

    measured = [r for r in run.records if not r.warmup and r.outcome != CANCELLED]
    stride = max(1, len(measured) // REPORT_REQUESTS)
    # Faster than real time, wall latency is mostly gRPC's own cost: plot the model's.
    modelled = speed != 1.0

    def latency_ms(r: Finished) -> float:
        if modelled:
            return r.modelled_ms if r.modelled_ms is not None else r.latency_s * 1e3 * speed
        return r.latency_s * 1e3

    if modelled:
        rows = [
            row
            | {"latency_ms_p50": row["modelled_ms_p50"], "latency_ms_p99": row["modelled_ms_p99"]}
            for row in rows
        ]
        rows = [{k: v for k, v in row.items() if k != "modelled_ms_p50"} for row in rows]
    return {
        "latency_basis": "modelled" if modelled else "measured",
        "summary": summary,
        "timeseries": rows,
        "satellites": {
            sid: [
                {
                    "offset_s": sim_s(x.at_s),
                    "state_of_charge": x.state_of_charge,
                    "temperature_c": x.temperature_c,
                    "lat_deg": x.lat_deg,
                    "lon_deg": x.lon_deg,
                    "alt_km": x.alt_km,
                    "sunlit": x.sunlit,
                }
                for x in xs
            ]
            for sid, xs in data.satellites.items()
        },
        "stations": data.stations,
        "events": [
            {
                "offset_s": sim_s(e.at_s),
                "station": e.station,
                "kind": e.kind,
                "satellite": e.satellite,
                "previous": e.previous,
            }
            for e in data.events
        ],
        "requests": [
            {
                "offset_s": sim_s(r.done_s),
                "latency_ms": round(latency_ms(r), 3),
                "outcome": r.outcome,
                "station": r.station,
                "satellite": r.satellite,
            }
            for r in measured[::stride]
        ],
    }


#: Stations listed by name in the text summary (all of them are in summary.json).
SHOWN = 12


def format_summary(summary: Mapping[str, Any], files: Mapping[str, Path] | None = None) -> str:
    """The run in a dozen readable lines."""
    om = summary["orbitmesh"]
    acc = om["accounting"]
    lines = ["Summary:"]
    died = om.get("emulation_died")
    if died:
        lines.append(
            f"  EMULATION DIED: {died['reason']}; last seen {died['last_seen_s']:.1f} s into "
            f"the run, the run stopped at {died['detected_s']:.1f} s ({died['detected_at']})"
        )
    lines += [
        f"  Count:        {summary['count']:,}",
        f"  Total:        {summary['total'] / 1e9:.2f} s",
        f"  Requests/sec: {summary['rps']:.2f}",
    ]
    if summary["count"]:
        lines.append(
            f"  Latency:      fastest {summary['fastest'] / 1e6:.2f} ms, average "
            f"{summary['average'] / 1e6:.2f} ms, slowest {summary['slowest'] / 1e6:.2f} ms"
        )
        dist = ", ".join(
            f"p{d['percentage']} {d['latency'] / 1e6:.2f}" for d in summary["latencyDistribution"]
        )
        lines.append(f"  Percentiles:  {dist} ms")
    ok_ms = om["latency_ms"]
    if ok_ms["p50"] is not None:
        modelled = om["modelled_latency_ms"]
        # Replies without the modelled parts (not through a gateway) have none.
        model_text = (
            "no modelled latency"
            if modelled["p50"] is None
            else f"modelled (simulated) p50 {modelled['p50']:.2f} ms, p99 {modelled['p99']:.2f} ms"
        )
        lines.append(
            f"  Successes:    p50 {ok_ms['p50']:.2f} ms, p99 {ok_ms['p99']:.2f} ms measured; "
            + model_text
        )
    lines.append(f"  Fidelity:     {_fidelity_text(om.get('fidelity'))}")
    codes = ", ".join(f"{k} {v:,}" for k, v in summary["statusCodeDistribution"].items())
    lines.append(f"  Status codes: {codes or '-'}")
    causes = ", ".join(f"{k} {v:,}" for k, v in om["failures_by_cause"].items())
    lines.append(f"  Failures:     {causes or 'none'}")
    failed = sum(acc["failed"].values())
    rate = om.get("error_rate")
    lines.append(
        "  Error rate:   "
        + (
            "-"
            if rate is None
            else f"{rate:.4f} ({failed:,} failed of {acc['succeeded'] + failed:,} finished)"
        )
    )
    thresholds = om.get("thresholds") or {}
    given = [
        f"{name} {thresholds[key]:g}"
        for key, name in (("max_error_rate", "--max-error-rate"), ("max_p99_ms", "--max-p99-ms"))
        if thresholds.get(key) is not None
    ]
    if given:
        problems = [p["reason"] for p in thresholds.get("failed", [])]
        verdict = "FAILED: " + "; ".join(problems) if problems else "passed"
        lines.append(f"  Thresholds:   {verdict} ({', '.join(given)})")
    lines.append(
        f"  Accounting:   issued {acc['issued']:,} = warm-up {acc['warmup_excluded']:,} + sent "
        f"{acc['sent']:,}; sent = {acc['succeeded']:,} ok + {failed:,} failed + "
        f"{acc['cancelled']:,} cancelled"
    )
    per = om.get("energy_wh_per_inference")
    energy = f"{per * 3600:.4f} J per inference" if per is not None else "-"
    seen = "not watched" if om["handovers"] is None else f"{om['handovers']:,} at the stations"
    if om.get("handovers_by_motion"):
        seen += f" ({om['handovers_by_motion']:,} by the terminals' own motion)"
    lines.append(
        f"  Handovers:    {seen}; rerouted in flight (reply down another satellite than "
        f"the request went up): {om['rerouted_replies']:,}"
    )
    lines.append(f"  Energy:       {energy}")
    stations = om.get("stations", {})
    if stations:
        # The busiest first; a thousand phones would make a line of 20,000 characters.
        ranked = sorted(stations.items(), key=lambda item: -item[1]["count"])
        shown = [f"{name} {s['succeeded']:,}/{s['count']:,} ok" for name, s in ranked[:SHOWN]]
        more = f", ... {len(ranked) - SHOWN:,} more in summary.json" if len(ranked) > SHOWN else ""
        lines.append("  Stations:     " + ", ".join(shown) + more)
    satellites = _satellites_text(om)
    if satellites:
        lines.append(f"  Satellites:   {satellites}")
    if files:
        lines.append("Files:")
        lines.extend(f"  {path}" for path in files.values())
    return "\n".join(lines)


#: Satellites named in the printed summary at most (summary.json has them all).
SATELLITES_PRINTED: Final = 8


def _satellites_text(om: Mapping[str, Any]) -> str:
    """The satellites that finished the most requests, and the unattributed rest."""
    satellites = om.get("satellites") or {}
    ranked = sorted(satellites.items(), key=lambda kv: (-kv[1]["count"], kv[0]))
    parts = [
        f"{name} {s['succeeded']:,}/{s['count']:,} ok" for name, s in ranked[:SATELLITES_PRINTED]
    ]
    if len(ranked) > SATELLITES_PRINTED:
        parts.append(f"{len(ranked) - SATELLITES_PRINTED:,} more")
    rest = om.get("satellites_unattributed") or {}
    if rest.get("count"):
        parts.append(f"{UNATTRIBUTED} {rest['succeeded']:,}/{rest['count']:,} ok")
    return ", ".join(parts)


def _fidelity_text(fidelity: Mapping[str, Any] | None) -> str:
    """The emulation error against its bound, and the verdict with its reasons."""
    if not fidelity:
        return "not measured"

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    error, floor, bound = fidelity["error_ms"], fidelity["floor_ms"], fidelity["bound_ms"]
    late = fidelity["late_tick_lookups"]
    figures = (
        f"error p50 {ms(error['p50'])} ms, p99 {ms(error['p99'])} ms, max {ms(error['max'])} ms "
        f"against floor p50 {ms(floor['p50'])} ms, p99 {ms(floor['p99'])} ms (bound "
        f"{ms(bound['p50'])} / {ms(bound['p99'])} ms), "
        f"{'-' if late is None else f'{late:,}'} late tick lookups"
    )
    reasons = "; ".join(fidelity["reasons"])
    if fidelity["faithful"]:
        return f"{figures}: faithful"
    if fidelity["faithful"] is False:
        return f"{figures}: NOT FAITHFUL: {reasons}"
    return f"{figures}: fidelity unknown: {reasons}"
