"""`orbitmesh load` against a real emulation: every request accounted for, under failures.

One emulation (module scope) is built to fail in known ways: satellite s-0-0 starts with
its battery below the reserve (power refusals), s-5-5 carries a deliberately slow model
and holds two requests at most (queue refusals), and a station at the south pole never
sees the 53 degree shell (no contact). The gateways count what they answered by cause;
the load generator's counts must agree with theirs exactly.
"""

from __future__ import annotations

import json
import math
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
from conftest import REPO, small_shell_scenario

from orbitmesh.ground.endpoints import Endpoints
from orbitmesh.ground.load.loadgen import LoadOptions
from orbitmesh.ground.load.loadtest import format_summary, run_load_test
from orbitmesh.orchestrator.actor import Orchestrator
from orbitmesh.orchestrator.emulation import EmulationOptions
from orbitmesh.protos.orbitmesh.v1 import ground_station_pb2, ground_station_pb2_grpc

SCHEMA = json.loads((REPO / "docs" / "schemas" / "load-summary.schema.json").read_text())

SCENARIO = small_shell_scenario(
    "loadtest",
    3600,
    """
[links]
isl = "plus-grid"
[compute]
satellites = ["s-0-0", "s-5-5"]
[node]
queue_depth = 2
max_concurrency = 1
builtin_models = ["digits"]
[[model]]
name = "slow"
path = "slow.onnx"
satellites = ["s-5-5"]
[[satellite]]
id = "s-0-0"
[satellite.power]
initial_soc = 0.1
""",
)


