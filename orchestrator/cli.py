"""The ``orbitmesh`` command line.

Every command that takes a SCENARIO accepts a path to a TOML file or the name of a
built-in scenario. Invalid input ends with one line per problem on stderr and exit
status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from orbitmesh import __version__
from orbitmesh.orchestrator.cli_fault import add_fault_command
from orbitmesh.orchestrator.cli_load import add_load_commands
from orbitmesh.orchestrator.cli_run import add_run_commands
from orbitmesh.orchestrator.formation import CLOSE_APPROACH_M, closest_approach_m
from orbitmesh.orchestrator.preflight import Command, checked_catalog
from orbitmesh.orchestrator.scenario import (
    BUILTIN_SCENARIOS,
    Scenario,
    ScenarioError,
    load_scenario,
    parse_time_arg,
    span_problem,
)

__all__ = ["main"]

EXIT_USAGE = 2

#: What the `emulator` extra installs (pyproject.toml), by import name: a command that
#: needs one of them in a client-only install says how to get it.
EMULATOR_MODULES = frozenset(
    {
        "ray",
        "scipy",
        "numba",
        "threadpoolctl",
        "sgp4",
        "skyfield",
        "skyfield_data",
        "onnxruntime",
        "sklearn",
        "skl2onnx",
        "onnx",
        "prometheus_client",
    }
)


class UsageError(Exception):
    """Bad input from the user: printed without a traceback, exit status 2."""


def _time_arg(text: str) -> datetime:
    try:
        return parse_time_arg(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO 8601 time in the years 1 to 9999 (UTC): {text!r} "
            "(e.g. 2026-03-20T12:00:00Z)"
        ) from None


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


#: SGP4 from a TLE drifts by kilometres per day away from its epoch (Vallado et al.,
#: "Revisiting Spacetrack Report #3", AIAA 2006-6753); beyond this, say so.
STALE_TLE_DAYS = 14.0


def _engine(scenario: Scenario, command: Command, duration_s: float | None = None) -> Any:
    """The geometry engine, once every check of ``orbitmesh validate`` has passed."""
    from orbitmesh.orchestrator.geometry import GeometryEngine

    catalog = checked_catalog(scenario, command=command, duration_s=duration_s)
    _warn_stale_tles(catalog, scenario.time.start)
    if catalog.size >= 100_000 and sys.stderr.isatty():
        print(f"setting up {catalog.size:,} satellites ...", file=sys.stderr, flush=True)
    return GeometryEngine(scenario, catalog)


def warn_power(scenario: Scenario) -> None:
    """Say where an accelerator profile cannot run through an eclipse on its bus, and
    where a cluster's given offsets bring two members close."""
    outside = [None] if scenario.tles or scenario.omm or scenario.clusters else []
    shells = [shell.name for shell in scenario.shells] + outside
    for line in scenario.nodes.power_warnings(shells):
        print(f"orbitmesh: warning: {line}", file=sys.stderr)
    for k, cluster in enumerate(scenario.clusters):
        # Only given offsets can collide: the lattices are passively safe by construction.
        if cluster.layout != "offsets":
            continue
        closest_m, a, b = closest_approach_m(cluster)
        if closest_m < CLOSE_APPROACH_M:
            print(
                f"orbitmesh: warning: cluster[{k}].offsets_m: members {a} and {b} come within "
                f"{closest_m:.1f} m of each other each orbit (x0 cos u, y0 - 2 x0 sin u, "
                "z0 cos u; docs/scenarios.md, formation clusters)",
                file=sys.stderr,
            )


def _warn_stale_tles(catalog: Any, when: datetime) -> None:
    ages = catalog.tle_age_days(when)
    stale = ages > STALE_TLE_DAYS
    if stale.any():
        print(
            f"orbitmesh: warning: {int(stale.sum()):,} of {len(ages):,} TLE satellites have epochs "
            f"more than {STALE_TLE_DAYS:g} days from the scenario start (up to {ages.max():,.0f} "
            "days): their SGP4 positions may be off by many kilometres",
            file=sys.stderr,
        )


def _open_output(path: Path) -> TextIO:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("w", encoding="utf-8")


