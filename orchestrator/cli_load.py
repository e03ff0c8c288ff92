"""``orbitmesh load`` and ``orbitmesh demo``: load tests against an emulation."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orbitmesh.orchestrator.cli_run import (
    SECURITY_DESTS,
    MetricsPortBusy,
    _scenario_ref,
    add_metrics_option,
    add_placement_options,
    add_security_options,
    check_startable,
    endpoint_security,
    security_of,
    start_metrics,
)

if TYPE_CHECKING:
    from orbitmesh.ground.load.loadstats import Thresholds
    from orbitmesh.ground.load.loadtest import LoadTestResult
    from orbitmesh.protos.serving import Security

__all__ = ["add_load_commands"]

EXIT_USAGE = 2


@contextmanager
def _emulation(
    scenario: str,
    speed: float | None,
    address: str | None,
    host: str,
    metrics: Any = None,
    per_host: tuple[int | None, int | None] = (None, None),
    security: Security | None = None,
    token_file: Path | None = None,
) -> Iterator[Any]:
    """Bring a scenario up on Ray for the length of a load test, then tear it down;
    ``metrics`` (a metrics server) starts watching it once it serves; ``security``: TLS
    and the token of its servers (the token also in ``token_file``, for its clients)."""
    import ray

    from orbitmesh.ground.endpoints import Endpoints
    from orbitmesh.orchestrator.actor import Orchestrator
    from orbitmesh.orchestrator.emulation import EmulationOptions
    from orbitmesh.orchestrator.local_ray import start_ray

    satellites_per_host, stations_per_host = per_host
    options = EmulationOptions(  # bad values stop here
        speed=speed,
        host=host,
        satellites_per_host=satellites_per_host,
        stations_per_host=stations_per_host,
        security=security,
    )
    print(f"starting {scenario} on {'Ray at ' + address if address else 'local Ray'} ...")
    from orbitmesh.orchestrator.preflight import object_store_bytes
    from orbitmesh.orchestrator.scenario import load_scenario

    start_ray(address, object_store_bytes=object_store_bytes(load_scenario(scenario)))
    orchestrator = None
    try:
        orchestrator = Orchestrator.launch(_scenario_ref(scenario), options, name=None)
        doc = orchestrator.endpoints
        if metrics is not None:
            metrics.collector.watch(doc, orchestrator=orchestrator)
        print(
            f"{len(doc['satellites'])} satellites and {len(doc['ground_stations'])} ground "
            f"stations serving at speed {doc['speed']:g}x",
            flush=True,
        )
        if security is not None and token_file is not None:
            doc = doc | {"security": endpoint_security(security, token_file)}
        yield Endpoints.from_json(doc)
    finally:
        print("stopping the emulation ...", flush=True)
        try:
            if orchestrator is not None:
                orchestrator.stop()
        except ray.exceptions.RayError as exc:
            # Already gone (the load test says so itself): nothing left to stop.
            print(f"orbitmesh: the emulation was not there to stop: {exc}", file=sys.stderr)
        finally:
            ray.shutdown()


def _names(names: list[str], shown: int = 8) -> str:
    """Names for one line: the first few and how many more (a thousand phones)."""
    if len(names) <= shown:
        return ", ".join(names)
    return ", ".join(names[:shown]) + f" and {len(names) - shown:,} more"


def _options(args: argparse.Namespace, stations: list[str]) -> Any:
    from orbitmesh.ground.load.loadgen import LoadOptions
    from orbitmesh.ground.load.schedule import ScheduleKind

    rps = args.rps
    if rps is None and args.concurrency is None:
        rps = 10.0
    return LoadOptions(
        model=args.model,
        stations=stations,
        rps=rps,
        concurrency=args.concurrency,
        duration_s=args.duration,
        warmup_s=args.warmup,
        schedule=ScheduleKind(args.schedule),
        steps=args.steps,
        start_rps=args.rps_start,
        policy=args.policy,
        satellite=args.satellite,
        timeout_s=args.timeout,
        max_in_flight=args.max_in_flight,
        seed=args.seed,
    )


def _thresholds(args: argparse.Namespace) -> Thresholds:
    """The run's thresholds; ValueError naming the option when one is out of range."""
    from orbitmesh.ground.load.loadstats import Thresholds

    return Thresholds(max_error_rate=args.max_error_rate, max_p99_ms=args.max_p99_ms)


