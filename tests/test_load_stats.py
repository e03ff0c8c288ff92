"""Arrival schedules and load-test statistics, against hand calculations, numpy and scipy."""

from __future__ import annotations

import csv
import json
import math
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from conftest import REPO
from scipy import optimize, stats

from orbitmesh.ground.load.fidelity import ERROR_P50_MARGIN_MS, ERROR_P99_MARGIN_MS, assess
from orbitmesh.ground.load.loadgen import LoadOptions, _read_reply
from orbitmesh.ground.load.loadstats import (
    EmulationDied,
    Finished,
    Sample,
    Thresholds,
    account,
    check_thresholds,
    error_rate,
    grpc_cause,
    summarize,
    timeseries,
    write_timeseries_csv,
)
from orbitmesh.ground.load.loadtest import format_summary
from orbitmesh.ground.load.schedule import Schedule, ScheduleKind
from orbitmesh.protos.contract import Cause
from orbitmesh.protos.inference import grpc_service_pb2 as pb

SCHEMA = json.loads((REPO / "docs" / "schemas" / "load-summary.schema.json").read_text())
DATE = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)
OPTIONS = LoadOptions("digits", ["a", "b"], rps=5.0, duration_s=2.0, warmup_s=1.0).as_json()
META = {
    "scenario": "demo",
    "speed": 2.0,
    "sim_start": "2026-03-20T12:00:00Z",
    "sim_end": "2026-03-20T12:00:10Z",
}


# ------------------------------------------------------------------ schedules


def test_const_schedule_is_evenly_spaced() -> None:
    arrivals = list(Schedule(ScheduleKind.CONST, 8.0, 2.5).arrivals())
    assert len(arrivals) == 20  # 0, 0.125, ..., 2.375
    np.testing.assert_allclose(np.diff(arrivals), 0.125)


def test_step_schedule_climbs_in_plateaus() -> None:
    schedule = Schedule(ScheduleKind.STEP, 40.0, 4.0, steps=4)
    arrivals = np.asarray(list(schedule.arrivals()))
    per_plateau = np.histogram(arrivals, bins=[0, 1, 2, 3, 4])[0]
    # Plateaus of 10, 20, 30 and 40 requests per second, one second each.
    assert per_plateau.tolist() == [10, 20, 30, 40]
    assert schedule.expected_count(4.0) == pytest.approx(100.0)


def test_ramp_arrivals_solve_the_expected_count() -> None:
    r0, r1, d = 5.0, 45.0, 3.0
    arrivals = list(Schedule(ScheduleKind.RAMP, r1, d, start_rps=r0).arrivals())

    def expected(t: float) -> float:  # the integral of the rate, by hand
        return r0 * t + (r1 - r0) * t * t / (2 * d)

    assert len(arrivals) == math.ceil(expected(d))
    for k in (1, 7, 40, len(arrivals) - 1):
        root = optimize.brentq(lambda t, k=k: expected(t) - k, 0.0, d)
        assert arrivals[k] == pytest.approx(root, abs=1e-9)


def test_ramp_from_zero_starts_at_zero() -> None:
    arrivals = list(Schedule(ScheduleKind.RAMP, 10.0, 2.0, start_rps=0.0).arrivals())
    assert arrivals[0] == 0.0 and len(arrivals) == 10  # 10 * 2 / 2


def test_poisson_gaps_are_exponential_and_repeatable() -> None:
    schedule = Schedule(ScheduleKind.POISSON, 200.0, 100.0, seed=3)
    arrivals = np.asarray(list(schedule.arrivals()))
    gaps = np.diff(arrivals)
    assert gaps.mean() == pytest.approx(1 / 200.0, rel=0.03)
    assert stats.kstest(gaps, "expon", args=(0, 1 / 200.0)).pvalue > 0.01
    assert list(schedule.arrivals())[:50] == arrivals[:50].tolist()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rps": 0.0}, "rps must be a positive number"),
        ({"duration_s": -1.0}, "duration must be a positive"),
        ({"steps": 0}, "steps must be at least 1"),
        ({"start_rps": -2.0}, "start rps must be"),
    ],
)
def test_bad_schedules_are_refused(kwargs: dict[str, float], message: str) -> None:
    args = {"kind": ScheduleKind.STEP, "rps": 10.0, "duration_s": 1.0} | kwargs
    with pytest.raises(ValueError, match=message):
        Schedule(**args)  # type: ignore[arg-type]


