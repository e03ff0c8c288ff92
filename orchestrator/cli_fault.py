"""``orbitmesh fault``: add a fault to a running emulation (docs/faults.md).

The command joins the emulation's Ray cluster (its address is in the endpoints file
``up`` wrote), finds the orchestrator by name and hands it one ``[[fault]]`` entry built
from the command line; the orchestrator checks it like a scenario's entry, applies it
from now (or ``--at``) and sends the ticks already published again with it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from orbitmesh.orchestrator.cli_run import EXIT_USAGE

__all__ = ["add_fault_command", "cmd_fault", "fault_entry"]

_KINDS = ("reboot", "fail", "isl-down", "station-down", "weather")


def fault_entry(args: argparse.Namespace) -> dict[str, Any]:
    """The ``[[fault]]`` table the command line describes."""
    targets: list[Any] = list(args.targets)
    if args.kind == "isl-down" and args.link:
        targets = [list(args.targets)]  # one link between the two satellites named
    entry: dict[str, Any] = {"kind": args.kind, "targets": targets}
    for key in ("at_s", "duration_s", "reset", "rate_factor", "loss_rate"):
        value = getattr(args, key)
        if value is not None:
            entry[key] = value
    return entry


def cmd_fault(args: argparse.Namespace) -> int:
    import ray
    from ray.exceptions import RayActorError, RayTaskError

    from orbitmesh.ground.endpoints import default_endpoints_path, load_endpoints
    from orbitmesh.ground.errors import EndpointsError
    from orbitmesh.orchestrator.actor import ORCHESTRATOR_NAME, ORCHESTRATOR_NAMESPACE
    from orbitmesh.orchestrator.faults import FaultError

    path = Path(args.endpoints) if args.endpoints else default_endpoints_path()
    try:
        endpoints = load_endpoints(path)
    except EndpointsError as exc:
        print(f"orbitmesh: {exc}", file=sys.stderr)
        return EXIT_USAGE
    address = endpoints.extra.get("ray_address")
    if not address:
        print(
            f"orbitmesh: {path}: no ray_address (written by `orbitmesh up` of this version)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    entry = fault_entry(args)
    ray.init(address=address, namespace=ORCHESTRATOR_NAMESPACE, log_to_driver=False)
    try:
        handle: Any = ray.get_actor(ORCHESTRATOR_NAME, namespace=ORCHESTRATOR_NAMESPACE)
        events: list[dict[str, Any]] = ray.get(handle.inject_fault.remote(entry), timeout=60.0)
    except RayTaskError as exc:
        if isinstance(exc.cause, FaultError):
            for problem in exc.cause.problems:
                print(problem, file=sys.stderr)
            return EXIT_USAGE
        raise
    except (ValueError, RayActorError):
        print(f"orbitmesh: no running orchestrator at {address}", file=sys.stderr)
        return 1
    finally:
        ray.shutdown()
    if args.json:
        print(json.dumps(events))
    for event in events:
        end = "for good" if event["end_s"] is None else f"until {event['end_s']:.1f} s"
        print(f"{event['label']}: from {event['start_s']:.1f} s {end} (simulated)")
    if not events:
        print("no fault falls within the rest of the run")
    return 0


def add_fault_command(sub: Any) -> None:
    from orbitmesh.ground.endpoints import DEFAULT_ENDPOINTS_FILE, ENDPOINTS_ENV

    p = sub.add_parser("fault", help="add a fault to a running emulation")
    p.add_argument("kind", choices=_KINDS, help="what fails (docs/faults.md)")
    p.add_argument(
        "targets",
        nargs="+",
        help="satellite ids, station names, or planes (<shell>-<plane>) for isl-down",
    )
    p.add_argument(
        "--endpoints",
        help=f"the endpoints file of the emulation (default: ${ENDPOINTS_ENV} or "
        f"./{DEFAULT_ENDPOINTS_FILE})",
    )
    p.add_argument(
        "--link", action="store_true", help="isl-down: the two targets are one laser link"
    )
    p.add_argument("--at", dest="at_s", type=float, help="simulated second it starts (default now)")
    p.add_argument("--duration", dest="duration_s", type=float, help="seconds it lasts")
    p.add_argument("--reset", choices=("warm", "cold"), help="reboot: what survives")
    p.add_argument("--rate-factor", type=float, help="weather: the fraction of rate left")
    p.add_argument("--loss-rate", type=float, help="weather: the packet loss added")
    p.add_argument("--json", action="store_true", help="print the events as JSON too")
    p.set_defaults(func=cmd_fault)
