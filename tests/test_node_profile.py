"""Scenario tables for compute satellites: [power], [thermal], [node], [[model]], overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from orbitmesh.node.power import PowerParams
from orbitmesh.node.thermal import ThermalParams
from orbitmesh.orchestrator import (
    SatelliteCatalog,
    Scenario,
    ScenarioError,
    build_catalog,
    load_scenario,
)

BASE = """
name = "n"
[time]
start = 2026-03-20T12:00:00Z
[[shell]]
name = "a"
altitude_km = 550
inclination_deg = 53
planes = 3
sats_per_plane = 4
"""


def load(tmp_path: Path, text: str) -> tuple[Scenario, SatelliteCatalog]:
    path = tmp_path / "n.toml"
    path.write_text(text)
    scenario = load_scenario(path)
    return scenario, build_catalog(scenario)


def problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "n.toml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as info:
        build_catalog(load_scenario(path))
    prefix = f"{path}: "
    assert all(p.startswith(prefix) for p in info.value.problems)
    return [p[len(prefix) :] for p in info.value.problems]


def test_defaults_when_no_tables(tmp_path: Path) -> None:
    scenario, catalog = load(tmp_path, BASE)
    nodes = scenario.nodes
    assert nodes.power == PowerParams() and nodes.thermal == ThermalParams()
    assert nodes.node.queue_depth == 16 and nodes.node.builtin_models == ("digits", "digits-cnn")
    assert catalog.models_for(0, nodes.node.builtin_models) == ("digits", "digits-cnn")


def test_layers_apply_defaults_then_shell_then_satellite(tmp_path: Path) -> None:
    scenario, _ = load(
        tmp_path,
        BASE
        + """
[shell.power]
battery_wh = 120
[shell.thermal]
mass_kg = 30
[[shell]]
name = "b"
altitude_km = 600
inclination_deg = 70
planes = 3
sats_per_plane = 3
[power]
solar_w = 100
reserve_soc = 0.2
recover_soc = 0.3
[[satellite]]
id = "a-1-2"
[satellite.power]
solar_w = 0
""",
    )
    nodes = scenario.nodes
    p_default, t_default = nodes.params_for("b", "b-0-0")
    assert (p_default.solar_w, p_default.battery_wh, p_default.reserve_soc) == (100, 92, 0.2)
    assert t_default == ThermalParams()
    p_shell, t_shell = nodes.params_for("a", "a-0-0")
    assert (p_shell.solar_w, p_shell.battery_wh, t_shell.mass_kg) == (100, 120, 30)
    p_sat, _ = nodes.params_for("a", "a-1-2")
    assert (p_sat.solar_w, p_sat.battery_wh) == (0, 120)


def test_models_and_node_table(tmp_path: Path) -> None:
    model = tmp_path / "m.onnx"
    model.write_bytes(b"not checked here")
    scenario, catalog = load(
        tmp_path,
        BASE
        + """
[node]
queue_depth = 4
max_concurrency = 2
max_message_mb = 1.5
builtin_models = ["digits"]
[[model]]
name = "mine"
path = "m.onnx"
satellites = ["a-0-1", "a-2-3"]
[[model]]
name = "everywhere"
path = "m.onnx"
""",
    )
    node = scenario.nodes.node
    assert (node.queue_depth, node.max_concurrency, node.max_message_bytes) == (4, 2, 1_572_864)
    index = catalog.index
    assert catalog.models_for(index["a-0-1"], node.builtin_models) == (
        "digits",
        "mine",
        "everywhere",
    )
    assert catalog.models_for(index["a-0-0"], node.builtin_models) == ("digits", "everywhere")
    assert scenario.nodes.models[0].path == model


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("[power]\nreserve_soc = 1.5\n", ["power.reserve_soc: must be within [0, 1], got 1.5"]),
        (
            "[power]\nvolts = 28\n",
            [
                "power.volts: unknown key (allowed: battery_wh, initial_soc, reserve_soc, "
                "recover_soc, solar_w, base_load_w, compute_w, compute_idle_w, radio_w)"
            ],
        ),
        ("[power]\nsolar_w = 'lots'\n", ["power.solar_w: must be a number, got the string 'lots'"]),
        (
            "[thermal]\nmax_temp_c = 70\n",
            ["thermal.max_temp_c: must be below hard_limit_temp_c (60), got 70"],
        ),
        ("[node]\nqueue_depth = 0\n", ["node.queue_depth: must be within [1, 100000], got 0"]),
        (
            "[node]\nqueue_depth = 2\nmax_concurrency = 3\n",
            ["node.max_concurrency: must not exceed node.queue_depth (2), got 3"],
        ),
        ("[node]\nmax_message_mb = 0\n", ["node.max_message_mb: must be within (0, 1024], got 0"]),
        (
            "[node]\nbuiltin_models = ['resnet']\n",
            [
                "node.builtin_models: unknown built-in model 'resnet' "
                "(known: digits, digits-cnn, minilm)"
            ],
        ),
        (
            "[[model]]\nname = 'digits'\npath = 'x.onnx'\n",
            [
                "model[0].name: 'digits' is a built-in model; choose another name",
                "model[0].path: no such file: {dir}/x.onnx",
            ],
        ),
        ("[[model]]\nname = 'm'\n", ["model[0].path: is required"]),
        ("[[satellite]]\nid = 'a-9-9'\n", ["satellite[0].id: no satellite with id 'a-9-9'"]),
        (
            "[[satellite]]\nid = 'a-0-0'\n[[satellite]]\nid = 'a-0-0'\n",
            ["satellite[1].id: 'a-0-0' already has a [[satellite]] entry"],
        ),
        (
            "[[satellite]]\nid = 'a-0-0'\ncolour = 1\n",
            ["satellite[0].colour: unknown key (allowed: id, power, thermal, accelerator)"],
        ),
        # Layers that are fine alone but clash when combined for one satellite.
        (
            "[power]\nreserve_soc = 0.5\nrecover_soc = 0.6\n[[satellite]]\nid = 'a-0-0'\n"
            "[satellite.power]\nrecover_soc = 0.45\n",
            [
                "satellite a-0-0: power.recover_soc: must be greater than reserve_soc (0.5), "
                "got 0.45"
            ],
        ),
    ],
)
def test_problems(tmp_path: Path, extra: str, expected: list[str]) -> None:
    got = problems(tmp_path, BASE + extra)
    assert got == [e.replace("{dir}", str(tmp_path)) for e in expected]


def test_shell_override_problem_names_the_shell(tmp_path: Path) -> None:
    got = problems(tmp_path, BASE + "[shell.power]\nbattery_wh = -1\n")
    assert got == ["shell a: power.battery_wh: must be > 0, got -1"]