# ------------------------------------------------------------------ statistics


def _records() -> list[Finished]:
    """Hand-made: two warm-up requests, six measured (four ok, a power refusal, a
    no-contact), one cancelled at the end."""
    return [
        Finished(0.0, 0.0, 0.05, "ok", "OK", "a", warmup=True, satellite="s1"),
        Finished(0.1, 0.1, 0.16, "power", "RESOURCE_EXHAUSTED", "a", warmup=True),
        Finished(1.0, 1.0, 1.040, "ok", "OK", "a", satellite="s1", modelled_ms=39.0,
                 energy_wh=1e-5),
        Finished(1.2, 1.3, 1.260, "ok", "OK", "b", satellite="s2", modelled_ms=50.0,
                 energy_wh=2e-5, handover=True),
        Finished(1.6, 1.6, 1.680, "ok", "OK", "a", satellite="s1", modelled_ms=78.0,
                 energy_wh=1e-5),
        Finished(2.0, 2.0, 2.100, "ok", "OK", "b", satellite="s2", modelled_ms=99.0,
                 energy_wh=2e-5),
        Finished(2.2, 2.2, 2.230, "power", "RESOURCE_EXHAUSTED", "a", satellite="s1",
                 details="battery below reserve"),
        Finished(2.5, 2.5, 2.502, "no-contact", "UNAVAILABLE", "b",
                 details="no satellite in view"),
        Finished(2.9, 2.9, 2.950, "cancelled", "CANCELLED", "a"),
    ]  # fmt: skip


def test_accounting_reconciles_and_notices_a_lost_request() -> None:
    records = _records()
    acc = account(records, issued=len(records))
    assert (acc.warmup_excluded, acc.sent, acc.succeeded, acc.cancelled) == (2, 7, 4, 1)
    assert acc.failed == {"power": 1, "no-contact": 1}
    assert acc.reconciles
    assert not account(records, issued=len(records) + 1).reconciles


def test_summary_has_ghz_shape_and_right_figures() -> None:
    records = _records()
    doc = summarize(records, issued=len(records), options=OPTIONS, meta=META, date=DATE)
    measured = [r for r in records if not r.warmup and r.outcome != "cancelled"]
    latencies = np.asarray([r.done_s - r.intended_s for r in measured])
    # The Finished at 1.2 was sent late (1.3): its latency counts from 1.2.
    assert latencies[1] == pytest.approx(0.060)
    assert doc["count"] == 6
    assert doc["fastest"] == round(0.002 * 1e9) and doc["slowest"] == round(0.100 * 1e9)
    assert doc["average"] == round(latencies.mean() * 1e9)
    assert doc["total"] == round((2.502 - 1.0) * 1e9)  # first intended send to last reply
    assert doc["rps"] == pytest.approx(6 / 1.502)
    by_pct = {d["percentage"]: d["latency"] for d in doc["latencyDistribution"]}
    assert by_pct[50] == round(float(np.percentile(latencies, 50)) * 1e9)
    assert sum(b["count"] for b in doc["histogram"]) == 6
    assert sum(b["frequency"] for b in doc["histogram"]) == pytest.approx(1.0)
    assert doc["histogram"][-1]["mark"] == pytest.approx(0.100)
    assert doc["statusCodeDistribution"] == {"OK": 4, "ResourceExhausted": 1, "Unavailable": 1}
    assert doc["errorDistribution"] == {
        "rpc error: code = ResourceExhausted desc = battery below reserve": 1,
        "rpc error: code = Unavailable desc = no satellite in view": 1,
    }
    om = doc["orbitmesh"]
    assert om["failures_by_cause"] == {"no-contact": 1, "power": 1}
    assert om["rerouted_replies"] == 1
    assert om["handovers"] is None  # not watched
    assert om["energy_wh_per_inference"] == pytest.approx(1.5e-5)
    assert om["modelled_latency_ms"]["p50"] == pytest.approx(np.percentile([39, 50, 78, 99], 50))
    assert om["stations"]["a"]["count"] == 3 and om["stations"]["a"]["failed"] == {"power": 1}
    assert om["satellites"]["s2"]["latency_ms"]["p50"] == pytest.approx(80.0)  # 60 and 100 ms
    validator = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker())
    validator.validate(doc)