def _out_dir(args: argparse.Namespace, prefix: str) -> Path:
    if args.out:
        return Path(args.out)
    return Path(f"{prefix}-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}")


def _run(
    args: argparse.Namespace,
    endpoints: Any,
    out_dir: Path,
    meta: dict[str, Any],
    on_result: Callable[[LoadTestResult], None] | None = None,
    endpoints_path: Path | None = None,
) -> int:
    """Run the load and print its summary. Exit status 1 when the run does not pass:
    the emulation died, a threshold failed, or the accounting does not reconcile."""
    from orbitmesh.ground.errors import OrbitmeshError
    from orbitmesh.ground.load.loadtest import ProgressPrinter, format_summary, run_load_test

    if args.stations:
        stations = args.stations.split(",")
    elif args.terminals:
        stations = list(endpoints.terminals)
        if not stations:
            print("orbitmesh: --terminals: the emulation has no terminals", file=sys.stderr)
            return EXIT_USAGE
    else:
        stations = list(endpoints.ground_stations)
    try:
        options = _options(args, [s.strip() for s in stations if s.strip()])
        thresholds = _thresholds(args)
    except ValueError as exc:
        print(f"orbitmesh: {exc}", file=sys.stderr)
        return EXIT_USAGE
    mode = (
        f"{options.rps:g} rps {options.schedule}"
        if options.open_loop
        else f"{options.concurrency} callers (closed loop)"
    )
    print(
        f"load: {options.model} through {_names(options.stations)}, {mode}, "
        f"{options.duration_s:g} s after {options.warmup_s:g} s warm-up",
        flush=True,
    )
    printer = ProgressPrinter(options)
    try:
        result = run_load_test(
            endpoints,
            options,
            out_dir,
            input_path=args.input,
            on_progress=printer,
            observe=not args.no_observe,
            meta=meta,
            thresholds=thresholds,
            endpoints_path=endpoints_path,
        )
    except OrbitmeshError as exc:
        printer.finish()
        print(f"orbitmesh: {exc}", file=sys.stderr)
        return EXIT_USAGE
    printer.finish()
    print(format_summary(result.summary, result.files), flush=True)
    om = result.summary["orbitmesh"]
    if (died := om["emulation_died"]) is not None:
        print(
            f"orbitmesh: the emulation died: {died['reason']}; the run stopped early, "
            f"{died['detected_s']:.1f} s in",
            file=sys.stderr,
        )
    for failed in om["thresholds"]["failed"]:
        print(f"orbitmesh: threshold failed: {failed['reason']}", file=sys.stderr)
    if not result.reconciles:  # a bug of ours: say so loudly
        print("orbitmesh: the accounting does not reconcile", file=sys.stderr)
    if on_result is not None and result.reconciles and not result.emulation_died:
        on_result(result)
    return 0 if result.ok else 1


def _check_options(args: argparse.Namespace) -> bool:
    """Bad load options stop the command before anything is started."""
    try:
        _options(args, args.stations.split(",") if args.stations else ["-"])
        _thresholds(args)
    except ValueError as exc:
        print(f"orbitmesh: {exc}", file=sys.stderr)
        return False
    return True


