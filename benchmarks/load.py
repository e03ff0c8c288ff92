"""The load generator's own limits, against a no-op target and the demo emulation.

    python benchmarks/load.py [--seconds 5] [--skip-emulation]

1. **No-op target**: a gRPC server in another process that answers every ModelInfer at
   once with a fixed reply (no inference, no link emulation). Against it:
   - the generator in open loop at rising rates: the highest rate it sustains, that is
     sends on schedule (completions >= 97% of the schedule, and 99% of requests leave
     within 10 ms of their intended instant), with its own CPU use and the latency seen;
   - the generator in closed loop (64 callers) and a plain grpc.aio loop (64 callers,
     raw bytes, nothing recorded) on the same target in the same run, alternated twice
     (the better of each is kept): requests per second and CPU ms per request.
2. **Demo emulation** (speed 1, local Ray): the generator in open loop at rising rates
   through all six ground stations; here the emulation is the limit, so a rate counts as
   kept up while it is also met without overload failures and the p99 latency stays
   within twice its value at the lowest rate (queueing shows as growth).

CPU use is the generator process's own (user + system, all threads) over the run. The
machine has two cores, shared with the target: the figures are what this machine gives,
not what the generator would do alone. The last line is one JSON object.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This folder holds a node.py of its own: keep it off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import time  # noqa: E402
from collections.abc import Mapping  # noqa: E402
from typing import Any  # noqa: E402

import grpc  # noqa: E402
import numpy as np  # noqa: E402

from orbitmesh.ground.load.loadgen import LoadOptions, build_request, run_load  # noqa: E402
from orbitmesh.ground.load.loadstats import account  # noqa: E402
from orbitmesh.protos.inference import grpc_service_pb2 as pb  # noqa: E402

METHOD = "/inference.GRPCInferenceService/ModelInfer"
RATES_NOOP = (500, 1000, 2000, 3000, 4000, 5000, 6000)
RATES_EMULATION = (50, 100, 200, 400, 800)


# ------------------------------------------------------------------ the no-op target


def _noop_reply() -> bytes:
    reply = pb.ModelInferResponse(model_name="digits", id="")
    reply.outputs.add(name="label", datatype="INT64", shape=[1])
    reply.raw_output_contents.append(np.zeros(1, dtype=np.int64).tobytes())
    for key, value in (("orbitmesh.uplink_ms", 0.0), ("orbitmesh.downlink_ms", 0.0)):
        reply.parameters[key].double_param = value
    reply.parameters["orbitmesh.satellite"].string_param = "noop"
    return bytes(reply.SerializeToString())


def _serve_noop(port_out: Any) -> None:
    async def serve() -> None:
        reply = _noop_reply()

        async def infer(request: bytes, context: Any) -> bytes:
            return reply

        handler = grpc.method_handlers_generic_handler(
            "inference.GRPCInferenceService",
            {
                "ModelInfer": grpc.unary_unary_rpc_method_handler(
                    infer, request_deserializer=None, response_serializer=None
                )
            },
        )
        server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
        server.add_generic_rpc_handlers((handler,))
        port_out.value = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        await server.wait_for_termination()

    asyncio.run(serve())


# ------------------------------------------------------------------ measuring


def _cpu_s() -> float:
    return time.process_time()


def open_loop(
    addresses: Mapping[str, str], payload: bytes, rps: float, seconds: float
) -> dict[str, Any]:
    options = LoadOptions(
        "digits", list(addresses), rps=rps, duration_s=seconds, timeout_s=10.0, drain_s=5.0
    )
    cpu0, wall0 = _cpu_s(), time.perf_counter()
    run = asyncio.run(run_load(options, addresses, dict.fromkeys(addresses, payload)))
    cpu, wall = _cpu_s() - cpu0, time.perf_counter() - wall0
    ok = [r for r in run.records if r.outcome == "ok"]
    finished = [r for r in run.records if r.outcome != "cancelled"]
    latencies_ms = np.asarray([r.latency_s * 1e3 for r in ok]) if ok else np.zeros(1)
    lag_ms = np.asarray([(r.sent_s - r.intended_s) * 1e3 for r in run.records] or [0.0])
    span_s = (
        max(r.done_s for r in finished) - min(r.intended_s for r in finished)
        if len(finished) > 1
        else 1.0
    )
    acc = account(run.records, run.issued)
    return {
        "target_rps": rps,
        "achieved_rps": len(finished) / span_s,
        "ok": len(ok),
        "failed": dict(acc.failed) | ({"cancelled": acc.cancelled} if acc.cancelled else {}),
        "p50_ms": float(np.percentile(latencies_ms, 50)),
        "p99_ms": float(np.percentile(latencies_ms, 99)),
        "send_lag_p99_ms": float(np.percentile(lag_ms, 99)),
        "cpu_share": cpu / wall,
        "cpu_ms_per_request": 1e3 * cpu / max(1, run.issued),
        "reconciles": acc.reconciles,
    }


def closed_loop_generator(
    address: str, payload: bytes, callers: int, seconds: float
) -> dict[str, Any]:
    options = LoadOptions(
        "digits", ["noop"], concurrency=callers, duration_s=seconds, timeout_s=10.0
    )
    cpu0, wall0 = _cpu_s(), time.perf_counter()
    run = asyncio.run(run_load(options, {"noop": address}, {"noop": payload}))
    cpu, wall = _cpu_s() - cpu0, time.perf_counter() - wall0
    n = sum(r.outcome == "ok" for r in run.records)
    return {
        "rps": n / seconds,
        "cpu_share": cpu / wall,
        "cpu_ms_per_request": 1e3 * cpu / max(n, 1),
    }


def closed_loop_plain(address: str, payload: bytes, callers: int, seconds: float) -> dict[str, Any]:
    """The baseline: grpc.aio with raw bytes, nothing recorded beyond a count."""

    async def go() -> int:
        done = 0
        stop = time.perf_counter() + seconds
        async with grpc.aio.insecure_channel(address) as channel:
            call = channel.unary_unary(METHOD, request_serializer=None, response_deserializer=None)

            async def caller() -> None:
                nonlocal done
                while time.perf_counter() < stop:
                    await call(payload, timeout=10.0)
                    done += 1

            await asyncio.gather(*(caller() for _ in range(callers)))
        return done

    cpu0, wall0 = _cpu_s(), time.perf_counter()
    n = asyncio.run(go())
    cpu, wall = _cpu_s() - cpu0, time.perf_counter() - wall0
    return {
        "rps": n / seconds,
        "cpu_share": cpu / wall,
        "cpu_ms_per_request": 1e3 * cpu / max(n, 1),
    }


#: Failures that say the target fell behind (the orbit's own outages do not); so does
#: any failure gRPC itself answered (``grpc-*``: no orbitmesh cause).
OVERLOAD = frozenset({"queue", "deadline", "too-many-calls", "internal"})


def overloaded(failed: Mapping[str, Any]) -> bool:
    return bool(OVERLOAD & set(failed)) or any(c.startswith("grpc-") for c in failed)


#: A generator that keeps its schedule sends 99% of requests within this of their instant.
SEND_LAG_LIMIT_MS = 10.0


def keeps_up(result: Mapping[str, Any], p99_limit_ms: float | None) -> bool:
    """Sent on schedule and met, no sign of overload, and (with a limit) the tail
    latency within it."""
    return bool(
        result["achieved_rps"] >= 0.97 * result["target_rps"]
        and result["send_lag_p99_ms"] < SEND_LAG_LIMIT_MS
        and (p99_limit_ms is None or result["p99_ms"] < p99_limit_ms)
        and not overloaded(result["failed"])
    )


def _line(label: str, r: Mapping[str, Any], ok: bool) -> str:
    failed = ", ".join(f"{k} {v}" for k, v in sorted(r["failed"].items())) or "none"
    return (
        f"  {label}: {r['target_rps']:>6,.0f} rps asked -> {r['achieved_rps']:>7,.0f} achieved, "
        f"p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, send lag p99 "
        f"{r['send_lag_p99_ms']:.2f} ms, failed: {failed}; "
        f"generator CPU {r['cpu_share']:.0%} ({r['cpu_ms_per_request']:.3f} ms/request)"
        f"{'' if ok else '  <- falls behind'}"
    )


def sweep(
    label: str,
    addresses: Mapping[str, str],
    payload: bytes,
    rates: tuple[int, ...],
    seconds: float,
    *,
    latency_limited: bool,
) -> tuple[float, dict[str, Any] | None]:
    """Rising rates until the generator (or, when latency-limited, the target) falls
    behind; the tail may grow to twice its value at the lowest rate."""
    best: dict[str, Any] | None = None
    limit_ms: float | None = None
    for rps in rates:
        result = open_loop(addresses, payload, rps, seconds)
        if latency_limited and limit_ms is None:
            limit_ms = 2.0 * result["p99_ms"]
        ok = keeps_up(result, limit_ms)
        print(_line(label, result, ok), flush=True)
        if not result["reconciles"]:
            raise SystemExit("accounting does not reconcile: a bug")
        if not ok:
            break
        best = result
        time.sleep(1.0)
    return (best["target_rps"] if best else 0.0), best


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each step")
    parser.add_argument("--callers", type=int, default=64, help="closed-loop callers")
    parser.add_argument("--skip-emulation", action="store_true")
    args = parser.parse_args()
    x = np.random.default_rng(0).uniform(0, 16, size=(1, 64)).astype(np.float32)
    payload = build_request("digits", {"input": x}, {"input": "FP32"})
    figures: dict[str, Any] = {}

    ctx = multiprocessing.get_context("spawn")
    port = ctx.Value("i", 0)
    server = ctx.Process(target=_serve_noop, args=(port,), daemon=True)
    server.start()
    try:
        while port.value == 0:
            time.sleep(0.05)
        address = f"127.0.0.1:{port.value}"
        print(f"no-op target at {address}")
        best, best_result = sweep(
            "open loop",
            {"noop": address},
            payload,
            RATES_NOOP,
            args.seconds,
            latency_limited=False,
        )
        gens, plains = [], []
        for _ in range(2):
            gens.append(closed_loop_generator(address, payload, args.callers, args.seconds))
            time.sleep(1.0)
            plains.append(closed_loop_plain(address, payload, args.callers, args.seconds))
            time.sleep(1.0)
        gen = max(gens, key=lambda r: r["rps"])
        plain = max(plains, key=lambda r: r["rps"])
        print(
            f"  closed loop, {args.callers} callers: generator {gen['rps']:,.0f} rps "
            f"({gen['cpu_ms_per_request']:.3f} CPU ms/request, CPU {gen['cpu_share']:.0%}); "
            f"plain grpc.aio loop {plain['rps']:,.0f} rps ({plain['cpu_ms_per_request']:.3f} "
            f"CPU ms/request, CPU {plain['cpu_share']:.0%}): generator = "
            f"{gen['rps'] / plain['rps']:.0%} of plain"
        )
        figures |= {
            "noop_open_loop_max_rps": best,
            "noop_open_loop_cpu_share": best_result["cpu_share"] if best_result else None,
            "noop_open_loop_p99_ms_at_max": best_result["p99_ms"] if best_result else None,
            "noop_closed_generator_rps": gen["rps"],
            "noop_closed_generator_cpu_ms_per_request": gen["cpu_ms_per_request"],
            "noop_closed_plain_rps": plain["rps"],
            "noop_closed_plain_cpu_ms_per_request": plain["cpu_ms_per_request"],
            "generator_to_plain_ratio": gen["rps"] / plain["rps"],
        }
    finally:
        server.kill()

    if not args.skip_emulation:
        import ray

        from orbitmesh.orchestrator.actor import Orchestrator
        from orbitmesh.orchestrator.emulation import EmulationOptions
        from orbitmesh.orchestrator.local_ray import start_ray

        start_ray(num_cpus=2)
        orchestrator = Orchestrator.launch("demo", EmulationOptions(duration_s=3600), name=None)
        try:
            stations = orchestrator.endpoints["ground_stations"]
            print(f"demo emulation: {len(stations)} ground stations, speed 1")
            best, best_result = sweep(
                "demo", stations, payload, RATES_EMULATION, args.seconds, latency_limited=True
            )
            figures |= {
                "demo_open_loop_max_rps": best,
                "demo_open_loop_cpu_share": best_result["cpu_share"] if best_result else None,
                "demo_p50_ms_at_max": best_result["p50_ms"] if best_result else None,
            }
        finally:
            orchestrator.stop()
            ray.shutdown()
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