def test_the_schema_rejects_a_broken_summary() -> None:
    records = _records()
    doc = summarize(records, issued=len(records), options=OPTIONS, meta=META, date=DATE)
    doc["latencyDistribution"][0]["percentage"] = 42
    del doc["orbitmesh"]["accounting"]["cancelled"]
    validator = jsonschema.Draft202012Validator(SCHEMA)
    problems = list(validator.iter_errors(doc))
    assert len(problems) == 2


def test_an_empty_run_still_summarises() -> None:
    doc = summarize([], issued=0, options=OPTIONS, meta=META, date=DATE)
    assert doc["count"] == 0 and doc["histogram"] == [] and doc["latencyDistribution"] == []
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)


def test_timeseries_rows_per_simulated_second(tmp_path: Path) -> None:
    records = _records()
    samples = [
        Sample(0.9, frozenset({"s1", "s2"}), {"s1": 0.8, "s2": 0.6}, frozenset({"s1"})),
        Sample(2.0, frozenset({"s2"}), {"s1": 0.7, "s2": 0.5}),
    ]
    # Measured phase from 1.0 s for 2 wall s at speed 2: 4 simulated seconds.
    rows = timeseries(
        records,
        speed=2.0,
        origin_s=1.0,
        length_s=2.0,
        sim_start=datetime(2026, 3, 20, 12, 0, tzinfo=UTC),
        samples=samples,
        handovers_at_s=[1.7, 2.6, 9.0],
    )
    assert [r["offset_s"] for r in rows] == [0.0, 1.0, 2.0, 3.0]
    assert rows[1]["sim_time"] == "2026-03-20T12:00:01Z"
    # Completions: 1.04, 1.26 -> row 0; 1.68 -> 1; 2.1, 2.23 -> 2; 2.502, 2.95 (cancel) -> 3.
    assert [r["succeeded"] for r in rows] == [2, 1, 1, 0]
    assert [r["failed"]["power"] for r in rows] == [0, 0, 1, 0]
    assert [r["failed"]["no-contact"] for r in rows] == [0, 0, 0, 1]
    assert [r["cancelled"] for r in rows] == [0, 0, 0, 1]
    assert [r["rps"] for r in rows] == [4.0, 2.0, 4.0, 4.0]  # completions * speed
    assert [r["sent"] for r in rows] == [2, 1, 2, 2]  # intended 1.0,1.2 | 1.6 | 2.0,2.2 | 2.5,2.9
    assert rows[0]["latency_ms_p50"] == pytest.approx(50.0)  # 40 and 60 ms
    assert [r["satellites_in_contact"] for r in rows] == [2, 2, 1, 1]
    assert [r["satellites_sunlit"] for r in rows] == [1, 1, 0, 0]
    assert rows[0]["mean_state_of_charge"] == pytest.approx(0.7)
    assert [r["handovers"] for r in rows] == [0, 1, 0, 1]
    path = write_timeseries_csv(rows, tmp_path / "ts.csv")
    with path.open() as f:
        table = list(csv.DictReader(f))
    assert len(table) == 4
    assert table[2]["failed_power"] == "1" and table[3]["failed_no-contact"] == "1"
    assert table[3]["latency_ms_p50"] == ""  # no success that second


# ------------------------------------------------------------------ fidelity

#: Simulated seconds per wall second in the fidelity examples.
SPEED = 4.0


