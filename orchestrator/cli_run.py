"""``orbitmesh up``, ``down``, ``status`` and ``infer``: running an emulation."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orbitmesh.protos.serving import Security

__all__ = ["add_run_commands"]

EXIT_USAGE = 2


def _publish_line(cost: dict[str, float]) -> str:
    """Publication per tick of the last batch: geometry + hand-off to Ray, and size."""
    return f"{cost['compute_ms']:.1f} + {cost['send_ms']:.1f} ({cost['mb']:.1f} MB)"


def _scenario_ref(text: str) -> str:
    """A scenario path made absolute (the orchestrator runs in another process)."""
    path = Path(text).expanduser()
    return str(path.resolve()) if path.is_file() else text


def _endpoints_path(args: argparse.Namespace) -> Path:
    from orbitmesh.ground.endpoints import default_endpoints_path

    return Path(args.endpoints) if args.endpoints else default_endpoints_path()


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"not a port number (0 to 65535): {text!r}")
    return port


def _per_host(text: str) -> int | None:
    from orbitmesh.orchestrator.placement import parse_per_host

    try:
        return parse_per_host(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_placement_options(p: Any) -> None:
    """``--satellites-per-host`` and ``--stations-per-host`` (see docs/performance.md)."""
    p.add_argument(
        "--satellites-per-host",
        type=_per_host,
        metavar="N|auto",
        help="compute satellites per host process (default: the scenario's [placement], "
        "auto: a few hosts per CPU; 1: a process per satellite)",
    )
    p.add_argument(
        "--stations-per-host",
        type=_per_host,
        metavar="N|auto",
        help="ground-station gateways per host process (default: the scenario's, auto)",
    )


def add_metrics_option(p: Any) -> None:
    p.add_argument(
        "--metrics-port",
        type=_port,
        metavar="PORT",
        help="serve Prometheus metrics on http://HOST:PORT/metrics (0: any free port, printed)",
    )


#: The destinations of the options add_security_options adds.
SECURITY_DESTS = ("tls_cert", "tls_key", "tls_ca", "tls_client_ca", "token_file", "insecure")


def add_security_options(p: Any) -> None:
    """TLS and the bearer token of every server (docs/security.md)."""
    p.add_argument(
        "--tls-cert",
        metavar="FILE",
        help="certificate (PEM, with its chain) every server presents; needed with a --host "
        "other than loopback unless --insecure",
    )
    p.add_argument("--tls-key", metavar="FILE", help="the certificate's private key (PEM)")
    p.add_argument(
        "--tls-ca", metavar="FILE", help="CA certificates clients trust (default: --tls-cert)"
    )
    p.add_argument(
        "--tls-client-ca",
        metavar="FILE",
        help="require client certificates signed by these CAs",
    )
    p.add_argument(
        "--token-file",
        metavar="FILE",
        help="the bearer token every call must carry (default: a new one, written 0600 "
        "beside the endpoints file)",
    )
    p.add_argument(
        "--insecure",
        action="store_true",
        help="serve a --host other than loopback in plaintext, without a token",
    )


#: The option naming each file of a Security, for its one-line complaints.
_SECURITY_OPTIONS = {
    "cert_file": "--tls-cert",
    "key_file": "--tls-key",
    "ca_file": "--tls-ca",
    "client_ca_file": "--tls-client-ca",
}


def security_of(args: argparse.Namespace) -> Security | None:
    """The run's ``Security`` from the command line (None: plaintext); ValueError, one
    line naming the option, for what cannot run (docs/security.md)."""
    from orbitmesh.protos.serving import Security, is_loopback, new_token, read_token

    given = [
        option
        for option, value in (
            ("--tls-cert", args.tls_cert),
            ("--tls-key", args.tls_key),
            ("--tls-ca", args.tls_ca),
            ("--tls-client-ca", args.tls_client_ca),
            ("--token-file", args.token_file),
        )
        if value
    ]
    if args.insecure:
        if given:
            raise ValueError(f"--insecure: cannot go with {given[0]} (it serves plaintext)")
        return None
    if not args.tls_cert and not args.tls_key:
        if given:
            raise ValueError(f"{given[0]}: needs --tls-cert and --tls-key")
        if is_loopback(args.host):
            return None
        raise ValueError(
            f"--host {args.host}: serving beyond this machine needs --tls-cert and --tls-key "
            "(docs/security.md), or --insecure for plaintext without authentication"
        )
    if not (args.tls_cert and args.tls_key):
        raise ValueError(f"{'--tls-key' if args.tls_cert else '--tls-cert'}: missing")
    try:
        token = read_token(args.token_file) if args.token_file else new_token()
    except ValueError as exc:
        raise ValueError(f"--token-file: {exc}") from None

    def absolute(path: str | None) -> str | None:
        return None if path is None else str(Path(path).expanduser().resolve())

    security = Security(
        cert_file=str(absolute(args.tls_cert)),
        key_file=str(absolute(args.tls_key)),
        token=token,
        ca_file=absolute(args.tls_ca),
        client_ca_file=absolute(args.tls_client_ca),
    )
    security.check(_SECURITY_OPTIONS)
    return security


def endpoint_security(security: Security, token_file: Path) -> dict[str, str]:
    """The endpoints file's ``security``: what a client of the run needs, as files."""
    from orbitmesh.ground.endpoints import EndpointSecurity

    mutual = security.client_ca_file is not None
    return EndpointSecurity(
        ca_file=security.ca_file or security.cert_file,
        token_file=str(token_file),
        cert_file=security.cert_file if mutual else None,
        key_file=security.key_file if mutual else None,
    ).to_json()


