"""Pre-flight (orchestrator/preflight.py): what `up` would hit, found by `validate`.

Issue 11's findings, each through the command line where it is about the command line:
a `[[model]]` that is not ONNX, `[app]` entries that do not exist or are not app classes
(`os:system` was called), 10^7 satellites that passed validation; and the memory
estimate, by hand and against a measured tick.
"""

from __future__ import annotations

import importlib.util
import inspect
import itertools
import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from orbitmesh.node.app import APP_MEMBERS, SatelliteApp
from orbitmesh.orchestrator.cli import main as cli_main
from orbitmesh.orchestrator.preflight import (
    COMPUTE_SATELLITE_BYTES,
    GIB,
    MIB,
    TRACK_SAMPLE_BYTES,
    UP_GEOMETRY_PAIR_BYTES,
    UP_GEOMETRY_SATELLITE_BYTES,
    memory_need,
    object_store_bytes,
    preflight,
)
from orbitmesh.orchestrator.scenario import load_scenario

REPO = Path(__file__).resolve().parent.parent
SCENARIO = """\
name = "t"
[time]
start = 2026-03-20T12:00:00Z
[[shell]]
name = "a"
altitude_km = 550
inclination_deg = 53
planes = 2
sats_per_plane = 3
[[ground_station]]
name = "gs"
lat_deg = 50
lon_deg = 8
"""
_names = itertools.count()


def cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = cli_main(args)
    out, err = capsys.readouterr()
    return status, out, err


def run_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real command in its own process: exit status and every byte it printed."""
    return subprocess.run(
        [sys.executable, "-m", "orbitmesh", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def write(folder: Path, text: str, name: str = "s.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def one_model(folder: Path, name: str = "scale.onnx") -> Path:
    """y = 2x, as ONNX, written with the onnx package (not by our code)."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "k"], ["y"])],
        "scale",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3])],
        initializer=[helper.make_tensor("k", TensorProto.FLOAT, [], [2.0])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = folder / name
    onnx.save(model, path)
    return path


# ---------------------------------------------------------------------- [[model]]


def test_a_model_that_is_not_onnx_is_one_line_exit_2(tmp_path: Path) -> None:
    (tmp_path / "mynet.onnx").write_bytes(b"this is a text file, not a model\n")
    write(tmp_path, SCENARIO + '[[model]]\nname = "mynet"\npath = "mynet.onnx"\n')
    result = run_cli(tmp_path, "validate", "s.toml")
    assert result.returncode == 2
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(
        f"s.toml: model[0].path: cannot be served: model 'mynet' ({tmp_path / 'mynet.onnx'}): "
        "ONNX Runtime cannot load it: "
    ), line
    assert "Traceback" not in result.stderr


def test_a_model_with_tensors_the_protocol_cannot_carry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("SequenceConstruct", ["a"], ["seq"])],
        "sequence",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [2])],
        [helper.make_tensor_sequence_value_info("seq", TensorProto.FLOAT, None)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "seq.onnx")
    path = write(tmp_path, SCENARIO + '[[model]]\nname = "seq"\npath = "seq.onnx"\n')
    status, out, err = cli(["validate", str(path)], capsys)
    assert (status, out) == (2, "")
    assert err == (
        f"{path}: model[0].path: cannot be served: model 'seq' ({tmp_path / 'seq.onnx'}): "
        'tensor "seq": ONNX type seq(tensor(float)) has no protocol datatype\n'
    )


def test_a_real_onnx_model_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one_model(tmp_path)
    path = write(tmp_path, SCENARIO + '[[model]]\nname = "scale"\npath = "scale.onnx"\n')
    status, out, err = cli(["validate", str(path)], capsys)
    assert (status, err) == (0, "")
    assert out.startswith(f"{path}: ok: 6 satellites")


# ---------------------------------------------------------------------- [app]