def _fidelity_records() -> list[Finished]:
    """Hand-made at speed 4: four successes whose errors are worked out beside them, and
    requests that must not count."""
    return [
        # Warm-up: 150 - 0 = 150 ms, excluded.
        Finished(0.05, 0.05, 0.2, "ok", "OK", "a", warmup=True, modelled_ms=0.0),
        # 12 ms wall, 40 / 4 = 10 ms modelled: error 2.0.
        Finished(0.0, 0.0, 0.012, "ok", "OK", "a", modelled_ms=40.0),
        # Sent 5 ms late: from the send 12 ms, 44 / 4 = 11: error 1.0 (6.0 from intended).
        Finished(0.1, 0.105, 0.117, "ok", "OK", "b", modelled_ms=44.0),
        # 13 ms wall, 36 / 4 = 9: error 4.0.
        Finished(0.2, 0.2, 0.213, "ok", "OK", "a", modelled_ms=36.0),
        # 10.5 ms wall, 30 / 4 = 7.5: error 3.0.
        Finished(0.3, 0.3, 0.3105, "ok", "OK", "b", modelled_ms=30.0),
        # A reply without the modelled latency, a failure, a cancellation: no error.
        Finished(0.35, 0.35, 0.36, "ok", "OK", "a"),
        Finished(0.4, 0.4, 0.402, "no-contact", "UNAVAILABLE", "b"),
        Finished(0.45, 0.45, 0.5, "cancelled", "CANCELLED", "a"),
    ]


#: Probe round trips (ms). Less the fastest (1.0): 0.2, 0, 0.5, 2.0, 0.1.
ROUND_TRIPS_MS = [1.2, 1.0, 1.5, 3.0, 1.1]


def _reply(**parts_ms: float) -> bytes:
    response = pb.ModelInferResponse(model_name="digits")
    for name, value in parts_ms.items():
        response.parameters[f"orbitmesh.{name}"].double_param = value
    return bytes(response.SerializeToString())


def test_modelled_latency_of_a_reply_includes_a_pipeline_s_laser_links() -> None:
    parts = {"uplink_ms": 10.0, "queue_ms": 0.5, "inference_ms": 1.25, "downlink_ms": 12.0}
    single = Finished(0.0, 1.0, 1.015, "ok", "OK", "a")
    _read_reply(single, _reply(**parts))
    assert single.modelled_ms == pytest.approx(23.75)  # 10 + 0.5 + 1.25 + 12
    piped = Finished(0.0, 1.0, 1.015, "ok", "OK", "a")
    _read_reply(piped, _reply(**parts, isl_ms=3.5))
    assert piped.modelled_ms == pytest.approx(27.25)  # 23.75 + 3.5 between the stages
    # 15 ms of wall time at speed 2 against 27.25 / 2 = 13.625 ms modelled: 1.375.
    assert piped.error_ms(2.0) == pytest.approx(1.375)
    partial = Finished(0.0, 1.0, 1.015, "ok", "OK", "a")
    _read_reply(partial, _reply(uplink_ms=10.0, queue_ms=0.5, inference_ms=1.25, isl_ms=3.0))
    assert partial.modelled_ms is None and partial.error_ms(2.0) is None  # no downlink