class MetricsPortBusy(Exception):
    """``--metrics-port`` could not be bound (the message says why)."""


def start_metrics(port: int | None, host: str, security: Security | None = None) -> Any:
    """The metrics server for ``--metrics-port`` (None without one), bound before anything
    else starts so that a busy port costs no start-up; raises MetricsPortBusy.
    ``security``: the run's (HTTPS and its token)."""
    if port is None:
        return None
    from orbitmesh.orchestrator.metrics import serve_metrics

    try:
        metrics = serve_metrics(port=port, host=host, security=security)
    except OSError as exc:
        raise MetricsPortBusy(f"cannot serve metrics on {host}:{port}: {exc}") from None
    print(f"metrics on {metrics.url}", flush=True)
    return metrics


def check_startable(
    scenario: Any,
    *,
    address: str | None,
    speed: float | None = None,
    duration_s: float | None = None,
    satellites_per_host: int | None = None,
    stations_per_host: int | None = None,
) -> None:
    """Everything `up` could not run, before Ray starts (orchestrator/preflight.py):
    raises ScenarioError, one line per problem (the CLI exits 2)."""
    import math

    from orbitmesh.orchestrator.local_ray import ray_address
    from orbitmesh.orchestrator.preflight import preflight
    from orbitmesh.orchestrator.scenario import ScenarioError

    problems = preflight(
        scenario,
        command="up",
        speed=speed,
        duration_s=duration_s,
        satellites_per_host=satellites_per_host,
        stations_per_host=stations_per_host,
        # A cluster's memory is not this machine's.
        available_bytes=math.inf if ray_address(address) else None,
    )
    if problems:
        raise ScenarioError(problems)
    from orbitmesh.orchestrator.cli import warn_power

    warn_power(scenario)


