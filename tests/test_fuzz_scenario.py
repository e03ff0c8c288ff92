"""Fuzzing the scenario parser: whatever a file holds, ``load_scenario`` returns a
Scenario or raises ScenarioError with one line per problem, never another exception.

Three kinds of input: documents near the schema (the real tables and keys, with random
keys beside them and values of every TOML type: wrong types, huge and tiny numbers, NaN
and infinities, unicode, deep arrays and tables), a valid scenario with a few of its
values replaced, and raw text and bytes.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orbitmesh.node.power import PowerParams
from orbitmesh.node.thermal import ThermalParams
from orbitmesh.orchestrator.scenario import Scenario, ScenarioError, load_scenario

#: Every table of the format and its keys (docs/scenarios.md), spelled here rather than
#: read from the parser so that a key the parser forgets is still generated.
SCHEMA: dict[str, tuple[str, ...]] = {
    "time": ("start", "duration_s", "step_s", "speed"),
    "shell": (
        "name",
        "altitude_km",
        "inclination_deg",
        "planes",
        "sats_per_plane",
        "phasing",
        "raan_spread_deg",
        "raan_offset_deg",
        "power",
        "thermal",
    ),
    "tle": ("path", "names"),
    "ground_station": ("name", "lat_deg", "lon_deg", "alt_m", "min_elevation_deg"),
    "ground_station_set": ("builtin", "count", "min_elevation_deg", "alt_m"),
    "links": (
        "isl",
        "isl_range_km",
        "isl_neighbours",
        "isl_bandwidth_mbps",
        "gsl_bandwidth_mbps",
        "route_horizon_ms",
        "loss_rate",
        "loss_seed",
    ),
    "compute": ("satellites",),
    "power": tuple(PowerParams.field_names()),
    "thermal": tuple(ThermalParams.field_names()),
    "node": ("queue_depth", "max_concurrency", "max_message_mb", "builtin_models"),
    "model": ("name", "path", "satellites"),
    "satellite": ("id", "power", "thermal"),
    "app": ("entry", "path", "config"),
    "placement": ("satellites_per_host", "stations_per_host", "cpus_per_host"),
}
#: Arrays of tables ([[shell]]); the rest are tables.
ARRAYS = {"shell", "tle", "ground_station", "ground_station_set", "model", "satellite"}

VALID = {
    "name": "fuzz",
    "time": {"start": datetime(2026, 3, 20, 12, tzinfo=UTC), "duration_s": 600.0},
    "shell": [
        {
            "name": "a",
            "altitude_km": 550.0,
            "inclination_deg": 53.0,
            "planes": 3,
            "sats_per_plane": 4,
            "phasing": 1,
        }
    ],
    "ground_station": [{"name": "gs", "lat_deg": 50.0, "lon_deg": 8.0}],
    "ground_station_set": [{"builtin": "metros", "count": 3}],
    "links": {"isl": "nearest", "isl_neighbours": 3, "loss_rate": 0.01, "loss_seed": 7},
    "compute": {"satellites": {"every": 2}},
    "node": {"queue_depth": 8, "max_concurrency": 2, "builtin_models": ["digits"]},
    "power": {"battery_wh": 50.0},
    "satellite": [{"id": "a-0-0", "thermal": {}}],
    "app": {"entry": "pkg.mod:App", "config": {"k": 1}},
    "placement": {"satellites_per_host": 4, "cpus_per_host": 0.5},
}

# --------------------------------------------------------------------------- TOML text


def _key(key: str) -> str:
    return _string(key)


def _string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def to_toml(doc: Mapping[str, Any]) -> str:
    """Top-level keys, each with its value written inline (tables as inline tables)."""
    return "".join(f"{_key(key)} = {_value(value)}\n" for key, value in doc.items())


# --------------------------------------------------------------------------- strategies

ZONES = [UTC, timezone(timedelta(hours=1)), timezone(timedelta(hours=-5, minutes=-30))]
datetimes = st.one_of(
    st.datetimes(
        min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31), timezones=st.just(None)
    ),
    st.builds(
        lambda d, zone: d.replace(tzinfo=zone, microsecond=0),
        st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)),
        st.sampled_from(ZONES),
    ),
    st.dates(),
    st.times(),
)
numbers = st.one_of(
    st.integers(min_value=-5, max_value=100),
    st.integers(),
    st.sampled_from([0, -1, 2**63 - 1, -(2**63), 10**30, -(10**30)]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 5e-324, 1e-300, 1e-6, 0.001, 0.1, 1e300, 1.7976931348623157e308]),
)
words = st.sampled_from(
    [
        "all",
        "none",
        "auto",
        "plus-grid",
        "nearest",
        "metros",
        "digits",
        "digits-cnn",
        "a-0-0",
        "pkg.mod:App",
        "os:system",
        ":",
        ".",
        "/",
        "2026-03-20T12:00:00Z",
        "2060-01-01T00:00:00Z",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "1899-07-29T23:59:59Z",
        "noon",
    ]
)
scalars = st.one_of(numbers, st.booleans(), words, st.text(max_size=12), datetimes)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(max_size=6), inner, max_size=4),
    ),
    max_leaves=12,
)


@st.composite
def table(draw: st.DrawFn, keys: tuple[str, ...]) -> dict[str, Any]:
    """The section's own keys and a few strangers, each with any value."""
    names = st.one_of(st.sampled_from(keys), st.text(max_size=8)) if keys else st.text()
    return draw(st.dictionaries(names, values, max_size=len(keys) + 2))