def test_emulation_error_and_floor_in_the_summary() -> None:
    records = _fidelity_records()
    meta = META | {"speed": SPEED}
    doc = summarize(
        records,
        issued=len(records),
        options=OPTIONS,
        meta=meta,
        date=DATE,
        floor_round_trips_ms=ROUND_TRIPS_MS,
        late_tick_lookups=0,
    )
    fidelity = doc["orbitmesh"]["fidelity"]
    # Errors 2, 1, 4, 3 -> sorted 1 2 3 4: p50 halfway between 2 and 3; p99 at rank
    # 0.99 * 3 = 2.97, i.e. 3 + 0.97 * (4 - 3); mean 10 / 4.
    assert fidelity["error_ms"] == {"p50": 2.5, "p99": 3.97, "max": 4.0, "mean": 2.5}
    assert fidelity["count"] == 4
    # Floor (less the fastest) sorted 0 0.1 0.2 0.5 2.0: p50 0.2; p99 at rank 3.96,
    # 0.5 + 0.96 * 1.5 = 1.94. Raw round trips sorted 1.0 1.1 1.2 1.5 3.0: p50 1.2.
    assert fidelity["floor_ms"] == {"p50": 0.2, "p99": 1.94, "round_trip_p50": 1.2, "probes": 5}
    assert fidelity["bound_ms"] == {"p50": 1.2, "p99": 6.94}  # + 1 and + 5
    assert fidelity["late_tick_lookups"] == 0
    # p50 2.5 > 1.2; p99 3.97 <= 6.94.
    assert fidelity["faithful"] is False
    assert fidelity["reasons"] == [
        "error p50 2.5 ms is above the bound of 1.2 ms (floor p50 0.2 + 1)"
    ]
    validator = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker())
    validator.validate(doc)


def test_the_margins_are_those_documented() -> None:
    assert (ERROR_P50_MARGIN_MS, ERROR_P99_MARGIN_MS) == (1.0, 5.0)
    load_md = (REPO / "docs" / "load.md").read_text()
    assert "error p50 <= floor p50 + 1.0 ms" in load_md
    assert "error p99 <= floor p99 + 5.0 ms" in load_md


def test_a_faithful_run_and_the_bound_itself() -> None:
    # Floor 0 (equal round trips): bounds 1 and 5. Errors 0.5 and 1.0: p50 0.75, p99
    # 0.5 + 0.99 * 0.5 = 0.995; both within.
    faithful = assess([0.5, 1.0], [2.0, 2.0], 0)
    assert faithful["faithful"] is True and faithful["reasons"] == []
    assert faithful["error_ms"]["p99"] == 0.995
    # An error exactly at the bound is within it: one error of 1.0 against floor 0 + 1.
    assert assess([1.0], [2.0, 2.0], 0)["faithful"] is True
    assert assess([1.001], [2.0, 2.0], 0)["faithful"] is False


def test_each_reason() -> None:
    # Ten errors, eight of 0.5, then 12 and 20: p50 0.5 (ranks 4 and 5 are 0.5); p99 at
    # rank 8.91, 12 + 0.91 * 8 = 19.28. Floor 0: bounds 1 and 5.
    tail = assess([0.5] * 8 + [12.0, 20.0], [1.0, 1.0, 1.0], 0)
    assert tail["error_ms"]["p99"] == 19.28
    assert tail["faithful"] is False
    assert tail["reasons"] == ["error p99 19.3 ms is above the bound of 5.0 ms (floor p99 0.0 + 5)"]
    late = assess([0.5], [1.0, 1.0], 412)
    assert late["faithful"] is False
    assert late["reasons"] == ["412 late tick lookups: the orchestrator fell behind the clock"]
    assert assess([0.5], [1.0], 1)["reasons"] == [
        "1 late tick lookup: the orchestrator fell behind the clock"
    ]
    # An error and its bound equal to one decimal are shown with three.
    close = assess([1.04], [1.0, 1.0], 0)
    assert close["reasons"] == [
        "error p50 1.040 ms is above the bound of 1.000 ms (floor p50 0.000 + 1)"
    ]


def test_missing_data_leaves_the_verdict_open_unless_a_check_failed() -> None:
    nothing = assess([], None, None)
    assert nothing["faithful"] is None
    assert nothing["error_ms"] == {"p50": None, "p99": None, "max": None, "mean": None}
    assert nothing["floor_ms"] == {"p50": None, "p99": None, "round_trip_p50": None, "probes": 0}
    assert nothing["bound_ms"] == {"p50": None, "p99": None}
    assert nothing["count"] == 0 and nothing["late_tick_lookups"] is None
    assert len(nothing["reasons"]) == 3
    assert "no emulation error" in nothing["reasons"][0]
    assert "floor was not measured" in nothing["reasons"][1]
    assert "late tick lookups could not be read" in nothing["reasons"][2]
    # Each missing piece alone leaves the verdict open and names itself.
    assert assess([0.5], [], 0)["faithful"] is None
    assert assess([0.5], [1.0], None)["reasons"] == [
        "the stations' late tick lookups could not be read"
    ]
    # Without errors, late ticks still make the run unfaithful.
    failed = assess([], [1.0], 7)
    assert failed["faithful"] is False
    assert failed["reasons"][0].startswith("7 late tick lookups")
    assert "no emulation error" in failed["reasons"][1]
    # The empty run's summary says why, and still fits the schema.
    doc = summarize([], issued=0, options=OPTIONS, meta=META, date=DATE)
    assert doc["orbitmesh"]["fidelity"]["faithful"] is None
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)


