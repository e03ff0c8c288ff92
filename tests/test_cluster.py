"""`orbitmesh up` joining a real multi-node Ray cluster (RAY_ADDRESS or --address).

Two Ray nodes run on this machine, started as a user starts them (`ray start --head`,
then `ray start --address` for a worker), each in a temporary folder of its own so that
nothing is left for later Ray sessions to find. The emulation is brought up on that
cluster with servers bound to 0.0.0.0, then used through a ground station.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import ORBITMESH, orbitmesh_up

from orbitmesh.ground import Client
from orbitmesh.node.models import ensure_model, load_digits_split, make_session
from orbitmesh.orchestrator.local_ray import ray_address

RAY = str(Path(sys.executable).with_name("ray"))
#: Ray >= 2.59 authenticates a cluster started with `ray start --head` by token: every
#: node and every driver that joins needs the same one (deploy/README.md says how).
AUTH = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_node(*args: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [RAY, "start", "--block", "--disable-usage-stats", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **AUTH},
            start_new_session=True,  # its own process group: stopped as a whole below
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _processes_of(address: str) -> list[int]:
    """Processes of the cluster at ``address``: every Ray process it starts (GCS, raylets,
    agents, workers) carries that address on its command line."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if re.search(re.escape(address) + r"(?!\d)", cmdline):
            found.append(int(entry.name))
    return found


def _reap(address: str, grace_s: float = 20.0) -> None:
    """Wait for the cluster's processes to end, then kill what is left: stragglers would
    take CPU from the tests that run after this one."""
    deadline = time.monotonic() + grace_s
    while (left := _processes_of(address)) and time.monotonic() < deadline:
        time.sleep(0.5)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_ray_address_precedence() -> None:
    assert ray_address("10.0.0.1:6379", {"RAY_ADDRESS": "10.0.0.2:6379"}) == "10.0.0.1:6379"
    assert ray_address(None, {"RAY_ADDRESS": "10.0.0.2:6379"}) == "10.0.0.2:6379"
    assert ray_address(None, {"RAY_ADDRESS": ""}) is None  # set but empty: local
    assert ray_address(None, {}) is None
    assert ray_address("", {}) is None


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("cluster")
    port = _free_port()
    address = f"127.0.0.1:{port}"
    head = _start_node(
        "--head",
        f"--port={port}",
        "--num-cpus=1",
        "--include-dashboard=false",
        f"--temp-dir={folder / 'ray'}",
        "--object-store-memory=100000000",
        log=folder / "head.log",
    )
    worker = None
    try:
        time.sleep(3.0)
        worker = _start_node(
            f"--address={address}",
            "--num-cpus=1",
            "--object-store-memory=100000000",
            log=folder / "worker.log",
        )
        deadline = time.monotonic() + 90
        while True:
            status = subprocess.run(
                [RAY, "status", f"--address={address}"],
                check=False,
                capture_output=True,
                text=True,
                env={**os.environ, **AUTH},
            )
            if status.returncode == 0 and status.stdout.count("node_") >= 2:
                break
            assert head.poll() is None, (folder / "head.log").read_text()
            assert worker.poll() is None, (folder / "worker.log").read_text()
            assert time.monotonic() < deadline, status.stdout + status.stderr
            time.sleep(1.0)
        yield address
    finally:
        if worker is not None:
            _stop(worker)
        _stop(head)
        _reap(address)


@pytest.mark.slow
def test_up_joins_a_cluster_and_serves_on_all_interfaces(cluster: str, tmp_path: Path) -> None:
    endpoints = tmp_path / "endpoints.json"
    # Joined through RAY_ADDRESS, as `ray job submit -- orbitmesh up ...` and a KubeRay
    # RayJob's entrypoint are (--address is the same path: test_ray_address_precedence).
    with orbitmesh_up(
        "demo",
        "--host",
        "0.0.0.0",
        "--insecure",  # the test's own cluster on one machine
        "--duration",
        "3600",
        endpoints=endpoints,
        env={**AUTH, "RAY_ADDRESS": cluster},
    ) as up:
        doc = json.loads(endpoints.read_text())
        addresses = [*doc["ground_stations"].values(), *doc["satellites"].values()]
        assert len(doc["satellites"]) == 12 and len(doc["ground_stations"]) == 6
        # Hosts spread over both nodes, each reserving its share of the two CPUs.
        sat_nodes = {h["node_id"] for h in doc["hosts"].values() if "satellites" in h}
        all_nodes = {h["node_id"] for h in doc["hosts"].values()}
        assert len(sat_nodes) == 2 and len(all_nodes) == 2, doc["hosts"]
        assert doc["placement"]["cpus_per_host"] > 0
        # Bound to every interface, published as an address others can dial.
        assert not any(a.startswith(("0.0.0.0:", "[::]:")) for a in addresses)

        x = load_digits_split().x_test[:8].astype(np.float32)
        session = make_session(ensure_model("digits").path)
        expected = np.asarray(session.run(["label"], {"input": x})[0])
        with Client.from_endpoints(endpoints) as client:
            for station in ("frankfurt", "tokyo"):  # the demo's laser links reach from both
                result = client.infer(station, "digits", x, outputs=["label"])
                np.testing.assert_array_equal(result["label"], expected)
                assert result.satellite in doc["satellites"]

        down = subprocess.run(
            [*ORBITMESH, "down", "--endpoints", str(endpoints)],
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert down.returncode == 0, down.stderr
        assert up.wait(timeout=60) == 0
        assert not endpoints.exists()
