"""`orbitmesh load` fails loudly: failures without an orbitmesh cause, an emulation that dies.

The judge of the emulation's death is pure and is driven here with explicit times; the
load generator runs against a real gRPC server standing in for a ground station (one
that answers with chosen statuses, one that goes away, a port nobody listens on); the
last test stops a real emulation's gateways under `orbitmesh load` and expects it to stop
early with exit status 1.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import jsonschema
import pytest
from conftest import REPO, small_shell_scenario

from orbitmesh.ground.endpoints import Endpoints, write_endpoints
from orbitmesh.ground.load.deathwatch import DeathWatch
from orbitmesh.ground.load.liveness import Evidence, Liveness, evidence_of
from orbitmesh.ground.load.loadgen import LoadOptions, LoadRun, run_load
from orbitmesh.ground.load.loadstats import account
from orbitmesh.ground.load.observer import ObserverProcess, SimClockView
from orbitmesh.protos.contract import Cause, Param, abort_with, abort_with_cause
from orbitmesh.protos.inference import grpc_service_pb2 as pb

SCHEMA = json.loads((REPO / "docs" / "schemas" / "load-summary.schema.json").read_text())
ORBITMESH = [sys.executable, "-m", "orbitmesh.orchestrator.cli"]
_INFER = "ModelInfer"
_SERVICE = "inference.GRPCInferenceService"

# ------------------------------------------------------------------ the judge


def test_what_a_finished_call_says_about_its_station() -> None:
    assert evidence_of("OK", None) is Evidence.ANSWER
    # Refused with an orbitmesh cause: a station that is there, refusing for a reason.
    assert evidence_of("UNAVAILABLE", "no-contact") is Evidence.ANSWER
    assert evidence_of("UNAVAILABLE", None) is Evidence.REFUSAL
    # gRPC's own verdicts on the client's side say nothing about the server.
    assert evidence_of("CANCELLED", None) is Evidence.NONE
    assert evidence_of("DEADLINE_EXCEEDED", None) is Evidence.NONE
    # Any other status came from a server.
    assert evidence_of("RESOURCE_EXHAUSTED", None) is Evidence.ANSWER


def test_every_station_refusing_for_the_quiet_time_is_death() -> None:
    judge = Liveness(["a", "b"], started=100.0, quiet_s=5.0)
    judge.saw("a", 101.0, Evidence.ANSWER)
    judge.saw("b", 102.0, Evidence.ANSWER)  # the last answer
    judge.saw("a", 102.5, Evidence.REFUSAL)
    assert judge.verdict(110.0) is None  # b has not refused since it answered
    judge.saw("b", 103.0, Evidence.NONE)  # a timeout says nothing
    assert judge.verdict(110.0) is None
    judge.saw("b", 103.5, Evidence.REFUSAL)
    assert judge.verdict(106.9) is None  # 4.9 s since b's answer at 102
    death = judge.verdict(107.0)
    assert death is not None
    assert (death.last_seen, death.detected) == (102.0, 107.0)
    assert death.reason == (
        "all 2 stations under load refused calls (UNAVAILABLE without an orbitmesh cause) "
        "and nothing answered for 5.0 s"
    )


def test_one_answer_keeps_the_emulation_alive() -> None:
    judge = Liveness(["a", "b"], started=0.0, quiet_s=5.0)
    judge.saw("a", 1.0, Evidence.REFUSAL)
    judge.saw("b", 1.0, Evidence.REFUSAL)
    judge.saw("a", 4.0, Evidence.ANSWER)  # a restarted gateway, say
    assert judge.verdict(8.0) is None
    judge.saw("a", 8.5, Evidence.REFUSAL)
    assert judge.verdict(8.9) is None and judge.verdict(9.0) is not None


def test_failing_polls_with_no_answer_are_death_and_the_file_at_once() -> None:
    judge = Liveness(["a"], started=0.0, quiet_s=5.0)
    judge.polled(1.0, ok=True)
    judge.polled(2.0, ok=False)
    judge.saw("a", 3.0, Evidence.NONE)  # requests time out instead of being refused
    assert judge.verdict(5.9) is None  # 4.9 s since the last good poll
    death = judge.verdict(6.0)
    assert death is not None and death.last_seen == 1.0
    assert death.reason.startswith("no station answered and every poll")
    # Polls failing while a station answers: the stations are what the load is about.
    busy = Liveness(["a"], started=0.0, quiet_s=5.0)
    busy.polled(1.0, ok=False)
    busy.saw("a", 4.0, Evidence.ANSWER)
    assert busy.verdict(8.0) is None
    busy.gone(8.5, "its endpoints file was removed")
    gone = busy.verdict(8.6)
    assert gone is not None and (gone.last_seen, gone.detected) == (4.0, 8.5)
    assert gone.reason == "its endpoints file was removed"


def test_the_judge_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="no station"):
        Liveness([], started=0.0)
    with pytest.raises(ValueError, match="quiet_s must be positive"):
        Liveness(["a"], started=0.0, quiet_s=0.0)


# ------------------------------------------------------------------ the watch


class _Polls:
    """The observer's (answered, failed) counts, as set by the test."""

    def __init__(self) -> None:
        self.counts: tuple[int, int] | None = (0, 0)

    def health(self) -> tuple[int, int] | None:
        return self.counts