def test_timeseries_rows_carry_the_error(tmp_path: Path) -> None:
    # 0.5 wall s at speed 4: rows of 0.25 wall s. Row 0 completes errors 2, 1, 4 (sorted
    # 1 2 4: p50 2, p99 at rank 1.98, 2 + 0.98 * 2 = 3.96); row 1 the 3.0 alone.
    rows = timeseries(
        _fidelity_records(),
        speed=SPEED,
        origin_s=0.0,
        length_s=0.5,
        sim_start=datetime(2026, 3, 20, 12, 0, tzinfo=UTC),
    )
    assert [(r["error_ms_p50"], r["error_ms_p99"]) for r in rows] == [(2.0, 3.96), (3.0, 3.0)]
    path = write_timeseries_csv(rows, tmp_path / "ts.csv")
    with path.open() as f:
        table = list(csv.DictReader(f))
    assert [(r["error_ms_p50"], r["error_ms_p99"]) for r in table] == [
        ("2.0", "3.96"),
        ("3.0", "3.0"),
    ]


# ------------------------------------------------------------------ failures without a cause


def test_a_failure_without_a_cause_is_named_after_its_status_code() -> None:
    assert grpc_cause("CANCELLED") == "grpc-cancelled"
    assert grpc_cause("UNAVAILABLE") == "grpc-unavailable"
    assert grpc_cause("RESOURCE_EXHAUSTED") == "grpc-resource-exhausted"
    assert grpc_cause("DEADLINE_EXCEEDED") == "grpc-deadline-exceeded"
    # Never one of the outcomes that are not failures, nor a cause a server sends.
    assert grpc_cause("CANCELLED") not in {"cancelled", "ok"} | {c.value for c in Cause}


def _grpc_level_records() -> list[Finished]:
    """Three successes, two calls gRPC itself cancelled, one gRPC refused for resources,
    one refused with an orbitmesh cause, and one the run's end cut short."""
    return [
        Finished(0.0, 0.0, 0.02, "ok", "OK", "a", satellite="s1"),
        Finished(0.1, 0.1, 0.13, "ok", "OK", "a", satellite="s1"),
        Finished(0.2, 0.2, 0.22, "ok", "OK", "a", satellite="s2"),
        Finished(0.3, 0.3, 0.31, "grpc-cancelled", "CANCELLED", "a", details="Cancelled"),
        Finished(0.4, 0.4, 0.41, "grpc-cancelled", "CANCELLED", "a", details="Cancelled"),
        Finished(0.5, 0.5, 0.5, "grpc-resource-exhausted", "RESOURCE_EXHAUSTED", "a"),
        Finished(0.6, 0.6, 0.7, "power", "RESOURCE_EXHAUSTED", "a", satellite="s2"),
        Finished(0.7, 0.7, 0.9, "cancelled", "CANCELLED", "a"),
    ]


