"""`orbitmesh up / status / infer / down` as a user runs them, in separate processes."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
from conftest import ORBITMESH, orbitmesh_up

from orbitmesh.node.models import ensure_model, load_digits_split, make_session


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ORBITMESH, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def test_up_status_infer_down(tmp_path: Path) -> None:
    endpoints = tmp_path / "endpoints.json"
    x = load_digits_split().x_test[:5].astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    with orbitmesh_up(
        "demo",
        "--speed",
        "5",
        "--duration",
        "3600",
        "--satellites-per-host",
        "5",
        endpoints=endpoints,
    ) as up:
        doc = json.loads(endpoints.read_text())
        assert len(doc["satellites"]) == 12 and len(doc["ground_stations"]) == 6
        assert doc["pid"] == up.pid

        # Packed as asked: 12 satellites in hosts of 5 (5, 4 and 3... dealt: 4, 4, 4).
        assert doc["placement"]["satellites_per_host"] == 5
        sat_hosts = [h for h in doc["hosts"].values() if "satellites" in h]
        assert sorted(len(h["satellites"]) for h in sat_hosts) == [4, 4, 4]
        assert all(h["address"] for h in doc["hosts"].values())
        # Hosts run at the priority of ordinary processes, not Ray's default nice 15.
        assert {os.getpriority(os.PRIO_PROCESS, h["pid"]) for h in sat_hosts} == {0}

        status = run("status", "--endpoints", str(endpoints), "--json")
        assert status.returncode == 0, status.stderr
        report = json.loads(status.stdout)
        assert sum(s["up"] for s in report["satellites"]) == 12
        assert all(st["up"] for st in report["stations"])
        assert all("lag_p99_ms" in st for st in report["stations"])
        table = run("status", "--endpoints", str(endpoints))
        assert "satellites  12 up, 0 down" in table.stdout
        assert "fidelity    lag p99" in table.stdout

        answer = run(
            "infer",
            "--station",
            "tokyo",
            "--model",
            "digits",
            "--input",
            str(tmp_path / "x.npy"),
            "--endpoints",
            str(endpoints),
            "--json",
        )
        assert answer.returncode == 0, answer.stderr
        result = json.loads(answer.stdout)
        expected = make_session(ensure_model("digits").path).run(["label"], {"input": x})[0]
        assert result["outputs"]["label"] == expected.tolist()
        assert result["satellite"] in doc["satellites"] and result["uplink_ms"] > 0

        down = run("down", "--endpoints", str(endpoints), timeout=180)
        assert down.returncode == 0, down.stderr
        assert up.wait(timeout=120) == 0
        assert not endpoints.exists()


def test_down_without_a_running_emulation(tmp_path: Path) -> None:
    missing = run("down", "--endpoints", str(tmp_path / "none.json"))
    assert missing.returncode == 2 and "is `orbitmesh up` running?" in missing.stderr
    stale = tmp_path / "stale.json"
    stale.write_text(json.dumps({"ground_stations": {}, "satellites": {}, "pid": 999_999}))
    result = run("down", "--endpoints", str(stale))
    assert result.returncode == 0 and "stale" in result.stdout
    assert not stale.exists()


def test_up_refuses_bad_options_before_starting_anything(tmp_path: Path) -> None:
    endpoints = tmp_path / "endpoints.json"
    trace = tmp_path / "trace.npz"
    trace.write_bytes(b"")
    for args, message in (
        (("--speed", "-1"), "speed must be a positive number"),
        (("--duration", "0"), "duration_s must be a positive number"),
        (("--replay", str(tmp_path / "none.npz")), "no such trace file"),
        (("--record", str(trace), "--replay", str(trace)), "name the same file"),
        (("--satellites-per-host", "0"), 'must be a positive integer or "auto"'),
        (("--stations-per-host", "many"), 'must be a positive integer or "auto"'),
    ):
        result = run("up", "demo", "--endpoints", str(endpoints), *args)
        assert result.returncode == 2, result.stderr
        assert message in result.stderr
        assert "starting" not in result.stdout  # refused before Ray was started
    assert not endpoints.exists()


def test_infer_and_status_explain_a_missing_emulation(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((1, 64), dtype=np.float32))
    missing = str(tmp_path / "none.json")
    infer = run(
        "infer",
        "--endpoints",
        missing,
        "--station",
        "frankfurt",
        "--model",
        "digits",
        "--input",
        str(tmp_path / "x.npy"),
    )
    assert infer.returncode == 2 and "none.json" in infer.stderr
    status = run("status", "--endpoints", missing)
    assert status.returncode == 2 and "none.json" in status.stderr
    bad_input = run("infer", "--station", "x", "--model", "digits", "--input", missing)
    assert bad_input.returncode == 2 and "cannot read" in bad_input.stderr