def _endpoints(**changes: Any) -> Endpoints:
    doc: dict[str, Any] = {
        "scenario": "demo",
        "ground_stations": {"a": "127.0.0.1:50051"},
        "satellites": {"s": "127.0.0.1:50061"},
        "pid": 4242,
        "started_utc": "2026-03-20T12:00:00Z",
    }
    return Endpoints.from_json(doc | changes)


def test_the_watch_follows_the_endpoints_file(tmp_path: Path) -> None:
    path = write_endpoints(tmp_path / "endpoints.json", _endpoints())
    judge = Liveness(["a"], started=0.0, quiet_s=5.0)
    watch = DeathWatch(judge, ["a"], path=path, endpoints=_endpoints())
    # The same run rewriting its file (a satellite restarted on another port) lives on.
    write_endpoints(path, _endpoints(satellites={"s": "127.0.0.1:50099"}))
    watch.check(1.0)
    assert judge.verdict(1.0) is None
    # Another run's file in its place: the emulation under load is gone.
    write_endpoints(path, _endpoints(pid=9999))
    watch.check(2.0)
    death = judge.verdict(2.0)
    assert death is not None and death.reason.endswith("now describes another run")
    # Removed: gone too.
    path.unlink()
    judge = Liveness(["a"], started=0.0, quiet_s=5.0)
    DeathWatch(judge, ["a"], path=path, endpoints=_endpoints()).check(3.0)
    death = judge.verdict(3.0)
    assert death is not None and "was removed" in death.reason


def test_the_watch_reports_the_observer_s_polls() -> None:
    judge = Liveness(["a"], started=0.0, quiet_s=5.0)
    polls = _Polls()
    watch = DeathWatch(judge, ["a"], observer=polls)
    polls.counts = (3, 0)
    watch.check(1.0)  # answered: seen at 1.0
    polls.counts = (3, 2)
    watch.check(2.0)  # only failures since
    polls.counts = None  # the observer is gone: no news
    watch.check(3.0)
    assert judge.verdict(5.9) is None
    death = judge.verdict(6.0)  # 5 s since the last answered poll, nothing since
    assert death is not None and death.last_seen == 1.0


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_observer_process_counts_its_failed_polls() -> None:
    dead = f"127.0.0.1:{_closed_port()}"
    clock = SimClockView(datetime(2026, 3, 20, 12, tzinfo=UTC), 1.0, time.time())
    observer = ObserverProcess(
        {"a": dead}, {"s": dead}, clock, watch_stations=["a"], interval_s=0.1, timeout_s=1.0
    )
    assert observer.health() is None  # not started
    observer.start(time.time())
    try:
        deadline = time.monotonic() + 60
        while (health := observer.health()) is None or health[1] < 2:
            assert time.monotonic() < deadline, health
            time.sleep(0.1)
        assert health[0] == 0  # nothing there answered
    finally:
        data = observer.stop()
    assert data.failed_polls >= 2
    assert observer.health() is None  # stopped


