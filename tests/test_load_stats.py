"""Arrival schedules and load-test statistics, against hand calculations, numpy and scipy."""

from __future__ import annotations

import csv
import json
import math
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from conftest import REPO
from scipy import optimize, stats

from ground.loadgen import LoadOptions
from ground.loadstats import (
    Finished,
    Sample,
    account,
    summarize,
    timeseries,
    write_timeseries_csv,
)
from ground.schedule import Schedule, ScheduleKind

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
