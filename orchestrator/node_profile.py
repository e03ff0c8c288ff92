"""What every compute satellite is made of: power, heat, queue and models.

Scenario tables read here::

    [power]              defaults for every compute satellite (node/power.py)
    [thermal]            defaults for every compute satellite (node/thermal.py)
    [node]               queue depth, concurrency, message size, built-in models
    [[model]]            users' own ONNX models and which satellites carry them
    [shell.power]        per-shell overrides (sub-tables of a [[shell]] entry)
    [shell.thermal]
    [[satellite]]        per-satellite overrides: id = "...", then [satellite.power] ...
    [[accelerator]]      users' own accelerator profiles (node/accelerator.py); [node],
                         a [[shell]] and a [[satellite]] name one with accelerator = "..."

A satellite's parameters are the defaults, then its shell's overrides, then its own.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from orbitmesh.checking import Checker
from orbitmesh.node.accelerator import BUILTIN_ACCELERATORS, HOST, Accelerator
from orbitmesh.node.app import AppSpec
from orbitmesh.node.power import PowerParams
from orbitmesh.node.spec import BUILTIN_MODEL_NAMES, NodeSpec
from orbitmesh.node.thermal import ThermalParams
from orbitmesh.orchestrator.selection import Selection, parse_selection, selection_mask

__all__ = [
    "BUILTIN_MODEL_NAMES",
    "ModelSpec",
    "NodeProfile",
    "NodeSpec",
    "Override",
    "parse_node_profile",
]

NODE_KEYS = (
    "queue_depth",
    "max_concurrency",
    "max_message_mb",
    "builtin_models",
    "accelerator",
    "execution_provider",
)
MODEL_KEYS = ("name", "path", "satellites")
SATELLITE_KEYS = ("id", "power", "thermal", "accelerator")
APP_KEYS = ("entry", "path", "config")
ACCELERATOR_KEYS = (
    "name",
    "active_w",
    "idle_w",
    "peak_tflops",
    "latency_ms",
    "launch_ms",
    "source",
)
EXECUTION_PROVIDERS = ("cpu", "cuda")
#: The longest eclipse of a low Earth orbit, minutes (about 36 at 550 km: PowerParams'
#: own orbit check, node/power.py).
LONGEST_LEO_ECLIPSE_MIN = 36.0
#: Keys a [[shell]] entry may carry besides its orbit.
SHELL_PROFILE_KEYS = ("power", "thermal", "accelerator")


@dataclass(frozen=True)
class ModelSpec:
    """A user's ONNX model (``[[model]]``)."""

    name: str
    path: Path
    satellites: Selection
    field_path: str


@dataclass(frozen=True)
class Override:
    """Parameter values for one shell or one satellite, applied over the defaults."""

    target: str  # shell name or satellite id
    power: Mapping[str, float]
    thermal: Mapping[str, float]
    field_path: str
    #: The accelerator it emulates (None: as the layer below says).
    accelerator: str | None = None