def cmd_up(args: argparse.Namespace) -> int:
    from ray.exceptions import GetTimeoutError, RayActorError

    from orbitmesh.ground.endpoints import Endpoints, write_endpoints
    from orbitmesh.orchestrator.actor import EmulationFailed, Orchestrator, OrchestratorLost
    from orbitmesh.orchestrator.emulation import EmulationOptions
    from orbitmesh.orchestrator.live import collect_status, render_status
    from orbitmesh.orchestrator.local_ray import start_ray
    from orbitmesh.orchestrator.preflight import object_store_bytes
    from orbitmesh.orchestrator.scenario import load_scenario

    scenario = load_scenario(args.scenario)  # bad input stops here, before Ray starts
    try:
        security = security_of(args)
        options = EmulationOptions(
            speed=args.speed,
            duration_s=args.duration,
            host=args.host,
            record=Path(args.record).resolve() if args.record else None,
            replay=Path(args.replay).resolve() if args.replay else None,
            satellites_per_host=args.satellites_per_host,
            stations_per_host=args.stations_per_host,
            security=security,
        )
    except ValueError as exc:
        print(f"orbitmesh: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if options.replay is not None and not options.replay.is_file():
        print(f"orbitmesh: no such trace file: {options.replay}", file=sys.stderr)
        return EXIT_USAGE
    check_startable(
        scenario,
        address=args.address,
        speed=options.speed,
        duration_s=options.duration_s,
        satellites_per_host=options.satellites_per_host,
        stations_per_host=options.stations_per_host,
    )
    endpoints_path = _endpoints_path(args)
    if endpoints_path.exists():
        print(
            f"orbitmesh: {endpoints_path} exists: is an emulation already running? "
            "(`orbitmesh down`, or remove the file)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        metrics = start_metrics(args.metrics_port, args.host, security)
    except MetricsPortBusy as exc:
        print(f"orbitmesh: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.insecure:
        print(
            f"orbitmesh: --insecure: servers on {args.host} are plaintext and answer anyone",
            file=sys.stderr,
        )
    # A token made for this run lives beside the endpoints file, readable by its owner only.
    made_token = security is not None and not args.token_file
    token_file = Path(args.token_file or endpoints_path.with_suffix(".token")).resolve()
    if security is not None and made_token:
        from orbitmesh.protos.serving import write_token

        write_token(token_file, security.token)
    print(
        f"starting {scenario.name} on "
        f"{'Ray at ' + args.address if args.address else 'local Ray'} ...",
        flush=True,
    )
    start_ray(args.address, object_store_bytes=object_store_bytes(scenario))
    started = time.monotonic()
    try:
        orchestrator = Orchestrator.launch(_scenario_ref(args.scenario), options)
    except EmulationFailed as exc:
        print(f"orbitmesh: the emulation did not start: {exc}", file=sys.stderr)
        if metrics is not None:
            metrics.close()
        import ray

        ray.shutdown()
        return 1
    doc = orchestrator.endpoints
    if metrics is not None:
        metrics.collector.watch(doc, orchestrator=orchestrator)
    extra: dict[str, Any] = {"metrics": metrics.url} if metrics is not None else {}
    if security is not None:
        extra["security"] = endpoint_security(security, token_file)
    credentials = None if security is None else security.credentials()
    up_started = datetime.now(UTC)

    def publish(doc: dict[str, Any]) -> None:
        write_endpoints(
            endpoints_path,
            replace(Endpoints.from_json(doc | extra), pid=os.getpid(), started_utc=up_started),
        )

    publish(doc)
    print(
        f"{len(doc['satellites'])} satellites and {len(doc['ground_stations'])} ground "
        + (
            f"stations and {len(doc['terminals']):,} terminals"
            if doc.get("terminals")
            else "stations"
        )
        + f" serving after {time.monotonic() - started:.1f} s; endpoints in {endpoints_path}",
        flush=True,
    )
    if doc.get("placement"):
        from orbitmesh.orchestrator.placement import describe_placement

        print(f"placement: {describe_placement(doc['placement'])}", flush=True)
    stop = {"now": False}

    def request_stop(signum: int, frame: Any) -> None:
        stop["now"] = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    tty = sys.stdout.isatty() and not args.quiet
    last_line = 0.0
    exit_code = 0
    try:
        while not stop["now"]:
            time.sleep(1.0)
            try:
                if orchestrator.supervise():
                    print(
                        "the orchestrator died; a new one took the running hosts over",
                        flush=True,
                    )
                if orchestrator.finished():
                    break
                current = orchestrator.current_endpoints()
            except OrchestratorLost as exc:
                print(f"orbitmesh: {exc}", file=sys.stderr, flush=True)
                exit_code = 1
                break
            except (RayActorError, GetTimeoutError):
                continue  # died meanwhile: the next round replaces it
            if _addresses(current) != _addresses(doc):
                # A host restarted where its old ports were taken: readers follow the file.
                doc = current
                publish(doc)
            if args.quiet:
                continue
            now = time.monotonic()
            if tty or now - last_line >= 10.0:
                try:
                    status = orchestrator.status()
                except (RayActorError, GetTimeoutError):
                    continue
                table = render_status(
                    collect_status(current, credentials=credentials),
                    {
                        "published": status["ticks_published"],
                        "late": status["ticks_late"],
                        "publish ms/tick": _publish_line(status["publish_cost"]),
                        "restarts": sum(status["restarts"].values()),
                        "gateway restarts": sum(status["gateway_restarts"].values()),
                        "orchestrator restarts": orchestrator.replacements,
                        "faults active": len(status["faults"]["active"]),
                    },
                )
                print("\x1b[H\x1b[J" + table if tty else table + "\n", flush=True)
                last_line = now
    finally:
        print("stopping ...", flush=True)
        try:
            orchestrator.stop()
        except (RayActorError, GetTimeoutError) as exc:
            print(f"orbitmesh: the orchestrator did not stop cleanly: {exc}", file=sys.stderr)
            exit_code = exit_code or 1
        finally:
            if metrics is not None:
                metrics.close()
            endpoints_path.unlink(missing_ok=True)
            if made_token:
                token_file.unlink(missing_ok=True)
            import ray

            ray.shutdown()
    print("stopped", flush=True)
    return exit_code


def _addresses(doc: dict[str, Any]) -> tuple[Any, ...]:
    """What a reader of the endpoints file dials."""
    hosts = {h: info.get("address") for h, info in doc.get("hosts", {}).items()}
    return (doc["satellites"], doc["ground_stations"], hosts)


def cmd_down(args: argparse.Namespace) -> int:
    from orbitmesh.ground.endpoints import load_endpoints
    from orbitmesh.ground.errors import EndpointsError

    path = _endpoints_path(args)
    try:
        endpoints = load_endpoints(path)
    except EndpointsError as exc:
        print(f"orbitmesh: {exc}", file=sys.stderr)
        return EXIT_USAGE
    pid = endpoints.pid
    if pid is None or not _alive(pid):
        path.unlink(missing_ok=True)
        print(f"no running `orbitmesh up` (pid {pid}); removed the stale {path}")
        return 0
    os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + args.timeout
    while path.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    if path.exists():
        print(
            f"orbitmesh: `orbitmesh up` (pid {pid}) did not stop within {args.timeout:g} s",
            file=sys.stderr,
        )
        return 1
    print(f"stopped the emulation of {endpoints.scenario} (pid {pid})")
    return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def cmd_status(args: argparse.Namespace) -> int:
    from orbitmesh.ground.endpoints import load_endpoints
    from orbitmesh.ground.errors import EndpointsError
    from orbitmesh.orchestrator.live import collect_status, render_status

    try:
        endpoints = load_endpoints(_endpoints_path(args))
        credentials = endpoints.credentials()
    except EndpointsError as exc:
        print(f"orbitmesh: {exc}", file=sys.stderr)
        return EXIT_USAGE
    doc = {
        "scenario": endpoints.scenario,
        "speed": endpoints.speed,
        "ground_stations": dict(endpoints.ground_stations),
        "satellites": dict(endpoints.satellites),
        "hosts": endpoints.extra.get("hosts") or {},
    }
    while True:
        status = collect_status(doc, credentials=credentials)
        if args.json:
            print(json.dumps(status))
        else:
            prefix = "\x1b[H\x1b[J" if args.watch and sys.stdout.isatty() else ""
            print(prefix + render_status(status), flush=True)
        if not args.watch:
            return 0
        time.sleep(args.interval)


def cmd_infer(args: argparse.Namespace) -> int:
    import numpy as np

    from orbitmesh.ground.client import Client
    from orbitmesh.ground.errors import CallFailed, OrbitmeshError

    try:
        inputs = np.load(args.input, allow_pickle=False)
    except (OSError, ValueError) as exc:
        print(f"orbitmesh: cannot read {args.input}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        with Client.from_endpoints(args.endpoints) as client:
            result = client.infer(
                args.station,
                args.model,
                inputs,
                satellite=args.satellite,
                policy=args.policy,
                timeout_s=args.timeout,
            )
    except CallFailed as exc:
        print(f"orbitmesh: {exc}", file=sys.stderr)
        return 1
    except OrbitmeshError as exc:
        print(f"orbitmesh: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        doc = {
            "satellite": result.satellite,
            "hops": list(result.hops),
            "latency_ms": result.latency_ms,
            "uplink_ms": result.uplink_ms,
            "downlink_ms": result.downlink_ms,
            "queue_ms": result.queue_ms,
            "inference_ms": result.inference_ms,
            "energy_wh": result.energy_wh,
            "outputs": {k: _jsonable(v) for k, v in result.outputs.items()},
        }
        print(json.dumps(doc))
        return 0
    print(f"{args.model} via {args.station} -> {result.satellite} ({' -> '.join(result.hops)})")
    parts = (result.uplink_ms, result.queue_ms, result.inference_ms, result.downlink_ms)
    if all(p is not None for p in parts):
        up, queue, infer, down = (float(p) for p in parts if p is not None)
        print(
            f"simulated {up + queue + infer + down:.2f} ms = uplink {up:.2f} + queue {queue:.2f} "
            f"+ inference {infer:.2f} + downlink {down:.2f} ms; waited {result.latency_ms:.2f} ms "
            "of wall time"
        )
    for name, value in result.outputs.items():
        print(f"{name}: {np.array2string(np.asarray(value), threshold=20)}")
    return 0


def _jsonable(value: Any) -> Any:
    import numpy as np

    array = np.asarray(value)
    if array.dtype == object:
        return [x.decode() if isinstance(x, bytes) else x for x in array.ravel().tolist()]
    return array.tolist()


def add_run_commands(sub: Any, scenario_help: str) -> None:
    from orbitmesh.ground.endpoints import DEFAULT_ENDPOINTS_FILE, ENDPOINTS_ENV

    where = f"default: ${ENDPOINTS_ENV} or ./{DEFAULT_ENDPOINTS_FILE}"
    p = sub.add_parser("up", help="start an emulation and show its live status until Ctrl-C")
    p.add_argument("scenario", help=scenario_help)
    p.add_argument(
        "--address",
        help="join this Ray cluster (default: $RAY_ADDRESS if set, else start Ray on this machine)",
    )
    p.add_argument(
        "--speed", type=float, help="simulated seconds per wall second (default: the scenario's)"
    )
    p.add_argument("--duration", type=float, help="stop after this many simulated seconds")
    p.add_argument("--endpoints", help=f"where to write the endpoints file ({where})")
    p.add_argument("--host", default="127.0.0.1", help="address servers bind (default loopback)")
    add_security_options(p)
    p.add_argument("--record", help="record the tick stream to this .npz file")
    p.add_argument("--replay", help="replay a recorded tick stream instead of computing geometry")
    p.add_argument("--quiet", action="store_true", help="no live table")
    add_placement_options(p)
    add_metrics_option(p)
    p.set_defaults(func=cmd_up)

    p = sub.add_parser("down", help="stop the emulation started by `orbitmesh up`")
    p.add_argument("--endpoints", help=f"the endpoints file of the emulation ({where})")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for it to stop")
    p.set_defaults(func=cmd_down)

    p = sub.add_parser("status", help="the live table of a running emulation")
    p.add_argument("--endpoints", help=f"the endpoints file of the emulation ({where})")
    p.add_argument("--watch", action="store_true", help="refresh until Ctrl-C")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between refreshes")
    p.add_argument("--json", action="store_true", help="print the raw status document")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("infer", help="one inference through a ground station")
    p.add_argument("--station", required=True, help="the ground station to send it through")
    p.add_argument("--model", required=True, help="model (or app) name")
    p.add_argument("--input", required=True, help=".npy file with the model's input")
    p.add_argument("--satellite", help="pin the compute satellite")
    p.add_argument(
        "--policy",
        choices=("fastest", "nearest", "least-loaded", "power-aware"),
        help="how the station picks the satellite (default fastest)",
    )
    p.add_argument("--timeout", type=float, default=60.0, help="deadline in wall seconds")
    p.add_argument("--endpoints", help=f"the endpoints file of the emulation ({where})")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(func=cmd_infer)