def app_scenario(tmp_path: Path, module_source: str, class_name: str = "App") -> tuple[Path, str]:
    """A scenario whose [app] is ``class_name`` in a module of its own (a fresh name per
    test: an imported module stays in sys.modules)."""
    module = f"preflight_app_{os.getpid()}_{next(_names)}"
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(module_source), encoding="utf-8")
    entry = f"{module}:{class_name}"
    path = write(tmp_path, SCENARIO + f'[app]\nentry = "{entry}"\npath = "."\n')
    return path, entry


GOOD_APP = """\
from pathlib import Path
from orbitmesh.protos.tensors import TensorSpec

CALLED = Path(__file__).with_name("called")

class App:
    name = "good"
    inputs = (TensorSpec("x", "FP32", (-1, 3)),)
    outputs = [TensorSpec("y", "FP32", (-1, 3))]

    def __init__(self, context, config):
        CALLED.write_text("constructed")

    async def infer(self, inputs, parameters):
        CALLED.write_text("inferred")
        return {}
"""


def test_a_good_app_class_passes_and_is_never_instantiated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = app_scenario(tmp_path, GOOD_APP)
    before = list(sys.path)
    status, _, err = cli(["validate", str(path)], capsys)
    assert (status, err) == (0, "")
    assert not (tmp_path / "called").exists(), "validation constructed or ran the app"
    assert sys.path == before, "the app's folder stays on sys.path only while it is checked"


def test_the_worked_example_app_passes(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = cli(["validate", str(REPO / "examples" / "energy-aware.toml")], capsys)
    assert (status, err) == (0, "")


def test_os_system_is_refused_and_never_called(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Any] = []

    def system(*args: Any) -> int:
        calls.append(args)
        return 0

    monkeypatch.setattr(os, "system", system)
    path = write(tmp_path, SCENARIO + '[app]\nentry = "os:system"\n')
    status, out, err = cli(["validate", str(path)], capsys)
    assert (status, out) == (2, "")
    assert err == (
        f"{path}: app.entry: os:system is not a class but a function (an app is a class, "
        "see node/app.py)\n"
    )
    assert calls == []


def test_os_system_through_the_real_command(tmp_path: Path) -> None:
    write(tmp_path, SCENARIO + '[app]\nentry = "os:system"\n')
    result = run_cli(tmp_path, "validate", "s.toml")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "s.toml: app.entry: os:system is not a class but a function (an app is a class, "
        "see node/app.py)"
    ]