@dataclass(frozen=True)
class NodeProfile:
    power: PowerParams = field(default_factory=PowerParams)
    thermal: ThermalParams = field(default_factory=ThermalParams)
    node: NodeSpec = field(default_factory=NodeSpec)
    models: tuple[ModelSpec, ...] = ()
    shell_overrides: tuple[Override, ...] = ()
    satellite_overrides: tuple[Override, ...] = ()
    app: AppSpec | None = None
    #: Accelerator profiles by name: the built-ins and the scenario's own.
    accelerators: Mapping[str, Accelerator] = field(default_factory=lambda: BUILTIN_ACCELERATORS)

    def _layers(self, shell: str | None, satellite_id: str) -> list[Override]:
        layers = [o for o in self.shell_overrides if o.target == shell]
        return layers + [o for o in self.satellite_overrides if o.target == satellite_id]

    def accelerator_for(self, shell: str | None, satellite_id: str) -> Accelerator | None:
        """The profile a satellite emulates: [node]'s, then its shell's, then its own
        (None: the host's own time)."""
        name = self.node.accelerator
        for layer in self._layers(shell, satellite_id):
            name = layer.accelerator or name
        return None if name == HOST else self.accelerators[name]

    def power_warnings(self, shells: Sequence[str | None]) -> list[str]:
        """One line for each shell (None: satellites outside shells) whose accelerator
        cannot run flat out through one eclipse on its battery (a data-centre
        accelerator on the CubeSat [power] defaults drains it in minutes): not wrong,
        but the run will refuse work for power where the user may not expect it."""
        lines = []
        for shell in dict.fromkeys(shells):
            accelerator = self.accelerator_for(shell, "")
            if accelerator is None:
                continue
            power, _ = self.params_for(shell, "")
            usable_wh = power.battery_wh * (power.initial_soc - power.reserve_soc)
            draw_w = power.base_load_w + power.compute_w
            minutes = 60.0 * usable_wh / draw_w if draw_w > 0 else math.inf
            if minutes < LONGEST_LEO_ECLIPSE_MIN:
                where = f"shell {shell}" if shell else "satellites outside shells"
                lines.append(
                    f"{where}: accelerator {accelerator.name} draws {draw_w:g} W with the bus "
                    f"at full compute, and the battery's {usable_wh:g} Wh above reserve last "
                    f"{minutes:.1f} min of it (an eclipse lasts up to "
                    f"{LONGEST_LEO_ECLIPSE_MIN:g}): set [power] battery_wh and solar_w for it"
                )
        return lines

    def params_for(self, shell: str | None, satellite_id: str) -> tuple[PowerParams, ThermalParams]:
        """Defaults, then the shell's overrides, then the satellite's own; an accelerator
        profile's watts replace ``compute_w`` (busy) and ``compute_idle_w``."""
        power, thermal = self.power, self.thermal
        for layer in self._layers(shell, satellite_id):
            power = dataclasses.replace(power, **layer.power)
            thermal = dataclasses.replace(thermal, **layer.thermal)
        accelerator = self.accelerator_for(shell, satellite_id)
        if accelerator is not None:
            power = dataclasses.replace(
                power, compute_w=accelerator.active_w, compute_idle_w=accelerator.idle_w
            )
        return power, thermal

    def model_masks(
        self, ids: Sequence[str], index: Mapping[str, int], source: str, problems: list[str]
    ) -> dict[str, NDArray[np.bool_]]:
        """Which satellites carry each user model (before intersecting with compute)."""
        return {
            m.name: selection_mask(
                m.satellites, ids, index, f"{source}: {m.field_path}.satellites", problems
            )
            for m in self.models
        }

    def resolve(
        self,
        ids: Sequence[str],
        index: Mapping[str, int],
        shell_of: Callable[[int], str | None],
        compute: NDArray[np.bool_],
        source: str,
        problems: list[str],
    ) -> None:
        """Check what only the catalog can tell: override ids, and every compute
        satellite's combined parameters."""
        for o in self.satellite_overrides:
            if o.target not in index:
                problems.append(f"{source}: {o.field_path}.id: no satellite with id {o.target!r}")
        seen: set[tuple[str | None, str | None]] = set()
        override_ids = {o.target for o in self.satellite_overrides}
        for i in np.flatnonzero(compute).tolist():
            sid = ids[i]
            shell = shell_of(i)
            key = (shell, sid if sid in override_ids else None)
            if key in seen:
                continue
            seen.add(key)
            power, thermal = self.params_for(shell, sid)
            where = f"satellite {sid}" if key[1] else (f"shell {shell}" if shell else "")
            for problem in power.validate("power") + thermal.validate("thermal"):
                prefix = f"{source}: {where}: " if where else f"{source}: "
                problems.append(f"{prefix}{problem}")


def _param_table(
    raw: Any, path: str, names: Sequence[str], chk: Checker
) -> dict[str, float] | None:
    """Numbers for a [power]/[thermal] table (range checks come from the params' own
    validate, which knows the relations between fields)."""
    table = chk.table(raw, path)
    if table is None:
        return None
    chk.unknown_keys(table, names, path)
    values: dict[str, float] = {}
    ok = True
    for key in names:
        if key in table:
            number = chk.number(table[key], f"{path}.{key}")
            ok &= number is not None
            if number is not None:
                values[key] = number
    return values if ok else None


def _validated_power(
    values: Mapping[str, float] | None, path: str, chk: Checker
) -> PowerParams | None:
    if values is None:
        return None
    params = dataclasses.replace(PowerParams(), **values)
    for problem in params.validate(path):
        chk.problem(problem.path, problem.message)
    return params


def _validated_thermal(
    values: Mapping[str, float] | None, path: str, chk: Checker
) -> ThermalParams | None:
    if values is None:
        return None
    params = dataclasses.replace(ThermalParams(), **values)
    for problem in params.validate(path):
        chk.problem(problem.path, problem.message)
    return params