def cmd_load(args: argparse.Namespace) -> int:
    from orbitmesh.ground.endpoints import EndpointsError, load_endpoints
    from orbitmesh.orchestrator.scenario import load_scenario

    if not _check_options(args):
        return EXIT_USAGE
    target = Path(args.target)
    endpoints = None
    if target.suffix == ".json" or (target.is_file() and target.suffix != ".toml"):
        try:
            endpoints = load_endpoints(target)
        except EndpointsError as exc:
            print(f"orbitmesh: {exc}", file=sys.stderr)
            return EXIT_USAGE
    security = None
    if endpoints is None:
        # Bad input stops here, before Ray starts.
        check_startable(load_scenario(args.target), address=args.address, speed=args.speed)
        try:
            security = security_of(args)
        except ValueError as exc:
            print(f"orbitmesh: {exc}", file=sys.stderr)
            return EXIT_USAGE
    elif any(getattr(args, option) for option in SECURITY_DESTS):
        print(
            "orbitmesh: --tls-*, --token-file, --insecure: only with a scenario (a running "
            "emulation's endpoints file says how to reach it)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    out_dir = _out_dir(args, "orbitmesh-load")
    token_file = None
    if security is not None:
        # A token made for this run lives in its output folder, its owner's only.
        token_file = Path(args.token_file or out_dir / "orbitmesh.token").resolve()
        if not args.token_file:
            from orbitmesh.protos.serving import write_token

            out_dir.mkdir(parents=True, exist_ok=True)
            write_token(token_file, security.token)
    try:
        with _metrics(args, security) as metrics:
            if endpoints is not None:
                if metrics is not None:
                    metrics.collector.watch(endpoints)
                return _run(args, endpoints, out_dir, {}, endpoints_path=target)
            return _with_emulation(
                args, args.target, out_dir, {}, metrics, security=security, token_file=token_file
            )
    except MetricsPortBusy as exc:
        print(f"orbitmesh: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        if security is not None and not args.token_file and token_file is not None:
            token_file.unlink(missing_ok=True)


def cmd_demo(args: argparse.Namespace) -> int:
    """The demo scenario under a short load that crosses handovers and eclipses (its
    fixed load options are the parser's defaults, see add_load_commands)."""
    out_dir = _out_dir(args, "orbitmesh-demo")
    if not _check_options(args):
        return EXIT_USAGE
    try:
        with _metrics(args) as metrics:
            return _with_emulation(args, "demo", out_dir, {"demo": True}, metrics, _crossings)
    except MetricsPortBusy as exc:
        print(f"orbitmesh: {exc}", file=sys.stderr)
        return EXIT_USAGE


@contextmanager
def _metrics(args: argparse.Namespace, security: Security | None = None) -> Iterator[Any]:
    """The ``--metrics-port`` server for the command's length (None without the option);
    raises MetricsPortBusy before anything starts when the port cannot be bound."""
    metrics = start_metrics(args.metrics_port, getattr(args, "host", "127.0.0.1"), security)
    try:
        yield metrics
    finally:
        if metrics is not None:
            metrics.close()


def _with_emulation(
    args: argparse.Namespace,
    scenario: str,
    out_dir: Path,
    meta: dict[str, Any],
    metrics: Any,
    on_result: Callable[[LoadTestResult], None] | None = None,
    *,
    security: Security | None = None,
    token_file: Path | None = None,
) -> int:
    from orbitmesh.ground.errors import OrbitmeshError
    from orbitmesh.orchestrator.actor import EmulationFailed

    try:
        per_host = (
            getattr(args, "satellites_per_host", None),
            getattr(args, "stations_per_host", None),
        )
        with _emulation(
            scenario,
            args.speed,
            args.address,
            getattr(args, "host", "127.0.0.1"),
            metrics,
            per_host,
            security,
            token_file,
        ) as endpoints:
            return _run(args, endpoints, out_dir, meta, on_result)
    except (ValueError, OrbitmeshError) as exc:
        print(f"orbitmesh: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except EmulationFailed as exc:
        print(f"orbitmesh: the emulation did not start: {exc}", file=sys.stderr)
        return 1


def _crossings(result: LoadTestResult) -> None:
    """Say which orbital events the demo's load went through."""
    summary = result.summary["orbitmesh"]
    begin_s = result.run.measured_from_s
    end_s = begin_s + result.run.options.duration_s
    eclipse_in = eclipse_out = 0
    for samples in result.observations.satellites.values():
        during = [s.sunlit for s in samples if begin_s <= s.at_s <= end_s]
        for before, after in pairwise(during):
            eclipse_in += before and not after
            eclipse_out += after and not before
    print(
        f"During the measured load: {summary['handovers'] or 0} handover(s) at the stations, "
        f"{eclipse_in} eclipse entr{'y' if eclipse_in == 1 else 'ies'} and {eclipse_out} "
        f"exit(s) among the compute satellites."
    )
    print(f"Open {result.files['report']} in a browser for the plots.")


def add_load_commands(sub: Any, scenario_help: str) -> None:
    p = sub.add_parser(
        "load", help="load-test an emulation (a running one, or one brought up for the run)"
    )
    p.add_argument(
        "target",
        metavar="SCENARIO_OR_ENDPOINTS",
        help=f"an endpoints file of a running emulation, or a {scenario_help}",
    )
    p.add_argument("--model", required=True, help="model (or app) to call")
    rate = p.add_mutually_exclusive_group()
    rate.add_argument("--rps", type=float, help="open loop: requests per second (default 10)")
    rate.add_argument("--concurrency", type=int, help="closed loop: this many callers back to back")
    p.add_argument(
        "--schedule",
        choices=("const", "step", "ramp", "poisson"),
        default="const",
        help="open loop: how the rate runs over the duration (default const)",
    )
    p.add_argument("--steps", type=int, default=5, help="plateaus of --schedule step")
    p.add_argument("--rps-start", type=float, help="--schedule ramp: the starting rate (rps / 10)")
    p.add_argument("--stations", help="comma-separated ground stations to send through (all)")
    p.add_argument(
        "--terminals",
        action="store_true",
        help="send through the scenario's direct-to-device terminals instead of its stations",
    )
    p.add_argument(
        "--policy",
        choices=("fastest", "nearest", "least-loaded", "power-aware"),
        help="how stations pick satellites (default fastest)",
    )
    p.add_argument("--satellite", help="pin every request to this satellite")
    p.add_argument("--input", default="random", help="FILE.npy, or random (shaped by the model)")
    p.add_argument("--timeout", type=float, default=30.0, help="deadline per request (s)")
    p.add_argument(
        "--max-in-flight",
        type=int,
        default=10_000,
        help="open loop: outstanding requests at most (later sends wait)",
    )
    p.add_argument("--seed", type=int, help="seed for random inputs and poisson arrivals")
    p.add_argument(
        "--no-observe",
        action="store_true",
        help="do not poll satellites and contacts during the run",
    )
    p.add_argument(
        "--address",
        help="with a scenario: join this Ray cluster (default: $RAY_ADDRESS, else local Ray)",
    )
    p.add_argument("--host", default="127.0.0.1", help="with a scenario: address servers bind")
    add_security_options(p)
    add_placement_options(p)
    _add_run_options(p, duration_s=30.0, speed=None)
    add_metrics_option(p)
    p.set_defaults(func=cmd_load)

    p = sub.add_parser(
        "demo", help="the demo constellation under a short load test, with an HTML report"
    )
    p.add_argument("--rps", type=float, default=20.0, help="requests per second (default 20)")
    _add_run_options(p, duration_s=60.0, speed=60.0)
    add_metrics_option(p)
    # What `load` would take as options, fixed for the demo.
    p.set_defaults(
        func=cmd_demo,
        model="digits",
        concurrency=None,
        schedule="const",
        steps=5,
        rps_start=None,
        policy=None,
        satellite=None,
        stations=None,
        terminals=False,
        input="random",
        timeout=30.0,
        max_in_flight=10_000,
        seed=1,
        no_observe=False,
        address=None,
        host="127.0.0.1",
    )


def _add_run_options(p: Any, *, duration_s: float, speed: float | None) -> None:
    p.add_argument(
        "--duration",
        type=float,
        default=duration_s,
        help=f"seconds of measured load, wall clock (default {duration_s:g})",
    )
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of load before measuring")
    p.add_argument(
        "--speed",
        type=float,
        default=speed,
        help="simulated seconds per wall second for an emulation brought up here "
        + ("(default the scenario's)" if speed is None else f"(default {speed:g})"),
    )
    p.add_argument("--out", help="folder for summary.json, timeseries.csv, report.html")
    p.add_argument(
        "--max-error-rate",
        type=float,
        metavar="FRACTION",
        help="exit 1 when more than this fraction of the finished requests failed (0 to 1)",
    )
    p.add_argument(
        "--max-p99-ms",
        type=float,
        metavar="MS",
        help="exit 1 when the p99 latency of successes (measured, ms) is above this",
    )