def write_slow_model(path: Path, matmuls: int = 400, size: int = 512) -> None:
    """A model that takes milliseconds: a chain of matrix-vector products (400 of them:
    10-20 ms on this machine's one ONNX Runtime thread, so that 250 requests a second
    overfill two queue places on a fast day too; 150 took 4-8 ms, and on a quick run
    the queue never filled)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weight = (rng.standard_normal((size, size)) / np.sqrt(size)).astype(np.float32)
    nodes = [
        helper.make_node("MatMul", ["x" if i == 0 else f"h{i}", "w"], [f"h{i + 1}"])
        for i in range(matmuls)
    ]
    nodes.append(helper.make_node("Identity", [f"h{matmuls}"], ["y"]))
    graph = helper.make_graph(
        nodes,
        "slow",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", size])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", size])],
        initializer=[numpy_helper.from_array(weight, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)


@pytest.fixture(scope="module")
def emulation(ray_local: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoints]:
    folder = tmp_path_factory.mktemp("loadtest")
    write_slow_model(folder / "slow.onnx")
    (folder / "scenario.toml").write_text(SCENARIO)
    orchestrator = Orchestrator.launch(
        str(folder / "scenario.toml"), EmulationOptions(duration_s=1800), name=None
    )
    yield Endpoints.from_json(orchestrator.endpoints)
    orchestrator.stop()


def _failed_at(endpoints: Endpoints, station: str) -> tuple[int, dict[str, int]]:
    import grpc

    with grpc.insecure_channel(endpoints.ground_stations[station]) as channel:
        stats = ground_station_pb2_grpc.GroundStationStub(channel).LinkStats(
            ground_station_pb2.LinkStatsRequest(), timeout=5
        )
    return stats.request_count, dict(stats.failed_by_cause)


def test_failures_by_cause_reconcile_with_what_the_stations_counted(
    emulation: Endpoints, tmp_path: Path
) -> None:
    before = {s: _failed_at(emulation, s) for s in ("frankfurt", "south-pole")}
    options = LoadOptions(
        "digits",
        ["frankfurt", "south-pole"],
        rps=60.0,
        duration_s=2.0,
        warmup_s=0.5,
        satellite="s-0-0",  # below its battery reserve: power
        timeout_s=10.0,
        seed=1,
    )
    result = run_load_test(emulation, options, tmp_path / "out")
    summary, acc = result.summary, result.summary["orbitmesh"]["accounting"]
    assert result.reconciles
    assert acc["issued"] == len(result.run.records) == 150  # 60/s for 2.5 s
    assert acc["warmup_excluded"] == 30 and acc["sent"] == 120
    assert acc["succeeded"] == 0 and acc["cancelled"] == 0
    assert acc["failed"] == {"no-contact": 60, "power": 60}  # stations take turns
    # The stations saw the same (plus the one check request before the load).
    after = {s: _failed_at(emulation, s) for s in ("frankfurt", "south-pole")}
    for station, cause in (("frankfurt", "power"), ("south-pole", "no-contact")):
        requests = after[station][0] - before[station][0]
        failed = after[station][1].get(cause, 0) - before[station][1].get(cause, 0)
        preflight = 1 if station == "frankfurt" else 0
        assert requests == 75 + preflight
        assert failed == 75 + preflight
    assert summary["statusCodeDistribution"] == {"ResourceExhausted": 60, "Unavailable": 60}
    validator = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker())
    validator.validate(json.loads((tmp_path / "out" / "summary.json").read_text()))
    assert "issued 150 = warm-up 30 + sent 120" in format_summary(summary)
    # No success, so no emulation error: the verdict stays open unless a check failed.
    fidelity = summary["orbitmesh"]["fidelity"]
    assert fidelity["count"] == 0 and fidelity["error_ms"]["p50"] is None
    assert fidelity["faithful"] is not True
    assert any("no emulation error" in reason for reason in fidelity["reasons"])
    _assert_floor_and_late_ticks_measured(fidelity)


def _assert_floor_and_late_ticks_measured(fidelity: dict[str, Any]) -> None:
    floor = fidelity["floor_ms"]
    assert floor["probes"] > 0, fidelity
    assert all(math.isfinite(floor[k]) and floor[k] >= 0 for k in ("p50", "p99")), floor
    assert floor["round_trip_p50"] > 0
    assert isinstance(fidelity["late_tick_lookups"], int) and fidelity["late_tick_lookups"] >= 0


def test_queue_full_and_cancelled_at_the_end_are_accounted(
    emulation: Endpoints, tmp_path: Path
) -> None:
    options = LoadOptions(
        "slow",
        ["frankfurt"],
        rps=250.0,  # far beyond what one slow satellite holding two requests can take
        duration_s=2.0,
        satellite="s-5-5",
        timeout_s=10.0,
        drain_s=0.0,  # stop at once: whatever is still in flight is cancelled
    )
    result = run_load_test(emulation, options, tmp_path / "out", observe=False)
    acc = result.summary["orbitmesh"]["accounting"]
    assert result.reconciles
    assert acc["issued"] == 500 and acc["sent"] == 500
    assert acc["succeeded"] > 0
    assert acc["failed"].get("queue", 0) > 0
    assert acc["cancelled"] > 0  # a 56 ms round trip at 250/s leaves a dozen in flight
    assert acc["succeeded"] + sum(acc["failed"].values()) + acc["cancelled"] == 500
    assert result.summary["endReason"] == "drain-timeout"
    ok = result.summary["orbitmesh"]["satellites"]["s-5-5"]
    assert ok["succeeded"] == acc["succeeded"]


def test_closed_loop_and_time_series(emulation: Endpoints, tmp_path: Path) -> None:
    # As many callers as s-5-5 has queue places: a closed loop can never overfill it.
    options = LoadOptions(
        "digits", ["frankfurt"], concurrency=2, duration_s=2.0, satellite="s-5-5", timeout_s=10.0
    )
    result = run_load_test(emulation, options, tmp_path / "out")
    acc = result.summary["orbitmesh"]["accounting"]
    assert result.reconciles and acc["failed"] == {} and acc["succeeded"] > 10, acc
    # Closed loop: never more than 2 at once, so the rate is about 2 per round trip.
    modelled_ms = result.summary["orbitmesh"]["modelled_latency_ms"]["p50"]
    assert result.summary["rps"] == pytest.approx(2 / (modelled_ms / 1e3), rel=0.35)
    rows = (tmp_path / "out" / "timeseries.csv").read_text().splitlines()
    assert len(rows) == 1 + 2  # header + 2 simulated seconds at speed 1
    assert {"error_ms_p50", "error_ms_p99"} <= set(rows[0].split(","))
    # Every success came through a gateway, so every one has an emulation error.
    fidelity = result.summary["orbitmesh"]["fidelity"]
    assert fidelity["count"] == acc["succeeded"]
    assert all(math.isfinite(v) for v in fidelity["error_ms"].values()), fidelity
    # Far below zero would mean a modelled latency the run did not wait out.
    assert fidelity["error_ms"]["p50"] > -5.0, fidelity
    _assert_floor_and_late_ticks_measured(fidelity)
    assert isinstance(fidelity["faithful"], bool)
    assert (fidelity["reasons"] == []) == fidelity["faithful"], fidelity
    line = next(x for x in format_summary(result.summary).splitlines() if "Fidelity:" in x)
    assert line.endswith(": faithful") if fidelity["faithful"] else ": NOT FAITHFUL: " in line
    jsonschema.Draft202012Validator(SCHEMA).validate(result.summary)
    data = result.observations
    assert set(data.satellites) == {"s-0-0", "s-5-5"}
    assert all(0.0 <= x.state_of_charge <= 1.0 for xs in data.satellites.values() for x in xs)
    assert (tmp_path / "out" / "report.html").stat().st_size > 1000


def test_cli_against_a_running_emulation(emulation: Endpoints, tmp_path: Path) -> None:
    from orbitmesh.ground.endpoints import write_endpoints

    path = write_endpoints(tmp_path / "endpoints.json", emulation)
    out = tmp_path / "cli"
    result = subprocess.run(
        [sys.executable, "-m", "orbitmesh.orchestrator.cli", "load", str(path), "--model", "digits",
         "--rps", "20", "--duration", "1", "--warmup", "0", "--stations", "frankfurt",
         "--out", str(out)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Accounting:   issued 20 = warm-up 0 + sent 20" in result.stdout
    assert {p.name for p in out.iterdir()} == {"summary.json", "timeseries.csv", "report.html"}


def _cli_load(path: Path, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orbitmesh.orchestrator.cli", "load", str(path), "--model", "digits",
         "--rps", "20", "--duration", "1", "--warmup", "0", "--stations", "frankfurt",
         "--no-observe", "--out", str(out), *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_cli_exits_1_when_a_threshold_fails(emulation: Endpoints, tmp_path: Path) -> None:
    from orbitmesh.ground.endpoints import write_endpoints

    path = write_endpoints(tmp_path / "endpoints.json", emulation)
    # s-0-0 is below its battery reserve: all 20 requests fail, none succeeds.
    result = _cli_load(
        path, tmp_path / "power", "--satellite", "s-0-0", "--max-error-rate", "0.5",
        "--max-p99-ms", "100000",
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    said = [x for x in result.stderr.splitlines() if x.startswith("orbitmesh:")]
    assert said == [
        "orbitmesh: threshold failed: error rate 1 is above --max-error-rate 0.5 "
        "(20 of 20 finished requests failed)",
        "orbitmesh: threshold failed: no request succeeded, so there is no p99 latency "
        "(--max-p99-ms 100000)",
    ]
    summary = json.loads((tmp_path / "power" / "summary.json").read_text())
    failed = summary["orbitmesh"]["thresholds"]["failed"]
    assert [(f["threshold"], f["measured"]) for f in failed] == [
        ("max_error_rate", 1.0),
        ("max_p99_ms", None),
    ]
    assert "Thresholds:   FAILED: error rate 1 is above" in result.stdout
    jsonschema.Draft202012Validator(SCHEMA).validate(summary)
    # s-5-5 answers every request: an error rate of 0 meets a limit of 0, and no
    # round trip through the emulation is as fast as 1 microsecond.
    result = _cli_load(
        path, tmp_path / "slow", "--satellite", "s-5-5", "--max-error-rate", "0",
        "--max-p99-ms", "0.001",
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    summary = json.loads((tmp_path / "slow" / "summary.json").read_text())
    thresholds = summary["orbitmesh"]["thresholds"]
    assert thresholds["error_rate"] == 0.0
    assert [f["threshold"] for f in thresholds["failed"]] == ["max_p99_ms"]
    p99_ms = summary["orbitmesh"]["latency_ms"]["p99"]
    assert thresholds["failed"][0]["measured"] == p99_ms > 0.001
    assert f"threshold failed: p99 latency of successes {p99_ms:g} ms is above" in result.stderr
    # Met: exit 0.
    result = _cli_load(
        path, tmp_path / "met", "--satellite", "s-5-5", "--max-error-rate", "0",
        "--max-p99-ms", "60000",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Thresholds:   passed (--max-error-rate 0, --max-p99-ms 60000)" in result.stdout


def test_cli_stops_when_the_endpoints_file_goes_away(emulation: Endpoints, tmp_path: Path) -> None:
    """`orbitmesh up` removes its endpoints file when it stops: the load stops with it."""
    import time

    from orbitmesh.ground.endpoints import write_endpoints

    path = write_endpoints(tmp_path / "endpoints.json", emulation)
    stderr_path = tmp_path / "stderr"
    with stderr_path.open("w") as stderr:
        load = subprocess.Popen(
            [sys.executable, "-m", "orbitmesh.orchestrator.cli", "load", str(path), "--model",
             "digits", "--rps", "20", "--duration", "120", "--warmup", "0", "--stations",
             "frankfurt", "--no-observe", "--out", str(tmp_path / "out")],
            stdout=subprocess.DEVNULL, stderr=stderr, text=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not any(x.startswith("[") for x in stderr_path.read_text().splitlines()):
            assert load.poll() is None, stderr_path.read_text()
            assert time.monotonic() < deadline, "the load did not start"
            time.sleep(0.2)
        path.unlink()
        assert load.wait(timeout=120) == 1  # the timeout only guards against a hang
    finally:
        if load.poll() is None:
            load.kill()
            load.wait()
    assert f"the emulation died: its endpoints file {path} was removed" in stderr_path.read_text()
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["endReason"] == "emulation-died"
    assert summary["orbitmesh"]["emulation_died"]["detected_s"] < 120.0
    # The emulation itself is still there: what was sent was answered or cut short.
    acc = summary["orbitmesh"]["accounting"]
    assert acc["failed"] == {} and acc["succeeded"] > 0


def test_cli_serves_metrics_while_it_runs(emulation: Endpoints, tmp_path: Path) -> None:
    """`load --metrics-port 0` against a running emulation: the printed URL answers with
    the stations' and satellites' metrics while the load runs."""
    import urllib.request

    from orbitmesh.ground.endpoints import write_endpoints

    path = write_endpoints(tmp_path / "endpoints.json", emulation)
    load = subprocess.Popen(
        [sys.executable, "-m", "orbitmesh.orchestrator.cli", "load", str(path), "--model", "digits",
         "--rps", "20", "--duration", "4", "--warmup", "0", "--stations", "frankfurt",
         "--metrics-port", "0", "--out", str(tmp_path / "out")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert load.stdout is not None
        first = load.stdout.readline()
        assert first.startswith("metrics on http://127.0.0.1:"), first
        with urllib.request.urlopen(first.split()[-1], timeout=30) as reply:
            page = reply.read().decode()
        assert 'orbitmesh_satellite_up{satellite="s-0-0"} 1.0' in page
        assert 'station="frankfurt"' in page
        assert load.wait(timeout=120) == 0
    finally:
        if load.poll() is None:
            load.kill()


def test_cli_refuses_bad_options_before_starting(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "orbitmesh.orchestrator.cli", "load", *args],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    missing = run(str(tmp_path / "none.json"), "--model", "digits")
    assert missing.returncode == 2 and "none.json" in missing.stderr
    for args, message in (
        (("--rps", "-3"), "rps must be a positive number"),
        (("--concurrency", "0"), "concurrency must be at least 1"),
        (("--duration", "0"), "duration must be positive"),
        (("--schedule", "step", "--steps", "0"), "steps must be at least 1"),
        (("--max-error-rate", "1.5"), "max-error-rate must be a fraction from 0 to 1, got 1.5"),
        (("--max-error-rate", "nan"), "max-error-rate must be a fraction from 0 to 1, got nan"),
        (("--max-p99-ms", "0"), "max-p99-ms must be a positive number of milliseconds, got 0"),
    ):
        result = run("demo", "--model", "digits", *args)
        assert result.returncode == 2 and message in result.stderr, result.stderr
        assert len(result.stderr.splitlines()) == 1, result.stderr
        assert "starting" not in result.stdout
    # `demo` shares the thresholds.
    demo = subprocess.run(
        [sys.executable, "-m", "orbitmesh.orchestrator.cli", "demo", "--max-p99-ms", "-1"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert demo.returncode == 2 and "max-p99-ms must be a positive" in demo.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        result = run("demo", "--model", "digits", "--metrics-port", port)
    assert result.returncode == 2 and "cannot serve metrics" in result.stderr, result.stderr
    assert "starting" not in result.stdout