def _parse_node_spec(raw: Any, chk: Checker) -> NodeSpec | None:
    table = chk.table(raw, "node")
    if table is None:
        return None
    chk.unknown_keys(table, NODE_KEYS, "node")
    default = NodeSpec()
    depth = chk.get(table, "queue_depth", "node", chk.integer, default.queue_depth)
    if depth is not None and not 1 <= depth <= 100_000:
        chk.problem("node.queue_depth", f"must be within [1, 100000], got {depth}")
        depth = None
    conc = chk.get(table, "max_concurrency", "node", chk.integer, default.max_concurrency)
    if conc is not None and not 1 <= conc <= 64:
        chk.problem("node.max_concurrency", f"must be within [1, 64], got {conc}")
        conc = None
    if depth is not None and conc is not None and conc > depth:
        chk.problem(
            "node.max_concurrency", f"must not exceed node.queue_depth ({depth}), got {conc}"
        )
        conc = None
    size = chk.within(
        chk.get(table, "max_message_mb", "node", chk.number, default.max_message_mb),
        "node.max_message_mb",
        0.0,
        1024.0,
        open_low=True,
    )
    builtins: tuple[str, ...] | None = default.builtin_models
    if "builtin_models" in table:
        raw_list = table["builtin_models"]
        if not isinstance(raw_list, list) or not all(isinstance(x, str) for x in raw_list):
            chk.problem("node.builtin_models", "must be an array of model names")
            builtins = None
        else:
            unknown = [x for x in raw_list if x not in BUILTIN_MODEL_NAMES]
            if unknown:
                known = ", ".join(BUILTIN_MODEL_NAMES)
                chk.problem(
                    "node.builtin_models", f"unknown built-in model {unknown[0]!r} (known: {known})"
                )
                builtins = None
            else:
                builtins = tuple(dict.fromkeys(raw_list))
    accelerator = chk.get(table, "accelerator", "node", chk.string, default.accelerator)
    provider = chk.get(table, "execution_provider", "node", chk.string, default.execution_provider)
    if provider is not None and provider not in EXECUTION_PROVIDERS:
        known = ", ".join(EXECUTION_PROVIDERS)
        chk.problem("node.execution_provider", f"must be one of {known}, got {provider!r}")
        provider = None
    if (
        depth is None
        or conc is None
        or size is None
        or builtins is None
        or accelerator is None
        or provider is None
    ):
        return None
    return NodeSpec(
        queue_depth=depth,
        max_concurrency=conc,
        max_message_mb=size,
        builtin_models=builtins,
        accelerator=accelerator,
        execution_provider=provider,
    )


def _parse_accelerator(table: Mapping[str, Any], path: str, chk: Checker) -> Accelerator | None:
    chk.unknown_keys(table, ACCELERATOR_KEYS, path)
    name = chk.get(table, "name", path, chk.string)
    if name is not None and (name == HOST or name in BUILTIN_ACCELERATORS):
        chk.problem(f"{path}.name", f"{name!r} is a built-in accelerator; choose another name")
        name = None
    numbers: dict[str, float] = {}
    ok = True
    for key in ("active_w", "idle_w", "peak_tflops"):
        number = chk.get(table, key, path, chk.number)
        ok &= number is not None
        if number is not None:
            numbers[key] = number
    launch = chk.get(table, "launch_ms", path, chk.number, 0.0)
    source = chk.get(table, "source", path, chk.string, "")
    latency: dict[str, float] = {}
    raw = table.get("latency_ms", {})
    latency_table = chk.table(raw, f"{path}.latency_ms")
    if latency_table is None:
        ok = False
    else:
        for model, value in latency_table.items():
            number = chk.number(value, f"{path}.latency_ms.{model}")
            ok &= number is not None
            if number is not None:
                latency[model] = number
    if name is None or not ok or launch is None or source is None:
        return None
    accelerator = Accelerator(
        name=name, latency_ms=latency, launch_ms=launch, source=source, **numbers
    )
    problems = accelerator.validate(path)
    for where, message in problems:
        chk.problem(where, message)
    return None if problems else accelerator


def _parse_model(
    table: Mapping[str, Any], path: str, base_dir: Path, chk: Checker
) -> ModelSpec | None:
    chk.unknown_keys(table, MODEL_KEYS, path)
    name = chk.get(table, "name", path, chk.string)
    if name is not None and name in BUILTIN_MODEL_NAMES:
        chk.problem(f"{path}.name", f"{name!r} is a built-in model; choose another name")
        name = None
    rel = chk.get(table, "path", path, chk.string)
    file: Path | None = None
    if rel is not None:
        file = Path(rel).expanduser()
        file = file if file.is_absolute() else base_dir / file
        if not file.is_file():
            chk.problem(f"{path}.path", f"no such file: {file}")
            file = None
    selection = parse_selection(table.get("satellites", "all"), f"{path}.satellites", chk)
    if name is None or file is None or selection is None:
        return None
    return ModelSpec(name=name, path=file, satellites=selection, field_path=path)


def _override(
    table: Mapping[str, Any], target: str, path: str, defaults: NodeProfile, chk: Checker
) -> Override | None:
    power = (
        _param_table(table["power"], f"{path}.power", PowerParams.field_names(), chk)
        if "power" in table
        else {}
    )
    thermal = (
        _param_table(table["thermal"], f"{path}.thermal", ThermalParams.field_names(), chk)
        if "thermal" in table
        else {}
    )
    accelerator = (
        chk.string(table["accelerator"], f"{path}.accelerator") if "accelerator" in table else ""
    )
    if power is None or thermal is None or accelerator is None:
        return None
    return Override(
        target=target,
        power=power,
        thermal=thermal,
        field_path=path,
        accelerator=accelerator or None,
    )