def test_grpc_level_rejections_are_failures_not_cancellations() -> None:
    records = _grpc_level_records()
    acc = account(records, issued=len(records))
    assert acc.reconciles
    assert (acc.sent, acc.succeeded, acc.cancelled) == (8, 3, 1)
    assert acc.failed == {"grpc-cancelled": 2, "grpc-resource-exhausted": 1, "power": 1}
    assert error_rate(acc) == pytest.approx(4 / 7)  # 4 failed of 3 + 4 finished
    doc = summarize(records, issued=len(records), options=OPTIONS, meta=META, date=DATE)
    om = doc["orbitmesh"]
    assert om["failures_by_cause"] == {
        "grpc-cancelled": 2,
        "grpc-resource-exhausted": 1,
        "power": 1,
    }
    assert om["error_rate"] == pytest.approx(4 / 7)
    # Canceled in ghz's codes: the two gRPC cancelled, not the one cut short.
    assert doc["statusCodeDistribution"] == {"Canceled": 2, "OK": 3, "ResourceExhausted": 2}
    text = format_summary(doc)
    assert "Failures:     grpc-cancelled 2, grpc-resource-exhausted 1, power 1" in text
    assert "sent = 3 ok + 4 failed + 1 cancelled" in text
    assert "Error rate:   0.5714 (4 failed of 7 finished)" in text
    jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(doc)


def test_an_error_rate_needs_a_finished_request() -> None:
    records = [Finished(0.0, 0.0, 0.5, "cancelled", "CANCELLED", "a")]
    assert error_rate(account(records, issued=1)) is None
    doc = summarize(records, issued=1, options=OPTIONS, meta=META, date=DATE)
    assert doc["orbitmesh"]["error_rate"] is None
    assert "Error rate:   -" in format_summary(doc)


# ------------------------------------------------------------------ per satellite


def test_the_per_satellite_figures_sum_to_the_totals() -> None:
    records = _records() + _grpc_level_records()
    doc = summarize(records, issued=len(records), options=OPTIONS, meta=META, date=DATE)
    om, acc = doc["orbitmesh"], doc["orbitmesh"]["accounting"]
    rows = [*om["satellites"].values(), om["satellites_unattributed"]]
    # Finished (not cancelled) measured requests: 6 of _records, 7 of the others.
    assert doc["count"] == 13
    assert sum(r["count"] for r in rows) == doc["count"]
    assert sum(r["succeeded"] for r in rows) == acc["succeeded"] == 7
    failed: Counter[str] = Counter()
    for row in rows:
        failed.update(row["failed"])
    assert dict(failed) == acc["failed"]
    # What names no satellite: _records' no-contact; the gRPC-level three.
    assert om["satellites_unattributed"]["count"] == 4
    assert om["satellites_unattributed"]["failed"] == {
        "grpc-cancelled": 2,
        "grpc-resource-exhausted": 1,
        "no-contact": 1,
    }
    assert om["satellites"]["s1"]["failed"] == {"power": 1}
    assert om["satellites"]["s2"]["count"] == 4  # two of each list; one failed for power
    assert "unattributed 0/4 ok" in format_summary(doc)
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)


# ------------------------------------------------------------------ thresholds


def test_thresholds_pass_and_fail_with_the_measured_value() -> None:
    records = _grpc_level_records()  # error rate 4/7; successes' latencies 20, 30, 20 ms
    acc = account(records, issued=len(records))
    # p99 of 20, 20, 30 ms: rank 1.98 -> 20 + 0.98 * 10 = 29.8.
    p99_ms = 29.8
    passed = check_thresholds(Thresholds(max_error_rate=0.6, max_p99_ms=30.0), acc, p99_ms)
    assert passed["passed"] is True and passed["failed"] == []
    assert passed["error_rate"] == pytest.approx(4 / 7) and passed["p99_ms"] == p99_ms
    failed = check_thresholds(Thresholds(max_error_rate=0.5, max_p99_ms=29.0), acc, p99_ms)
    assert failed["passed"] is False
    assert [(f["threshold"], f["limit"]) for f in failed["failed"]] == [
        ("max_error_rate", 0.5),
        ("max_p99_ms", 29.0),
    ]
    assert failed["failed"][0]["measured"] == pytest.approx(4 / 7)
    assert failed["failed"][0]["reason"] == (
        "error rate 0.5714 is above --max-error-rate 0.5 (4 of 7 finished requests failed)"
    )
    assert failed["failed"][1]["measured"] == 29.8
    assert failed["failed"][1]["reason"] == (
        "p99 latency of successes 29.8 ms is above --max-p99-ms 29"
    )
    # A value at its limit meets it.
    assert check_thresholds(Thresholds(max_error_rate=4 / 7), acc, None)["passed"] is True
    # None given: nothing to fail.
    assert check_thresholds(Thresholds(), acc, None)["passed"] is True


