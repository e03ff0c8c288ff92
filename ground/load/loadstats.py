"""What a load test measured: per-request records, exact accounting, summary and time series.

Pure: the load generator (:mod:`orbitmesh.ground.load.loadgen`) fills a list of :class:`Finished`
records, one per request it issued, whatever happened to it; everything here is computed
from those records and from what the run observed of the constellation.

Accounting is exact by construction and checked: every issued request ends as exactly
one record, so ``issued = warm-up + sent`` and ``sent = succeeded + failed + cancelled``.

``summary.json`` follows ghz's JSON report (durations in nanoseconds, ``histogram`` marks
in seconds, ``statusCodeDistribution`` keyed by Go-style code names, ``errorDistribution``
keyed by ``rpc error: code = ... desc = ...``) so that tools reading ghz reports read it,
and adds an ``orbitmesh`` object: failures by cause, per-station and per-satellite
figures, handovers, energy per inference, the modelled latency, the run's fidelity
(the emulation error against the machine's floor, :mod:`orbitmesh.ground.load.fidelity`),
the error rate and the thresholds it was held to, and whether the emulation died.

A failure's cause is the orbitmesh cause its server sent (``no-contact``, ``power``, ...),
or, for a call that carried none, one named after its gRPC status code
(:func:`grpc_cause`: ``grpc-unavailable``, ``grpc-cancelled``, ...): gRPC refusing or
cancelling a call is a failure like any other, never ``cancelled``, which is only what
the end of the run cut short.
"""

from __future__ import annotations

import bisect
import csv
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

import numpy as np

from orbitmesh.ground.load.fidelity import assess
from orbitmesh.protos.contract import CANCELLED

__all__ = [
    "GHZ_PERCENTAGES",
    "GRPC_CAUSE_PREFIX",
    "UNATTRIBUTED",
    "Accounting",
    "EmulationDied",
    "Finished",
    "Sample",
    "Thresholds",
    "account",
    "check_thresholds",
    "error_rate",
    "grpc_cause",
    "summarize",
    "timeseries",
    "write_timeseries_csv",
]

#: ghz's latency percentiles.
GHZ_PERCENTAGES: Final = (10, 25, 50, 75, 90, 95, 99)
#: Buckets of the ghz-style histogram (equal width between fastest and slowest).
HISTOGRAM_BUCKETS: Final = 10
#: Distinct error messages kept in errorDistribution; the rest are counted together.
MAX_ERROR_KINDS: Final = 50
OK: Final = "ok"
#: CANCELLED (protos/contract.py): cut short by the end of the run (its drain's deadline
#: passed, or the emulation died): neither a success nor a failure.
#: Causes of failures that carried no orbitmesh cause start with this, then the gRPC
#: status code's name (``grpc-unavailable``): never to be confused with the causes
#: servers send or with ``cancelled``.
GRPC_CAUSE_PREFIX: Final = "grpc-"
#: The per-satellite figures' row for requests no satellite can be named for.
UNATTRIBUTED: Final = "unattributed"

#: gRPC code names as Go (and so ghz) prints them.
_GO_CODE: Final = {
    "OK": "OK",
    "CANCELLED": "Canceled",
    "UNKNOWN": "Unknown",
    "INVALID_ARGUMENT": "InvalidArgument",
    "DEADLINE_EXCEEDED": "DeadlineExceeded",
    "NOT_FOUND": "NotFound",
    "ALREADY_EXISTS": "AlreadyExists",
    "PERMISSION_DENIED": "PermissionDenied",
    "RESOURCE_EXHAUSTED": "ResourceExhausted",
    "FAILED_PRECONDITION": "FailedPrecondition",
    "ABORTED": "Aborted",
    "OUT_OF_RANGE": "OutOfRange",
    "UNIMPLEMENTED": "Unimplemented",
    "INTERNAL": "Internal",
    "UNAVAILABLE": "Unavailable",
    "DATA_LOSS": "DataLoss",
    "UNAUTHENTICATED": "Unauthenticated",
}


def grpc_cause(code: str) -> str:
    """The cause of a failure that carried no orbitmesh cause, from its gRPC status code
    name: ``CANCELLED`` -> ``grpc-cancelled``, ``RESOURCE_EXHAUSTED`` ->
    ``grpc-resource-exhausted``."""
    return GRPC_CAUSE_PREFIX + code.lower().replace("_", "-")