@st.composite
def near_schema(draw: st.DrawFn) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    if draw(st.booleans()):
        doc["name"] = draw(st.one_of(st.text(max_size=10), values))
    for section in draw(st.lists(st.sampled_from(sorted(SCHEMA)), max_size=8, unique=True)):
        keys = SCHEMA[section]
        shape = draw(st.sampled_from(["right", "right", "right", "wrong"]))
        if shape == "wrong":  # a table where an array of tables belongs, or a number
            doc[section] = draw(values)
        elif section in ARRAYS:
            doc[section] = draw(st.lists(table(keys), max_size=3))
        else:
            doc[section] = draw(table(keys))
    for _ in range(draw(st.integers(min_value=0, max_value=2))):
        doc[draw(st.text(max_size=8))] = draw(values)
    return doc


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    """The valid scenario with up to three values (at any depth) replaced or removed."""
    doc: dict[str, Any] = _copy(VALID)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        parent, key = draw(_slot(doc))
        if draw(st.booleans()) and isinstance(parent, dict):
            parent.pop(key, None)
        else:
            parent[key] = draw(values)
    return doc


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _slots(value: Any) -> list[tuple[Any, Any]]:
    """(container, key or index) of every value inside ``value``."""
    items = value.items() if isinstance(value, dict) else enumerate(value)
    out: list[tuple[Any, Any]] = []
    for key, child in items:
        out.append((value, key))
        if isinstance(child, dict | list) and child:
            out.extend(_slots(child))
    return out


def _slot(doc: dict[str, Any]) -> st.SearchStrategy[tuple[Any, Any]]:
    return st.sampled_from(_slots(doc))


# --------------------------------------------------------------------------- the property

FUZZ = settings(
    deadline=None,
    max_examples=150,
    database=None,  # nothing written into the working tree
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.fixture(scope="module")
def scenario_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "fuzz.toml"


def check_loads(path: Path) -> Scenario | None:
    """The property: a Scenario, or ScenarioError whose problems are single lines that
    name the file."""
    try:
        scenario = load_scenario(path)
    except ScenarioError as exc:
        assert exc.problems, "a ScenarioError lists its problems"
        for line in exc.problems:
            assert line.startswith(f"{path}: "), line
            assert "\n" not in line and "\r" not in line, line
            assert line.isprintable(), line
        return None
    assert isinstance(scenario, Scenario)
    return scenario


def test_the_valid_document_loads(scenario_file: Path) -> None:
    """The mutations start from a scenario that loads: they test the checks, not a
    document broken before any mutation."""
    scenario_file.write_text(to_toml(VALID), encoding="utf-8")
    assert check_loads(scenario_file) is not None


@FUZZ
@given(doc=near_schema())
def test_documents_near_the_schema(scenario_file: Path, doc: dict[str, Any]) -> None:
    text = to_toml(doc)
    tomllib.loads(text)  # the generator writes valid TOML: what is tested is the schema
    scenario_file.write_text(text, encoding="utf-8")
    check_loads(scenario_file)


@FUZZ
@given(doc=mutated())
def test_a_valid_scenario_with_values_replaced(scenario_file: Path, doc: dict[str, Any]) -> None:
    text = to_toml(doc)
    tomllib.loads(text)
    scenario_file.write_text(text, encoding="utf-8")
    check_loads(scenario_file)


@FUZZ
@given(text=st.text(max_size=400))
def test_raw_text(scenario_file: Path, text: str) -> None:
    scenario_file.write_text(text, encoding="utf-8")
    check_loads(scenario_file)


@FUZZ
@given(data=st.binary(max_size=400))
def test_raw_bytes(scenario_file: Path, data: bytes) -> None:
    scenario_file.write_bytes(data)
    check_loads(scenario_file)
