"""Every part survivable: the orchestrator, a gateway host and a satellite host killed
(SIGKILL) in the middle of a load test; service resumes at the addresses clients know,
status tells the truth, and the load's accounting reconciles."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import ray

from orbitmesh.ground.client import Client
from orbitmesh.ground.endpoints import Endpoints
from orbitmesh.ground.load.loadgen import LoadOptions
from orbitmesh.ground.load.loadtest import run_load_test
from orbitmesh.node.models import load_digits_split
from orbitmesh.orchestrator.actor import Orchestrator
from orbitmesh.orchestrator.emulation import EmulationOptions
from orbitmesh.orchestrator.live import collect_status

pytestmark = pytest.mark.slow

X = load_digits_split().x_test[:4].astype(np.float32)


def wait_for(predicate: Any, timeout_s: float = 60.0, step_s: float = 0.2) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(step_s)


def _serves(client: Client, station: str) -> bool:
    try:
        client.infer(station, "digits", X)
    except Exception:
        return False
    return True


def _truthful(endpoints: dict[str, Any]) -> bool:
    """What `orbitmesh status` shows from the endpoints file: every satellite and every
    station up."""
    status = collect_status(endpoints)
    return all(s.get("up") for s in status["satellites"]) and all(
        st.get("up") for st in status["stations"]
    )


def test_orchestrator_gateway_and_satellite_host_killed_mid_load(
    ray_local: Any, tmp_path: Path
) -> None:
    orchestrator = Orchestrator.launch("demo", EmulationOptions(duration_s=3600), name=None)
    try:
        before = orchestrator.current_endpoints()
        stations = list(before["ground_stations"])
        options = LoadOptions("digits", stations, rps=20.0, duration_s=45.0)
        runs: list[Any] = []
        load = threading.Thread(
            target=lambda: runs.append(
                run_load_test(Endpoints.from_json(before), options, tmp_path, observe=False)
            )
        )
        load.start()
        time.sleep(3.0)
        with Client.connect(before["ground_stations"]) as client:
            # The orchestrator: the hosts outlive it and serve on the ticks they hold.
            os.kill(ray.get(orchestrator.handle.pid.remote()), signal.SIGKILL)
            wait_for(lambda: not orchestrator.alive(timeout_s=2.0), timeout_s=20)
            assert _serves(client, stations[0])
            assert orchestrator.supervise()
            assert orchestrator.replacements == 1
            assert orchestrator.status()["resumed"]
            wait_for(lambda: _serves(client, stations[0]))

            # A gateway host: Ray restarts it on the ports its stations had.
            gw_id, gw = next((h, i) for h, i in before["hosts"].items() if "stations" in i)
            os.kill(gw["pid"], signal.SIGKILL)
            wait_for(lambda: sum(orchestrator.status()["gateway_restarts"].values()) >= 1)
            wait_for(lambda: all(_serves(client, s) for s in gw["stations"]))

            # A satellite host: likewise, with its satellites' state restored.
            sat_id, sat = next((h, i) for h, i in before["hosts"].items() if "satellites" in i)
            os.kill(sat["pid"], signal.SIGKILL)
            wait_for(lambda: orchestrator.status()["restarts"].get(sat["satellites"][0], 0) >= 1)

        after = orchestrator.current_endpoints()
        # Clients keep the addresses they know: nothing to re-read.
        assert after["satellites"] == before["satellites"]
        assert after["ground_stations"] == before["ground_stations"]
        assert {h: i["address"] for h, i in after["hosts"].items()} == {
            h: i["address"] for h, i in before["hosts"].items()
        }
        assert after["hosts"][gw_id]["pid"] != gw["pid"]
        assert after["hosts"][sat_id]["pid"] != sat["pid"]
        # Status from the endpoints file (what `orbitmesh status` reads) tells the truth.
        wait_for(lambda: _truthful(before))

        load.join(timeout=120)
        (run,) = runs
        accounting = run.summary["orbitmesh"]["accounting"]
        assert run.reconciles, accounting
        assert accounting["succeeded"] > 0.5 * accounting["issued"], accounting
        # What failed, failed for a reason a client can act on: a satellite down, or a
        # station whose port refused connections while its host came back.
        assert set(accounting["failed"]) <= {
            "node-down",
            "no-contact",
            "link-lost",
            "unavailable",
            "grpc-unavailable",
        }, accounting
    finally:
        orchestrator.stop()
    # Nothing of the run is left behind.
    assert not [
        a
        for a in ray.util.list_named_actors(all_namespaces=True)
        if a["name"].startswith(orchestrator.options.run_id)
    ]


def test_an_emulation_that_cannot_start_says_why_in_one_line(
    ray_local: Any, tmp_path: Path
) -> None:
    from orbitmesh.orchestrator.actor import EmulationFailed

    with pytest.raises(EmulationFailed) as failed:
        Orchestrator.launch(str(tmp_path / "gone.toml"), EmulationOptions(), name=None)
    assert "\n" not in str(failed.value) and "gone.toml" in str(failed.value)
    # Nothing of it is left behind.
    assert not [
        a
        for a in ray.util.list_named_actors(all_namespaces=True)
        if a["namespace"] == "orbitmesh" and "host" in a["name"]
    ]