@dataclass(slots=True)
class Finished:
    """One issued request and how it ended. Times are wall seconds since the run began."""

    intended_s: float  # when the schedule meant it to leave (open loop) or it left (closed)
    sent_s: float
    done_s: float
    #: "ok", "cancelled" or the failure's cause ("no-contact", "power", ...,
    #: "grpc-unavailable" for a failure without an orbitmesh cause).
    outcome: str
    code: str  # gRPC status code name: "OK", "UNAVAILABLE", ...
    station: str
    warmup: bool = False
    satellite: str = ""  # who answered, or the satellite the request was pinned to
    modelled_ms: float | None = None  # uplink + queue + inference + downlink (+ isl), simulated
    energy_wh: float = 0.0
    handover: bool = False
    details: str = ""  # the error message
    #: Simulated ms the satellite's outputs came after its emulated accelerator's
    #: modelled finish (0: on time, or no accelerator profile).
    late_ms: float = 0.0

    @property
    def latency_s(self) -> float:
        """From the intended send: a late send is the system's delay, not the client's
        (coordinated omission)."""
        return self.done_s - self.intended_s

    def error_ms(self, speed: float) -> float | None:
        """The emulation error of a success: its wall latency from the actual send less
        its modelled latency in wall time (``speed``: simulated seconds per wall second).
        None for a failure or a reply without the modelled latency."""
        if self.outcome != OK or self.modelled_ms is None:
            return None
        return (self.done_s - self.sent_s) * 1e3 - self.modelled_ms / speed


def _errors_ms(records: Iterable[Finished], speed: float) -> list[float]:
    return [e for r in records if (e := r.error_ms(speed)) is not None]


@dataclass(frozen=True)
class Sample:
    """What the run saw of the constellation at one instant (wall seconds since start)."""

    at_s: float
    in_contact: frozenset[str]  # satellites in view of the stations under load
    state_of_charge: Mapping[str, float]
    sunlit: frozenset[str] = frozenset()  # compute satellites in sunlight


@dataclass(frozen=True)
class Accounting:
    issued: int
    warmup_excluded: int
    sent: int
    succeeded: int
    failed: Mapping[str, int]
    cancelled: int

    @property
    def reconciles(self) -> bool:
        return (
            self.issued == self.warmup_excluded + self.sent
            and self.sent == self.succeeded + sum(self.failed.values()) + self.cancelled
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "issued": self.issued,
            "warmup_excluded": self.warmup_excluded,
            "sent": self.sent,
            "succeeded": self.succeeded,
            "failed": dict(sorted(self.failed.items())),
            "cancelled": self.cancelled,
        }


def account(records: Sequence[Finished], issued: int) -> Accounting:
    """Count what happened; ``issued`` is the generator's own count of requests started,
    so that a request that left no record shows as a mismatch instead of vanishing."""
    measured = [r for r in records if not r.warmup]
    failed = Counter(r.outcome for r in measured if r.outcome not in (OK, CANCELLED))
    accounting = Accounting(
        issued=issued,
        warmup_excluded=len(records) - len(measured),
        sent=len(measured),
        succeeded=sum(r.outcome == OK for r in measured),
        failed=dict(failed),
        cancelled=sum(r.outcome == CANCELLED for r in measured),
    )
    return accounting


def error_rate(accounting: Accounting) -> float | None:
    """Failed over finished (succeeded + failed) measured requests; None when none
    finished. Requests cut short by the end of the run are neither."""
    failed = sum(accounting.failed.values())
    finished = accounting.succeeded + failed
    return failed / finished if finished else None


@dataclass(frozen=True)
class EmulationDied:
    """The emulation went away during the run, which was then stopped early. Times are
    wall seconds since the run began (warm-up included)."""

    reason: str
    last_seen_s: float  # when it last answered (a station or a poll of its hosts)
    detected_s: float  # when the load test judged it dead and stopped
    detected_utc: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "reason": self.reason,
            "last_seen_s": round(self.last_seen_s, 3),
            "detected_s": round(self.detected_s, 3),
            "detected_at": self.detected_utc.isoformat().replace("+00:00", "Z"),
        }


@dataclass(frozen=True)
class Thresholds:
    """What a run must meet to pass (None: not checked): the error rate
    (:func:`error_rate`) and the p99 latency of successes (measured, ms)."""

    max_error_rate: float | None = None
    max_p99_ms: float | None = None

    def __post_init__(self) -> None:
        rate, p99 = self.max_error_rate, self.max_p99_ms
        if rate is not None and not (math.isfinite(rate) and 0.0 <= rate <= 1.0):
            raise ValueError(f"max-error-rate must be a fraction from 0 to 1, got {rate}")
        if p99 is not None and not (math.isfinite(p99) and p99 > 0):
            raise ValueError(f"max-p99-ms must be a positive number of milliseconds, got {p99}")