def test_a_threshold_with_nothing_to_measure_fails() -> None:
    acc = account([Finished(0.0, 0.0, 0.1, "power", "RESOURCE_EXHAUSTED", "a")], issued=1)
    verdict = check_thresholds(Thresholds(max_error_rate=1.0, max_p99_ms=100.0), acc, None)
    # Every request failed, within a limit of 1; but no success had a latency.
    assert [f["threshold"] for f in verdict["failed"]] == ["max_p99_ms"]
    assert verdict["failed"][0]["measured"] is None
    assert "no request succeeded" in verdict["failed"][0]["reason"]
    nothing = account([], issued=0)
    verdict = check_thresholds(Thresholds(max_error_rate=0.1), nothing, None)
    assert verdict["failed"][0]["measured"] is None
    assert "no request finished" in verdict["failed"][0]["reason"]


def test_the_summary_carries_the_thresholds() -> None:
    records = _grpc_level_records()
    doc = summarize(
        records,
        issued=len(records),
        options=OPTIONS,
        meta=META,
        date=DATE,
        thresholds=Thresholds(max_error_rate=0.25),
    )
    thresholds = doc["orbitmesh"]["thresholds"]
    assert thresholds["max_error_rate"] == 0.25 and thresholds["max_p99_ms"] is None
    assert thresholds["passed"] is False
    assert thresholds["p99_ms"] == doc["orbitmesh"]["latency_ms"]["p99"]
    text = format_summary(doc)
    assert "Thresholds:   FAILED: error rate 0.5714 is above --max-error-rate 0.25" in text
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)
    # Without thresholds the summary has no line for them, and the run passes.
    plain = summarize(records, issued=len(records), options=OPTIONS, meta=META, date=DATE)
    assert plain["orbitmesh"]["thresholds"]["passed"] is True
    assert "Thresholds:" not in format_summary(plain)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_error_rate": 1.5}, "max-error-rate must be a fraction from 0 to 1, got 1.5"),
        ({"max_error_rate": -0.1}, "max-error-rate must be a fraction from 0 to 1"),
        ({"max_error_rate": math.nan}, "max-error-rate must be a fraction from 0 to 1"),
        ({"max_p99_ms": 0.0}, "max-p99-ms must be a positive number of milliseconds, got 0.0"),
        ({"max_p99_ms": math.inf}, "max-p99-ms must be a positive number of milliseconds"),
    ],
)
def test_bad_thresholds_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        Thresholds(**kwargs)


# ------------------------------------------------------------------ the emulation died


def test_a_summary_says_when_the_emulation_died() -> None:
    records = _grpc_level_records()
    died = EmulationDied(
        reason="the station under load refused calls",
        last_seen_s=0.65,
        detected_s=5.7,
        detected_utc=datetime(2026, 11, 25, 18, 0, 5, 700000, tzinfo=UTC),
    )
    doc = summarize(records, issued=len(records), options=OPTIONS, meta=META, date=DATE, died=died)
    assert doc["endReason"] == "emulation-died"
    assert doc["orbitmesh"]["emulation_died"] == {
        "reason": "the station under load refused calls",
        "last_seen_s": 0.65,
        "detected_s": 5.7,
        "detected_at": "2026-11-25T18:00:05.700000Z",
    }
    text = format_summary(doc)
    assert text.splitlines()[1].startswith(
        "  EMULATION DIED: the station under load refused calls; last seen 0.7 s into the "
        "run, the run stopped at 5.7 s"
    )
    jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(doc)
    alive = summarize(records, issued=len(records), options=OPTIONS, meta=META, date=DATE)
    assert alive["orbitmesh"]["emulation_died"] is None and alive["endReason"] == "normal"