# ------------------------------------------------------------------ the generator


def _reply(satellite: str) -> bytes:
    response = pb.ModelInferResponse(model_name="m")
    response.parameters[Param.SATELLITE].string_param = satellite
    return bytes(response.SerializeToString())


Handler = Callable[[int, grpc.aio.ServicerContext[Any, Any]], Any]


async def _station(handle: Handler) -> tuple[grpc.aio.Server, str]:
    """A real gRPC server on 127.0.0.1 answering ModelInfer with ``handle(n, context)``
    for its n-th call (raw bytes in and out)."""
    calls = iter(range(1_000_000))

    async def infer(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        result: bytes = await handle(next(calls), context)
        return result

    handler = grpc.method_handlers_generic_handler(
        _SERVICE, {_INFER: grpc.unary_unary_rpc_method_handler(infer)}
    )
    server = grpc.aio.server(options=(("grpc.so_reuseport", 0),))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, f"127.0.0.1:{port}"


def test_failures_without_a_cause_are_filed_by_status_code() -> None:
    """Five kinds of answers in turn: a success, gRPC-level CANCELLED, UNAVAILABLE and
    RESOURCE_EXHAUSTED without a cause, and an orbitmesh refusal with its cause."""

    async def handle(n: int, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        kind = n % 5
        if kind == 1:
            await abort_with(context, grpc.StatusCode.CANCELLED, "cancelled", None)
        if kind == 2:
            await abort_with(context, grpc.StatusCode.UNAVAILABLE, "going away", None)
        if kind == 3:
            await abort_with(context, grpc.StatusCode.RESOURCE_EXHAUSTED, "too many", None)
        if kind == 4:
            await abort_with_cause(context, Cause.POWER, "battery below reserve")
        return _reply("sat-7")

    async def go() -> LoadRun:
        server, address = await _station(handle)
        try:
            # Pinned: a failure is the pinned satellite's even though no reply names it.
            options = LoadOptions("m", ["a"], rps=50.0, duration_s=1.0, satellite="sat-3")
            judge = Liveness(["a"], started=time.perf_counter(), quiet_s=5.0)
            return await run_load(options, {"a": address}, {"a": b""}, liveness=judge)
        finally:
            await server.stop(None)

    run = asyncio.run(go())
    acc = account(run.records, run.issued)
    assert acc.reconciles and acc.sent == 50 and acc.cancelled == 0
    assert acc.succeeded == 10
    assert acc.failed == {
        "grpc-cancelled": 10,
        "grpc-unavailable": 10,
        "grpc-resource-exhausted": 10,
        "power": 10,
    }
    # One in five refused without a cause, the others answered: alive to the end.
    assert run.died is None and run.end_reason == "normal"
    satellites = Counter(r.satellite for r in run.records)
    assert satellites == {"sat-7": 10, "sat-3": 40}  # who answered; the pin for the rest


def test_a_station_that_goes_away_stops_the_run_early() -> None:
    stopped: list[float] = []

    async def go() -> LoadRun:
        async def handle(n: int, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
            return _reply("sat-1")

        server, address = await _station(handle)
        options = LoadOptions("m", ["a"], rps=40.0, duration_s=60.0, timeout_s=5.0)
        judge = Liveness(["a"], started=time.perf_counter(), quiet_s=1.0)
        load = asyncio.get_running_loop().create_task(
            run_load(options, {"a": address}, {"a": b""}, liveness=judge)
        )
        await asyncio.sleep(1.0)
        await server.stop(None)  # its port now refuses connections
        stopped.append(time.perf_counter())
        return await asyncio.wait_for(load, timeout=60.0)  # against a hang only

    run = asyncio.run(go())
    assert run.end_reason == "emulation-died" and run.died is not None
    assert "refused calls" in run.died.reason
    # Stopped well before its 60 s, at least the quiet second after the last answer.
    assert run.died.detected_s < 60.0
    assert run.died.detected_s - run.died.last_seen_s >= 1.0
    acc = account(run.records, run.issued)
    assert acc.reconciles
    # Calls the server's stop cut off, then refusals: none with an orbitmesh cause.
    assert acc.succeeded > 0 and set(acc.failed) <= {"grpc-unavailable", "grpc-cancelled"}
    # Nothing was sent after the run stopped: sends end with the death.
    assert max(r.sent_s for r in run.records) <= run.died.detected_s


def test_a_closed_loop_against_a_closed_port_stops() -> None:
    address = f"127.0.0.1:{_closed_port()}"
    options = LoadOptions("m", ["a", "b"], concurrency=4, duration_s=60.0, timeout_s=5.0)

    async def go() -> LoadRun:
        judge = Liveness(["a", "b"], started=time.perf_counter(), quiet_s=1.0)
        return await asyncio.wait_for(
            run_load(options, {"a": address, "b": address}, {"a": b"", "b": b""}, liveness=judge),
            timeout=60.0,
        )

    run = asyncio.run(go())
    assert run.died is not None and run.died.reason.startswith("all 2 stations under load")
    acc = account(run.records, run.issued)
    assert acc.reconciles and acc.succeeded == 0
    assert set(acc.failed) == {"grpc-unavailable"}


# ------------------------------------------------------------------ a real emulation dies

SCENARIO = small_shell_scenario(
    "loaddies",
    3600,
    """
[links]
isl = "plus-grid"
[compute]
satellites = ["s-0-1", "s-3-3"]
[node]
builtin_models = ["digits"]
""",
)


@pytest.fixture
def doomed(ray_local: Any, tmp_path: Path) -> Iterator[Any]:
    from orbitmesh.orchestrator.actor import Orchestrator
    from orbitmesh.orchestrator.emulation import EmulationOptions

    (tmp_path / "scenario.toml").write_text(SCENARIO)
    orchestrator = Orchestrator.launch(
        str(tmp_path / "scenario.toml"), EmulationOptions(duration_s=1800), name=None
    )
    try:
        yield orchestrator
    finally:
        if orchestrator.alive(timeout_s=5.0):  # the test did not get to stop it
            orchestrator.stop()


def test_load_exits_1_early_when_the_emulation_dies(doomed: Any, tmp_path: Path) -> None:
    path = write_endpoints(tmp_path / "endpoints.json", Endpoints.from_json(doomed.endpoints))
    out = tmp_path / "out"
    stdout_path, stderr_path = tmp_path / "stdout", tmp_path / "stderr"
    with stdout_path.open("w") as stdout_file, stderr_path.open("w") as stderr_file:
        load = subprocess.Popen(
            [*ORBITMESH, "load", str(path), "--model", "digits", "--rps", "20", "--duration",
             "120", "--warmup", "0", "--stations", "frankfurt", "--out", str(out)],
            stdout=stdout_file, stderr=stderr_file, text=True,
        )  # fmt: skip
    try:
        # The first progress line (on stderr): the load is under way.
        deadline = time.monotonic() + 120
        while not any(x.startswith("[") for x in stderr_path.read_text().splitlines()):
            assert load.poll() is None, stderr_path.read_text()
            assert time.monotonic() < deadline, "the load did not start"
            time.sleep(0.2)
        doomed.stop(grace_s=0.0)  # the gateways close their ports; the file stays
        load.wait(timeout=120)  # against a hang only
    finally:
        if load.poll() is None:
            load.kill()
            load.wait()
    stdout, stderr = stdout_path.read_text(), stderr_path.read_text()
    assert load.returncode == 1, stderr
    assert "orbitmesh: the emulation died: the station under load refused calls" in stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["endReason"] == "emulation-died"
    died = summary["orbitmesh"]["emulation_died"]
    assert died["detected_s"] < 120.0  # stopped early
    assert "EMULATION DIED" in stdout
    acc = summary["orbitmesh"]["accounting"]
    assert acc["issued"] == acc["warmup_excluded"] + acc["sent"]
    assert acc["sent"] == acc["succeeded"] + sum(acc["failed"].values()) + acc["cancelled"]
    assert acc["succeeded"] > 0
    jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(
        summary
    )
    assert (out / "report.html").read_text().count('id="emulation-died"') == 1