def check_thresholds(
    thresholds: Thresholds, accounting: Accounting, p99_ms: float | None
) -> dict[str, Any]:
    """The thresholds, what was measured against them, and each one that failed with
    the measured value in plain words. A threshold with nothing to measure (no request
    finished, none succeeded) fails: the run could not show that it met it."""
    rate = error_rate(accounting)
    failed = sum(accounting.failed.values())
    finished = accounting.succeeded + failed
    problems: list[dict[str, Any]] = []
    if thresholds.max_error_rate is not None:
        limit = thresholds.max_error_rate
        if rate is None:
            reason = (
                f"no request finished, so the error rate is unknown (--max-error-rate {limit:g})"
            )
        elif rate > limit:
            reason = (
                f"error rate {rate:.4g} is above --max-error-rate {limit:g} "
                f"({failed:,} of {finished:,} finished requests failed)"
            )
        else:
            reason = ""
        if reason:
            problems.append(
                {"threshold": "max_error_rate", "limit": limit, "measured": rate, "reason": reason}
            )
    if thresholds.max_p99_ms is not None:
        limit = thresholds.max_p99_ms
        if p99_ms is None:
            reason = f"no request succeeded, so there is no p99 latency (--max-p99-ms {limit:g})"
        elif p99_ms > limit:
            reason = f"p99 latency of successes {p99_ms:g} ms is above --max-p99-ms {limit:g}"
        else:
            reason = ""
        if reason:
            problems.append(
                {"threshold": "max_p99_ms", "limit": limit, "measured": p99_ms, "reason": reason}
            )
    return {
        "max_error_rate": thresholds.max_error_rate,
        "max_p99_ms": thresholds.max_p99_ms,
        "error_rate": rate,
        "p99_ms": p99_ms,
        "passed": not problems,
        "failed": problems,
    }


def _ns(seconds: float) -> int:
    return round(seconds * 1e9)


def _percentiles_ms(values_ms: Sequence[float]) -> dict[str, float | None]:
    if not values_ms:
        return {"mean": None, "p50": None, "p90": None, "p99": None}
    arr = np.asarray(values_ms)
    p50, p90, p99 = np.percentile(arr, [50, 90, 99])
    return {
        "mean": round(float(arr.mean()), 3),
        "p50": round(float(p50), 3),
        "p90": round(float(p90), 3),
        "p99": round(float(p99), 3),
    }


def _figures(members: Sequence[Finished]) -> dict[str, Any]:
    ok = [r for r in members if r.outcome == OK]
    failed = Counter(r.outcome for r in members if r.outcome not in (OK, CANCELLED))
    return {
        "count": len(members),
        "succeeded": len(ok),
        "failed": dict(sorted(failed.items())),
        "latency_ms": _percentiles_ms([r.latency_s * 1e3 for r in ok]),
        "energy_wh": sum(r.energy_wh for r in ok),
    }