def test_a_function_named_as_the_app_is_not_called(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = GOOD_APP + "\ndef boom(*args):\n    CALLED.write_text('called')\n"
    path, entry = app_scenario(tmp_path, source, "boom")
    status, _, err = cli(["validate", str(path)], capsys)
    assert status == 2
    assert err == (
        f"{path}: app.entry: {entry} is not a class but a function (an app is a class, "
        "see node/app.py)\n"
    )
    assert not (tmp_path / "called").exists()


@pytest.mark.parametrize(
    ("source", "class_name", "expected"),
    [
        pytest.param(
            "X = 1\n", "App", "module '{module}' has no attribute 'App'", id="no-such-class"
        ),
        pytest.param(
            "App = 5\n",
            "App",
            "{entry} is not a class but an int (an app is a class, see node/app.py)",
            id="an-int",
        ),
        pytest.param(
            "import os as App\n",
            "App",
            "{entry} is not a class but a module (an app is a class, see node/app.py)",
            id="a-module",
        ),
        pytest.param(
            "raise RuntimeError('broken on import')\n",
            "App",
            "importing '{module}' failed: RuntimeError: broken on import",
            id="import-raises",
        ),
        pytest.param(
            "import sys\nsys.exit(3)\n",
            "App",
            "importing '{module}' failed: SystemExit: 3",
            id="import-exits",
        ),
        pytest.param(
            "import no_such_dependency_of_the_app\n",
            "App",
            "importing '{module}' failed: No module named 'no_such_dependency_of_the_app'",
            id="missing-dependency",
        ),
        pytest.param(
            GOOD_APP.replace("    async def infer", "    def infer"),
            "App",
            "{entry}.infer must be a coroutine function (async def)",
            id="sync-infer",
        ),
        pytest.param(
            GOOD_APP.replace("    async def infer", "    async def run"),
            "App",
            "{entry} has no 'infer' method (see node/app.py)",
            id="no-infer",
        ),
        pytest.param(
            GOOD_APP.replace('    name = "good"\n', ""),
            "App",
            "{entry} has no 'name' attribute (see node/app.py)",
            id="no-name",
        ),
        pytest.param(
            GOOD_APP.replace('name = "good"', "name = 5"),
            "App",
            "{entry}.name must be a non-empty string, got int 5",
            id="name-int",
        ),
        pytest.param(
            GOOD_APP.replace('inputs = (TensorSpec("x", "FP32", (-1, 3)),)', 'inputs = ["x"]'),
            "App",
            "{entry}.inputs must be a list or tuple of TensorSpec, got an array",
            id="inputs-strings",
        ),
        pytest.param(
            GOOD_APP.replace("def __init__(self, context, config)", "def __init__(self)"),
            "App",
            "{entry}'s constructor must take (context, config), its signature is ()",
            id="constructor",
        ),
    ],
)
def test_app_entries_up_cannot_load(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    source: str,
    class_name: str,
    expected: str,
) -> None:
    path, entry = app_scenario(tmp_path, source, class_name)
    module = entry.partition(":")[0]
    status, out, err = cli(["validate", str(path)], capsys)
    assert (status, out) == (2, "")
    assert err == f"{path}: app.entry: {expected.format(module=module, entry=entry)}\n"
    assert not (tmp_path / "called").exists()


def test_members_set_by_the_constructor_may_be_declared(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = GOOD_APP.replace('    name = "good"\n', "    name: str\n")
    path, _ = app_scenario(tmp_path, source)
    status, _, err = cli(["validate", str(path)], capsys)
    assert (status, err) == (0, "")


def test_an_app_a_module_provides_lazily_is_found(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = GOOD_APP.replace("class App:", "class _App:") + (
        "\ndef __getattr__(name):\n"
        "    if name == 'App':\n"
        "        return _App\n"
        "    raise AttributeError(name)\n"
    )
    path, _ = app_scenario(tmp_path, source)
    status, _, err = cli(["validate", str(path)], capsys)
    assert (status, err) == (0, "")
    path, entry = app_scenario(tmp_path, source, "Other")
    status, _, err = cli(["validate", str(path)], capsys)
    assert status == 2
    assert err == f"{path}: app.entry: module '{entry[:-6]}' has no attribute 'Other'\n"


def test_an_app_module_that_does_not_exist_through_the_real_command(tmp_path: Path) -> None:
    write(tmp_path, SCENARIO + '[app]\nentry = "no_such_app_module:App"\npath = "."\n')
    result = run_cli(tmp_path, "validate", "s.toml")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"s.toml: app.entry: no module named 'no_such_app_module' (looked in {tmp_path.resolve()} "
        "and sys.path)"
    ]


def test_app_members_are_the_protocol_members() -> None:
    methods = {
        name
        for name, value in vars(SatelliteApp).items()
        if inspect.isfunction(value) and not name.startswith("_")
    }
    assert set(APP_MEMBERS) == set(SatelliteApp.__annotations__) | methods


# ---------------------------------------------------------------------- size


def test_ten_million_satellites_are_refused_with_the_memory_they_need(tmp_path: Path) -> None:
    ten_million = "planes = 10000\nsats_per_plane = 1000"
    write(tmp_path, SCENARIO.replace("planes = 2\nsats_per_plane = 3", ten_million))
    result = run_cli(tmp_path, "validate", "s.toml")
    assert result.returncode == 2
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("s.toml: needs about "), line
    assert "; 10,000,000 compute satellites " in line
    assert line.endswith("available on this machine"), line


@pytest.mark.parametrize("command", ["geometry", "contacts"])
def test_geometry_and_contacts_refuse_what_they_cannot_hold(tmp_path: Path, command: str) -> None:
    # 10^9 satellites: half a terabyte for one tick, more for a contact search.
    billion = "planes = 100000\nsats_per_plane = 10000"
    write(tmp_path, SCENARIO.replace("planes = 2\nsats_per_plane = 3", billion))
    result = run_cli(tmp_path, command, "s.toml")
    assert result.returncode == 2
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("s.toml: needs about "), line
    assert "1,000,000,000 satellites and 1 stations" in line
    assert "Traceback" not in result.stderr


def test_the_estimate_by_hand(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, SCENARIO))
    need = memory_need(scenario, "up", cpus=2)
    # "auto" on 2 CPUs: 4 satellite hosts at most, so ceil(6 / 4) = 2 satellites a host
    # in 3 hosts, and 1 gateway host: 4 hosts against the fit's 6.
    fixed = 1_230 * MIB - 2 * 105 * MIB
    # 6 satellites, 1 station: 6 pairs; tracks every 10 s over 3600 + 60 s: 367 samples.
    assert dict(need.parts) == {
        "Ray, the orchestrator and 4 host processes": fixed,
        "6 compute satellites": 6 * int(0.106 * MIB),
        "the geometry of 6 satellites and 1 stations": 6 * 2_900 + 6 * 32,
        "their tracks over 3,660 s": 320 * 6 * 367,
        "the models in 3 hosts": 0,
        # 48 B x 64 ticks x 6 satellites is under the 200 MiB Ray gets anyway.
        "Ray's object store for the link state": 0,
    }
    # The constants the hand figures above spell out.
    assert int(0.106 * MIB) == COMPUTE_SATELLITE_BYTES
    assert UP_GEOMETRY_SATELLITE_BYTES == 2_900
    assert UP_GEOMETRY_PAIR_BYTES == 32
    assert TRACK_SAMPLE_BYTES == 320
    assert preflight(scenario, available_bytes=math.inf) == []
    assert preflight(scenario, available_bytes=0.5 * GIB) == [
        # 1,020 MiB + (666,894 + 17,592 + 704,640) B = 1,021.3 MiB, shown rounded up
        f"{scenario.source}: needs about 1,022 MiB of memory to run (Ray, the orchestrator and "
        "4 host processes 1,020 MiB; 6 compute satellites 1 MiB; the geometry of 6 satellites "
        "and 1 stations 1 MiB; their tracks over 3,660 s 1 MiB), more than the 512 MiB "
        "available on this machine"
    ]


def test_a_million_satellites_get_an_object_store_for_their_link_state() -> None:
    scenario = load_scenario("spacex-odc")
    # 48 B per satellite and tick, 64 ticks: 3,072,000,000 B, beyond the default 200 MiB.
    assert object_store_bytes(scenario) == 48 * 64 * 1_000_000
    need = dict(memory_need(scenario, "up", cpus=2).parts)
    assert need["Ray's object store for the link state"] == 48 * 64 * 1_000_000 - 200 * MIB


def test_a_model_costs_its_size_in_every_satellite_host(tmp_path: Path) -> None:
    model = one_model(tmp_path)
    text = SCENARIO + '[[model]]\nname = "scale"\npath = "scale.onnx"\n'
    need = memory_need(load_scenario(write(tmp_path, text)), "up", cpus=2)
    assert dict(need.parts)["the models in 3 hosts"] == 3 * model.stat().st_size


_MEASURE = """
import json, sys, tracemalloc
from pathlib import Path
from orbitmesh.orchestrator import GeometryEngine, parse_scenario
from orbitmesh.orchestrator.sunlight import _ephemeris
_ephemeris()
doc = json.loads(sys.argv[1])
scenario = parse_scenario(doc, "m", Path("."))
# The heap's own peak (numpy reports its arrays to tracemalloc), not the process's RSS:
# a peak of RSS would also hold whatever the imports once needed, and moves with them.
tracemalloc.start()
engine = GeometryEngine(scenario)
engine.tick(engine.start)
print(tracemalloc.get_traced_memory()[1])
"""


def test_the_geometry_estimate_covers_a_measured_tick() -> None:
    """One tick of 100,000 satellites and 10 stations, as ``orbitmesh geometry`` computes
    it, in a process of its own: its peak memory beyond the imports is within the
    estimate, and the estimate is not twice what it needs."""
    doc: dict[str, Any] = {
        "name": "m",
        "time": {"start": "2026-03-20T12:00:00Z"},
        "shell": [
            {
                "name": "s",
                "altitude_km": 550,
                "inclination_deg": 53,
                "planes": 250,
                "sats_per_plane": 400,
            }
        ],
        "ground_station_set": [{"builtin": "metros", "count": 10}],
        "compute": {"satellites": "none"},
    }
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, json.dumps(doc)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    measured = int(out.stdout.split()[-1])
    from orbitmesh.orchestrator.scenario import parse_scenario

    need = memory_need(parse_scenario(doc, "m", Path(".")), "geometry")
    (_, tick_bytes) = need.parts[1]
    assert measured <= tick_bytes < 2 * measured, (measured, tick_bytes)


# ---------------------------------------------------------------------- command-line overrides


def test_overrides_from_up_are_checked_as_the_run_will_use_them(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, SCENARIO))
    source = scenario.source
    assert preflight(scenario, speed=140.0, available_bytes=math.inf) == []
    assert preflight(scenario, speed=1000.0, duration_s=1e10, available_bytes=math.inf) == [
        f"{source}: time.speed (--speed): must be at most 140 at step_s 1 (the orchestrator "
        "computes and publishes about 140 ticks per wall second, speed / step_s), got 1000",
        # 2026-03-20T12:00Z to 2053-10-08T00:00Z: 10,063 days and 12 hours.
        f"{source}: time.duration_s (--duration): must end the run within "
        "1899-07-30T00:00:00Z .. 2053-10-08T00:00:00Z (the Sun ephemeris de421.bsp that "
        "skyfield-data ships, a day inside each end): at most "
        f"{10_063 * 86_400 + 12 * 3_600} s after time.start, got 10000000000",
    ]


