"""Faults by design on a running emulation: a scheduled reboot and station outage, an
outage of every laser link injected at run time, each refused with its own cause,
shown in status, over when it ends, and recorded with a trace."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import REPO

from orbitmesh.ground.client import Client
from orbitmesh.ground.errors import CallFailed, LinkDown, NodeDown, StationDown
from orbitmesh.node.models import load_digits_split
from orbitmesh.orchestrator.actor import Orchestrator
from orbitmesh.orchestrator.emulation import EmulationOptions
from orbitmesh.orchestrator.live import collect_status, render_status
from orbitmesh.orchestrator.trace import TraceReader

pytestmark = pytest.mark.slow

X = load_digits_split().x_test[:2].astype(np.float32)
SAT = "shell1-0-0"
STATION = "frankfurt"
FAULTS = f"""
[faults]
seed = 7

[[fault]]
kind = "reboot"
targets = ["{SAT}"]
at_s = 10.0
duration_s = 12.0
reset = "cold"

[[fault]]
kind = "station-down"
targets = ["{STATION}"]
at_s = 10.0
duration_s = 12.0
"""


def _sim_s(orchestrator: Orchestrator) -> float:
    doc = orchestrator.endpoints
    return (time.time() - float(doc["wall0"])) * float(doc["speed"])


def _wait_sim(orchestrator: Orchestrator, t_s: float) -> None:
    while _sim_s(orchestrator) < t_s:
        time.sleep(0.1)


def _cause(client: Client, station: str, **pin: Any) -> str | None:
    try:
        client.infer(station, "digits", X, **pin)
    except CallFailed as exc:
        return exc.cause
    return None


def _reaching(client: Client, stations: list[str], sid: str) -> str | None:
    for station in stations:
        if any(r.destination_id == sid for r in client.routes(station).routes):
            return station
    return None


def test_scheduled_and_injected_faults(ray_local: Any, tmp_path: Path) -> None:
    text = (REPO / "orchestrator" / "builtin" / "demo.toml").read_text() + FAULTS
    (tmp_path / "faults.toml").write_text(text)
    trace = tmp_path / "run.npz"
    orchestrator = Orchestrator.launch(
        str(tmp_path / "faults.toml"),
        EmulationOptions(duration_s=600, record=trace),
        name=None,
    )
    try:
        stations = [s for s in orchestrator.endpoints["ground_stations"] if s != STATION]
        with Client.connect(orchestrator.endpoints["ground_stations"]) as client:
            _wait_sim(orchestrator, 11.0)
            # The rebooting satellite refuses as a node that is down; the station that is
            # down refuses every request with its own cause.
            with pytest.raises(StationDown):
                client.infer(STATION, "digits", X)
            causes = {_cause(client, s, satellite=SAT) for s in stations}
            assert "node-down" in causes, causes
            with pytest.raises(NodeDown):
                station = next(s for s in stations if _cause(client, s, satellite=SAT))
                client.infer(station, "digits", X, satellite=SAT)
            faults = orchestrator.status()["faults"]
            assert faults["active"] == [
                f"fault[0] reboot {SAT}",
                f"fault[1] station-down {STATION}",
            ]
            assert faults["satellites_down"] == {SAT: f"fault[0] reboot {SAT}"}
            # What `orbitmesh status` reads from the hosts, and the metrics' counters.
            table = collect_status(orchestrator.endpoints)
            assert {f for st in table["stations"] for f in st["faults"]} == set(faults["active"])
            assert "faults      2 active: fault[0] reboot" in render_status(table)
            counters = orchestrator.counters()
            assert counters["faults_active"] == {
                "reboot": 1,
                "fail": 0,
                "isl-down": 0,
                "station-down": 1,
                "weather": 0,
            }
            # Both end at 22 s: the satellite serves again (cold: a fresh server).
            _wait_sim(orchestrator, 23.0)
            deadline = time.monotonic() + 20
            while (station := _reaching(client, stations, SAT)) is None:
                assert time.monotonic() < deadline, "no station reaches the satellite"
                time.sleep(0.5)
            assert client.infer(station, "digits", X, satellite=SAT).satellite == SAT
            assert _cause(client, STATION) != "station-down"
            assert orchestrator.status()["faults"]["active"] == []

            # Every laser link down from now for 60 s: a satellite that was reached over
            # laser links is cut off, and the refusal says why.
            before = {s: {r.destination_id for r in client.routes(s).routes} for s in stations}
            events = orchestrator.inject_fault(
                {"kind": "isl-down", "targets": "all", "duration_s": 60.0}
            )
            assert len(events) == 12 and all(e["kind"] == "isl-down" for e in events)
            time.sleep(1.0)
            overhead = {s: {r.destination_id for r in client.routes(s).routes} for s in stations}
            cut_off = [(s, sid) for s in stations for sid in before[s] - overhead[s] if sid != SAT]
            assert cut_off, (before, overhead)
            station, sid = cut_off[0]
            with pytest.raises(LinkDown):
                client.infer(station, "digits", X, satellite=sid)
            assert len(orchestrator.status()["faults"]["active"]) == 12
    finally:
        orchestrator.stop()
    # The recording carries the faults: cut links and stations down in its ticks, the
    # satellite's reboot as applied.
    reader = TraceReader(trace)
    ticks = [reader.tick(i) for i in range(len(reader))]
    down = [t for t in ticks if t.stations_down]
    assert down and all(10.0 <= t.offset_s < 22.0 for t in down)
    assert any(len(t.cut_a) for t in ticks)
    edges = [(f["satellite"], f["edge"], f["reset"]) for f in reader.satellite_faults]
    assert edges[:2] == [(SAT, "start", "cold"), (SAT, "end", "cold")]

    # A replay applies them again: the same station down, the same satellite rebooting.
    replay = Orchestrator.launch(
        str(tmp_path / "faults.toml"),
        EmulationOptions(duration_s=60, replay=trace),
        name=None,
    )
    try:
        with Client.connect(replay.endpoints["ground_stations"]) as client:
            _wait_sim(replay, 11.0)
            with pytest.raises(StationDown):
                client.infer(STATION, "digits", X)
            assert replay.status()["faults"]["satellites_down"] == {SAT: f"fault[0] reboot {SAT}"}
    finally:
        replay.stop()
