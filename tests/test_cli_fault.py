"""`orbitmesh fault`: the entry it builds, and its refusals before anything is joined."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orbitmesh.checking import Checker
from orbitmesh.orchestrator.cli import build_parser, main
from orbitmesh.orchestrator.faults import parse_faults


def _entry(argv: list[str]) -> dict[str, object]:
    from orbitmesh.orchestrator.cli_fault import fault_entry

    return fault_entry(build_parser().parse_args(["fault", *argv]))


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["reboot", "shell1-0-0", "--duration", "60", "--reset", "cold"],
            {"kind": "reboot", "targets": ["shell1-0-0"], "duration_s": 60.0, "reset": "cold"},
        ),
        (
            ["isl-down", "shell1-0-0", "shell1-0-1", "--link", "--duration", "5"],
            {"kind": "isl-down", "targets": [["shell1-0-0", "shell1-0-1"]], "duration_s": 5.0},
        ),
        (
            ["weather", "tokyo", "--at", "30", "--duration", "9", "--rate-factor", "0.5"],
            {
                "kind": "weather",
                "targets": ["tokyo"],
                "at_s": 30.0,
                "duration_s": 9.0,
                "rate_factor": 0.5,
            },
        ),
    ],
)
def test_the_command_line_is_a_fault_entry_the_scenario_parser_accepts(
    argv: list[str], expected: dict[str, object]
) -> None:
    entry = _entry(argv)
    assert entry == expected
    chk = Checker("fault")
    parse_faults([entry | {"at_s": entry.get("at_s", 0.0)}], chk)
    assert chk.problems == []


def test_without_an_emulation_it_says_so_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "none.json"
    assert main(["fault", "reboot", "x", "--duration", "1", "--endpoints", str(missing)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(missing) in err[0]
    # An endpoints file from before `fault` existed has no Ray address to join.
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"scenario": "demo", "ground_stations": {}, "satellites": {}}))
    assert main(["fault", "reboot", "x", "--duration", "1", "--endpoints", str(old)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ray_address" in err[0]


def test_validate_refuses_a_fault_on_a_station_the_scenario_lacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from conftest import REPO

    text = (REPO / "orchestrator" / "builtin" / "demo.toml").read_text()
    text += '\n[[fault]]\nkind = "station-down"\ntargets = ["paris"]\nat_s = 10\nduration_s = 5\n'
    path = tmp_path / "bad.toml"
    path.write_text(text)
    assert main(["validate", str(path)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"{path}: fault[0].targets[0]: no ground station named 'paris'"
    ]


def test_problems_survive_the_trip_between_processes() -> None:
    import pickle

    from orbitmesh.orchestrator.faults import FaultError
    from orbitmesh.orchestrator.scenario import ScenarioError

    for cls in (FaultError, ScenarioError):
        error = pickle.loads(pickle.dumps(cls(["a: one", "b: two"])))
        assert type(error) is cls and error.problems == ["a: one", "b: two"]