def test_the_built_in_models_fit_the_radiation_bound() -> None:
    from orbitmesh.node.models import ensure_model
    from orbitmesh.node.spec import BUILTIN_MODEL_NAMES
    from orbitmesh.orchestrator.preflight import BUILTIN_MODEL_MAX_BYTES

    # Every model a scenario's [node] builtin_models may name has its own bound.
    assert set(BUILTIN_MODEL_MAX_BYTES) == set(BUILTIN_MODEL_NAMES)
    for name in BUILTIN_MODEL_NAMES:
        if name == "minilm" and importlib.util.find_spec("tokenizers") is None:
            continue  # a light install without the text extra
        assert ensure_model(name).path.stat().st_size < BUILTIN_MODEL_MAX_BYTES[name]


def test_a_radiation_rate_a_satellite_could_not_draw_is_refused(tmp_path: Path) -> None:
    """At the default SRAM rate (4.04e-7 per bit-day, about that at 550 km), 1 Mbit of
    weights for an hour draws about 0.02 upsets: a rate_scale of 1e9 asks for ~2e7, past
    the 5e6 a satellite may expect."""
    text = SCENARIO + "\n[radiation]\nenabled = true\nrate_scale = 1e9\n"
    problems = preflight(load_scenario(write(tmp_path, text)), available_bytes=math.inf)
    assert len(problems) == 1 and ": radiation.rate_scale: would draw about" in problems[0]
    fine = SCENARIO + "\n[radiation]\nenabled = true\nrate_scale = 1e5\n"
    assert preflight(load_scenario(write(tmp_path, fine)), available_bytes=math.inf) == []