def _sections(text: str) -> tuple[str, ...]:
    from orbitmesh.orchestrator.render import GEOMETRY_SECTIONS

    names = tuple(s.strip() for s in text.split(",") if s.strip())
    unknown = [s for s in names if s not in GEOMETRY_SECTIONS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"not a list of {', '.join(GEOMETRY_SECTIONS)}: {text!r}")
    return names


def _write(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    print(f"wrote {output}", file=sys.stderr)


# ---------------------------------------------------------------------------- commands


def _check_span(when: datetime, duration_s: float, options: dict[str, str]) -> None:
    """Command-line times must lie where the geometry can be computed too; ``options``
    names the option behind ``time.start`` and ``time.duration_s``."""
    problem = span_problem(when, duration_s)
    if problem is not None:
        raise UsageError(f"{options[problem.path]}: {problem.message}")


def cmd_geometry(args: argparse.Namespace) -> int:
    from orbitmesh.orchestrator.progress import ProgressBar
    from orbitmesh.orchestrator.render import (
        GEOMETRY_SECTIONS,
        geometry_table,
        write_geometry_json,
    )

    scenario = load_scenario(args.scenario)
    if args.at is not None:
        _check_span(args.at, 0.0, {"time.start": "--at", "time.duration_s": "--at"})
    engine = _engine(scenario, "geometry")
    when = args.at if args.at is not None else engine.start
    tick = engine.tick(when)
    if args.json:
        sections = GEOMETRY_SECTIONS if args.sections is None else args.sections
        sat_routes = engine.satellite_routes(tick) if args.satellite_routes else None
        out = sys.stdout if args.output is None else _open_output(args.output)
        try:
            with ProgressBar("geometry", unit="items") as bar:
                write_geometry_json(
                    out,
                    engine,
                    tick,
                    satellite_routes=sat_routes,
                    sections=sections,
                    compact=args.compact,
                    progress=bar,
                )
        finally:
            if out is not sys.stdout:
                out.close()
                print(f"wrote {args.output}", file=sys.stderr)
    else:
        _write(geometry_table(engine, tick, max_rows=args.max_rows), args.output)
    return 0


def cmd_contacts(args: argparse.Namespace) -> int:
    from orbitmesh.orchestrator.contacts import find_contacts
    from orbitmesh.orchestrator.progress import ProgressBar
    from orbitmesh.orchestrator.render import (
        contacts_csv,
        contacts_ion,
        contacts_json,
        contacts_table,
    )

    scenario = load_scenario(args.scenario)
    duration = args.duration if args.duration is not None else scenario.time.duration_s
    if args.start is not None or args.duration is not None:
        start = args.start if args.start is not None else scenario.time.start
        _check_span(start, duration, {"time.start": "--start", "time.duration_s": "--duration"})
    engine = _engine(scenario, "contacts", duration)
    start_s = engine.offset_of(args.start) if args.start is not None else 0.0
    with ProgressBar("contacts", unit="s simulated") as bar:
        contacts = find_contacts(engine, start_s, duration, progress=bar)
    if args.format == "json":
        text = json.dumps(contacts_json(engine, contacts), indent=1)
    elif args.format == "csv":
        text = contacts_csv(engine, contacts)
    elif args.format == "ion":
        text = contacts_ion(engine, contacts, start_s)
    else:
        text = contacts_table(engine, contacts, max_rows=args.max_rows)
    _write(text, args.output)
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    scenario = load_scenario(args.scenario)
    catalog = checked_catalog(scenario, command="up")
    _warn_stale_tles(catalog, scenario.time.start)
    warn_power(scenario)
    start = scenario.time.start.isoformat().replace("+00:00", "Z")
    print(
        f"{scenario.source}: ok: {catalog.size:,} satellites "
        f"({int(catalog.compute.sum()):,} compute) in {len(scenario.shells)} shell(s) and "
        f"{len(scenario.tles)} TLE file(s)"
        + (f" and {len(scenario.omm)} OMM file(s)" if scenario.omm else "")
        + (f" and {len(scenario.clusters)} cluster(s)" if scenario.clusters else "")
        + f", {len(scenario.ground_stations)} ground stations, "
        + (f"{sum(t.size for t in scenario.terminals):,} terminals, " if scenario.terminals else "")
        + f"isl {scenario.links.isl}, {scenario.time.duration_s:g} s from {start}"
    )
    return 0


def cmd_scenarios(args: argparse.Namespace) -> int:
    from orbitmesh.orchestrator.catalog import build_catalog

    for name in BUILTIN_SCENARIOS:
        scenario = load_scenario(name)
        shells = ", ".join(
            [
                f"{s.name} {s.planes}x{s.sats_per_plane} {s.altitude_km:g} km "
                f"{s.inclination_deg:g} deg"
                for s in scenario.shells
            ]
            + [
                f"cluster {c.name} of {c.members} {c.altitude_km:g} km {c.inclination_deg:.2f} deg"
                for c in scenario.clusters
            ]
            + (
                [f"{sum(t.size for t in scenario.terminals):,} terminals"]
                if scenario.terminals
                else []
            )
        )
        size = build_catalog(scenario).size
        stations = len(scenario.ground_stations)
        print(f"{name:18s} {size:9,d} satellites  {stations:3d} stations  {shells}")
    return 0


# ---------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="orbitmesh",
        description="Emulate satellite compute constellations: orbits, links, routes and "
        "live inference.",
    )
    parser.add_argument("--version", action="version", version=f"orbitmesh {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    scenario_help = f"scenario file (TOML) or built-in name ({', '.join(BUILTIN_SCENARIOS)})"

    p = sub.add_parser("geometry", help="positions, sunlight, links and routes at one instant")
    p.add_argument("scenario", help=scenario_help)
    p.add_argument(
        "--at", type=_time_arg, help="instant (ISO 8601, UTC); default: the scenario start"
    )
    p.add_argument("--json", action="store_true", help="print the JSON document instead of tables")
    p.add_argument("--compact", action="store_true", help="with --json: no line breaks")
    p.add_argument(
        "--sections",
        type=_sections,
        help="with --json: only these lists (comma-separated: satellites, ground_stations, "
        "isl, routes, satellite_routes; default all)",
    )
    p.add_argument(
        "--satellite-routes",
        action="store_true",
        help="with --json: add routes between compute satellites",
    )
    p.add_argument(
        "--max-rows", type=int, default=40, help="rows per table in human output (0: all)"
    )
    p.add_argument("--output", "-o", type=Path, help="write to this file instead of stdout")
    p.set_defaults(func=cmd_geometry)

    p = sub.add_parser("contacts", help="ground-station/satellite contact windows")
    p.add_argument("scenario", help=scenario_help)
    p.add_argument(
        "--start", type=_time_arg, help="start of the search (ISO 8601); default: scenario start"
    )
    p.add_argument(
        "--duration", type=_positive, help="seconds to search; default: the scenario duration"
    )
    p.add_argument("--format", choices=("table", "json", "csv", "ion"), default="table")
    p.add_argument("--max-rows", type=int, default=0, help="rows in table output (0: all)")
    p.add_argument("--output", "-o", type=Path, help="write to this file instead of stdout")
    p.set_defaults(func=cmd_contacts)

    p = sub.add_parser("validate", help="check a scenario file and summarise it")
    p.add_argument("scenario", help=scenario_help)
    p.set_defaults(func=cmd_validate)

    add_run_commands(sub, scenario_help)
    add_load_commands(sub, scenario_help)
    add_fault_command(sub)

    p = sub.add_parser("scenarios", help="list the built-in scenarios")
    p.set_defaults(func=cmd_scenarios)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.func(args)
    except ScenarioError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        return EXIT_USAGE
    except UsageError as exc:
        print(f"orbitmesh: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # `orbitmesh ... | head` is fine
        return 0
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in EMULATOR_MODULES:
            raise
        print(
            f"orbitmesh {args.command}: needs the emulator extra (no module {exc.name!r}): "
            "pip install 'orbitmesh[emulator]'",
            file=sys.stderr,
        )
        return EXIT_USAGE
    return status


if __name__ == "__main__":
    raise SystemExit(main())