def _parse_app(raw: Any, base_dir: Path, chk: Checker) -> AppSpec | None:
    table = chk.table(raw, "app")
    if table is None:
        return None
    chk.unknown_keys(table, APP_KEYS, "app")
    entry = chk.get(table, "entry", "app", chk.string)
    if entry is not None:
        module, _, name = entry.partition(":")
        if (
            not module
            or not name
            or not all(part.isidentifier() for part in (*module.split("."), name))
        ):
            chk.problem("app.entry", f'must look like "package.module:ClassName", got {entry!r}')
            entry = None
    folder: str | None = None
    if "path" in table:
        rel = chk.string(table["path"], "app.path")
        if rel is not None:
            resolved = Path(rel).expanduser()
            resolved = resolved if resolved.is_absolute() else (base_dir / resolved).resolve()
            if not resolved.is_dir():
                chk.problem("app.path", f"no such folder: {resolved}")
            else:
                folder = str(resolved)
    config = table.get("config", {})
    if chk.table(config, "app.config") is None:
        return None
    if entry is None or ("path" in table and folder is None):
        return None
    return AppSpec(entry=entry, path=folder, config=dict(config))


def parse_node_profile(
    data: Mapping[str, Any],
    shells: Sequence[tuple[str, Mapping[str, Any], str]],
    base_dir: Path,
    chk: Checker,
) -> NodeProfile | None:
    """The node sections of a scenario. ``shells`` are (name, raw table, field path)."""
    power_values = (
        _param_table(data["power"], "power", PowerParams.field_names(), chk)
        if "power" in data
        else {}
    )
    thermal_values = (
        _param_table(data["thermal"], "thermal", ThermalParams.field_names(), chk)
        if "thermal" in data
        else {}
    )
    power = _validated_power(power_values, "power", chk)
    thermal = _validated_thermal(thermal_values, "thermal", chk)
    node = _parse_node_spec(data["node"], chk) if "node" in data else NodeSpec()
    defaults = NodeProfile()

    models = [
        m
        for i, t in enumerate(chk.array_of_tables(data.get("model", []), "model"))
        if (m := _parse_model(t, f"model[{i}]", base_dir, chk)) is not None
    ]
    names = [m.name for m in models]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        chk.problem("model", f"name {dup!r} is used more than once")

    shell_overrides = [
        o
        for name, table, path in shells
        if any(k in table for k in SHELL_PROFILE_KEYS)
        and (o := _override(table, name, path, defaults, chk)) is not None
    ]
    satellite_overrides: list[Override] = []
    seen: set[str] = set()
    for i, table in enumerate(chk.array_of_tables(data.get("satellite", []), "satellite")):
        path = f"satellite[{i}]"
        chk.unknown_keys(table, SATELLITE_KEYS, path)
        sid = chk.get(table, "id", path, chk.string)
        if sid is None:
            continue
        if sid in seen:
            chk.problem(f"{path}.id", f"{sid!r} already has a [[satellite]] entry")
            continue
        seen.add(sid)
        override = _override(table, sid, path, defaults, chk)
        if override is not None:
            satellite_overrides.append(override)

    tables = chk.array_of_tables(data.get("accelerator", []), "accelerator")
    own = [
        a
        for i, t in enumerate(tables)
        if (a := _parse_accelerator(t, f"accelerator[{i}]", chk)) is not None
    ]
    own_names = [a.name for a in own]
    for dup in sorted({n for n in own_names if own_names.count(n) > 1}):
        chk.problem("accelerator", f"name {dup!r} is used more than once")
    accelerators = {**BUILTIN_ACCELERATORS, **{a.name: a for a in own}}
    # A name whose own [[accelerator]] table had a problem was told of already.
    told = {t.get("name") for t in tables}
    named = [("node.accelerator", node.accelerator if node is not None else HOST)]
    named += [
        (f"{o.field_path}.accelerator", o.accelerator)
        for o in (*shell_overrides, *satellite_overrides)
        if o.accelerator is not None
    ]
    for where, name in named:
        if name != HOST and name not in accelerators and name not in told:
            known = ", ".join([HOST, *accelerators])
            chk.problem(where, f"unknown accelerator {name!r} (known: {known})")

    app = _parse_app(data["app"], base_dir, chk) if "app" in data else None
    if power is None or thermal is None or node is None or ("app" in data and app is None):
        return None
    return NodeProfile(
        power=power,
        thermal=thermal,
        node=node,
        models=tuple(models),
        shell_overrides=tuple(shell_overrides),
        satellite_overrides=tuple(satellite_overrides),
        app=app,
        accelerators=MappingProxyType(accelerators),
    )