def _group(
    records: Iterable[Finished], key: str
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Figures per value of ``key`` (station, satellite), and those of the records
    without one, so that the groups and the rest sum to the totals."""
    groups: dict[str, list[Finished]] = defaultdict(list)
    rest: list[Finished] = []
    for r in records:
        name = getattr(r, key)
        if name:
            groups[name].append(r)
        else:
            rest.append(r)
    return {name: _figures(members) for name, members in sorted(groups.items())}, _figures(rest)


def _error_key(record: Finished) -> str:
    return f"rpc error: code = {_GO_CODE.get(record.code, record.code)} desc = {record.details}"


def summarize(
    records: Sequence[Finished],
    *,
    issued: int,
    options: Mapping[str, Any],
    meta: Mapping[str, Any],
    date: datetime,
    end_reason: str = "normal",
    handovers: int | None = None,
    handovers_by_motion: int | None = None,
    floor_round_trips_ms: Sequence[float] | None = None,
    late_tick_lookups: int | None = None,
    thresholds: Thresholds | None = None,
    died: EmulationDied | None = None,
) -> dict[str, Any]:
    """The summary document (ghz's shape plus ``orbitmesh``) of the measured requests.

    ghz's figures cover every finished request (a quick refusal counts with its short
    latency, as in ghz); ``orbitmesh.latency_ms`` covers successes only. ``handovers``:
    the handovers the stations reported during the measured phase (None: not watched),
    ``handovers_by_motion`` those of them moving terminals made by their own motion.
    ``floor_round_trips_ms`` and ``late_tick_lookups``: what the run's fidelity is
    judged against (:func:`orbitmesh.ground.load.fidelity.assess`; None: not measured); the speed is
    ``meta["speed"]``. ``thresholds``: what the run is held to (:func:`check_thresholds`);
    ``died``: the emulation died during the run (``endReason`` then says so).

    Every measured finished request is in ``satellites`` under the satellite that
    answered it or that it was pinned to, or else in ``satellites_unattributed``: the
    two sum to the totals.
    """
    measured = [r for r in records if not r.warmup and r.outcome != CANCELLED]
    accounting = account(records, issued)
    latencies_s = np.asarray([r.latency_s for r in measured], dtype=float)
    if measured:
        begin_s = min(r.intended_s for r in measured)
        end_s = max(r.done_s for r in measured)
        total_s = max(end_s - begin_s, 1e-9)
    else:
        total_s = 0.0
    doc: dict[str, Any] = {
        "date": date.isoformat().replace("+00:00", "Z"),
        "endReason": "emulation-died" if died is not None else end_reason,
        "options": dict(options),
        "count": len(measured),
        "total": _ns(total_s),
        "average": _ns(float(latencies_s.mean())) if measured else 0,
        "fastest": _ns(float(latencies_s.min())) if measured else 0,
        "slowest": _ns(float(latencies_s.max())) if measured else 0,
        "rps": len(measured) / total_s if total_s > 0 else 0.0,
        "histogram": _histogram(latencies_s),
        "latencyDistribution": [
            {"percentage": p, "latency": _ns(float(v))}
            for p, v in zip(
                GHZ_PERCENTAGES,
                np.percentile(latencies_s, GHZ_PERCENTAGES) if measured else [0.0] * 7,
                strict=True,
            )
        ]
        if measured
        else [],
        "statusCodeDistribution": dict(
            sorted(Counter(_GO_CODE.get(r.code, r.code) for r in measured).items())
        ),
        "errorDistribution": _errors([r for r in measured if r.outcome != OK]),
    }
    ok = [r for r in measured if r.outcome == OK]
    modelled = [r.modelled_ms for r in ok if r.modelled_ms is not None]
    energy = [r.energy_wh for r in ok]
    latency_ms = _percentiles_ms([r.latency_s * 1e3 for r in ok])
    stations, _ = _group(measured, "station")  # every request has its station
    satellites, unattributed = _group(measured, "satellite")
    doc["orbitmesh"] = {
        **dict(meta),
        "accounting": accounting.as_json(),
        "failures_by_cause": dict(sorted(accounting.failed.items())),
        "error_rate": error_rate(accounting),
        "thresholds": check_thresholds(thresholds or Thresholds(), accounting, latency_ms["p99"]),
        "emulation_died": died.as_json() if died is not None else None,
        "latency_ms": latency_ms,
        "modelled_latency_ms": _percentiles_ms(modelled),
        "stations": stations,
        "satellites": satellites,
        "satellites_unattributed": unattributed,
        "handovers": handovers,
        "handovers_by_motion": handovers_by_motion,
        "rerouted_replies": sum(r.handover for r in ok),
        "energy_wh": sum(energy),
        "energy_wh_per_inference": (sum(energy) / len(energy)) if energy else None,
        "fidelity": assess(
            _errors_ms(ok, float(meta["speed"])),
            floor_round_trips_ms,
            late_tick_lookups,
            late_inferences_ms=[r.late_ms for r in ok if r.late_ms > 0.0],
        ),
    }
    return doc


def _histogram(latencies_s: np.ndarray) -> list[dict[str, Any]]:
    if latencies_s.size == 0:
        return []
    fastest, slowest = float(latencies_s.min()), float(latencies_s.max())
    if slowest == fastest:
        return [{"mark": slowest, "count": int(latencies_s.size), "frequency": 1.0}]
    edges = np.linspace(fastest, slowest, HISTOGRAM_BUCKETS + 1)
    counts, _ = np.histogram(latencies_s, bins=edges)
    total = int(latencies_s.size)
    return [
        {"mark": float(mark), "count": int(n), "frequency": int(n) / total}
        for mark, n in zip(edges[1:], counts, strict=True)
    ]


def _errors(failed: Sequence[Finished]) -> dict[str, int]:
    counts = Counter(_error_key(r) for r in failed)
    kept = dict(counts.most_common(MAX_ERROR_KINDS))
    rest = sum(counts.values()) - sum(kept.values())
    if rest:
        kept["(other errors)"] = rest
    return kept


def timeseries(
    records: Sequence[Finished],
    *,
    speed: float,
    origin_s: float,
    length_s: float,
    sim_start: datetime,
    samples: Sequence[Sample] = (),
    handovers_at_s: Sequence[float] = (),
) -> list[dict[str, Any]]:
    """One row per simulated second of the measured phase.

    ``origin_s`` is the wall instant (seconds since the run began) where the measured
    phase starts, ``length_s`` its wall length, ``sim_start`` the simulated time then.
    Requests fall in the row of their completion; ``sent`` counts intended sends.
    ``rps`` is the wall-clock rate of completions in that row (completions * speed).
    ``error_ms_p50/p99``: the emulation error of that row's successes (``Finished.error_ms``).
    Contact and charge come from the last sample at or before the row's start.
    """
    rows_n = max(1, math.ceil(length_s * speed - 1e-9))
    per_row: list[list[Finished]] = [[] for _ in range(rows_n)]
    sent = [0] * rows_n
    handovers = [0] * rows_n

    def row_of(wall_s: float) -> int | None:
        i = math.floor((wall_s - origin_s) * speed)
        return i if 0 <= i < rows_n else None

    for r in records:
        if r.warmup:
            continue
        if (i := row_of(r.done_s)) is not None:
            per_row[i].append(r)
        if (j := row_of(r.intended_s)) is not None:
            sent[j] += 1
    for at_s in handovers_at_s:
        if (k := row_of(at_s)) is not None:
            handovers[k] += 1
    causes = sorted(
        {r.outcome for r in records if not r.warmup and r.outcome not in (OK, CANCELLED)}
    )
    sample_times = [s.at_s for s in samples]
    rows = []
    for i in range(rows_n):
        done = per_row[i]
        ok_ms = [r.latency_s * 1e3 for r in done if r.outcome == OK]
        modelled = [r.modelled_ms for r in done if r.outcome == OK and r.modelled_ms is not None]
        errors = _errors_ms(done, speed)
        failed = Counter(r.outcome for r in done if r.outcome not in (OK, CANCELLED))
        p50, p90, p99 = (
            (round(float(v), 3) for v in np.percentile(ok_ms, [50, 90, 99]))
            if ok_ms
            else (None, None, None)
        )
        row_wall_s = origin_s + i / speed
        sample = _sample_at(samples, sample_times, row_wall_s)
        soc = list(sample.state_of_charge.values()) if sample is not None else []
        rows.append(
            {
                "offset_s": float(i),
                "sim_time": (sim_start + timedelta(seconds=i)).isoformat().replace("+00:00", "Z"),
                "sent": sent[i],
                "succeeded": len(ok_ms),
                "failed": {c: failed.get(c, 0) for c in causes},
                "cancelled": sum(r.outcome == CANCELLED for r in done),
                "rps": len(done) * speed,
                "latency_ms_p50": p50,
                "latency_ms_p90": p90,
                "latency_ms_p99": p99,
                "modelled_ms_p50": _rounded_percentile(modelled, 50),
                "modelled_ms_p99": _rounded_percentile(modelled, 99),
                "error_ms_p50": _rounded_percentile(errors, 50),
                "error_ms_p99": _rounded_percentile(errors, 99),
                "satellites_in_contact": len(sample.in_contact) if sample is not None else None,
                "mean_state_of_charge": round(float(np.mean(soc)), 4) if soc else None,
                "satellites_sunlit": len(sample.sunlit) if sample is not None else None,
                "handovers": handovers[i],
            }
        )
    return rows


def _rounded_percentile(values: Sequence[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 3) if values else None


def _sample_at(samples: Sequence[Sample], times: Sequence[float], at_s: float) -> Sample | None:
    i = bisect.bisect_right(times, at_s) - 1
    if i < 0:
        return samples[0] if samples else None  # before the first poll: the first one
    return samples[i]


def write_timeseries_csv(rows: Sequence[Mapping[str, Any]], path: Path) -> Path:
    """The rows as CSV; failures get one ``failed_<cause>`` column per cause seen."""
    causes = sorted({c for row in rows for c in row.get("failed", {})})
    scalar = [k for k in (rows[0].keys() if rows else []) if k != "failed"]
    header = scalar[:4] + [f"failed_{c}" for c in causes] + scalar[4:]
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for row in rows:
            failed = row.get("failed", {})
            values = [row[k] for k in scalar[:4]]
            values += [failed.get(c, 0) for c in causes]
            values += [row[k] for k in scalar[4:]]
            writer.writerow(["" if v is None else v for v in values])
    return path
