"""The running emulation: gateway throughput and emulation error.

    python benchmarks/runtime.py [--seconds 10] [--requests 400]

Brings up the demo constellation on local Ray (speed 1; satellite queues deepened so
that throughput, not the queue limit, is measured), then:

- throughput: digits batch 1 in a closed loop straight to one satellite, and through a
  ground station pinned to the same satellite. Through the gateway every request waits
  out its emulated uplink and downlink (tens of milliseconds), so it runs with as many
  callers as it takes to keep the same satellite as busy; the figure compared is
  inferences per second;
- emulation error: one request at a time through a ground station; measured wall
  latency minus the modelled latency the gateway reports (uplink + downlink +
  satellite queue + inference, divided by the speed), p50 and p99;
- the machine's floor, measured while the emulation runs: an empty gRPC round trip
  between this process and a plain server process, back to back and after a pause as
  long as the modelled round trip (as every request through a gateway arrives), how late
  an idle process returns from a timed wait, and the CPU time the hypervisor took
  (steal). The emulation error cannot be smaller than what these leave: the client's own
  round trip to the gateway is one such call, and every emulated wait is one such timer.

The last line is one JSON object with the figures.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This folder holds a node.py of its own: keep it off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.append(str(Path(__file__).resolve().parents[1]))  # for benchmarks.machine

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import grpc  # noqa: E402
import numpy as np  # noqa: E402
import ray  # noqa: E402

from benchmarks.machine import CpuSteal, bare_grpc_round_trips_ms, timer_lateness_ms  # noqa: E402
from orbitmesh.ground.client import Client  # noqa: E402
from orbitmesh.orchestrator.actor import Orchestrator  # noqa: E402
from orbitmesh.orchestrator.emulation import EmulationOptions  # noqa: E402
from orbitmesh.orchestrator.local_ray import start_ray  # noqa: E402
from orbitmesh.protos.inference import grpc_service_pb2 as pb  # noqa: E402
from orbitmesh.protos.inference import grpc_service_pb2_grpc as pbg  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def request(x: np.ndarray, satellite: str | None) -> Any:
    req = pb.ModelInferRequest(
        model_name="digits",
        inputs=[
            pb.ModelInferRequest.InferInputTensor(
                name="input", datatype="FP32", shape=list(x.shape)
            )
        ],
        raw_input_contents=[x.tobytes()],
    )
    if satellite is not None:
        req.parameters["orbitmesh.satellite"].string_param = satellite
    return req


PARTS = ("uplink_ms", "queue_ms", "inference_ms", "downlink_ms")


async def closed_loop(
    address: str, req: Any, callers: int, seconds: float
) -> tuple[int, int, dict[str, float]]:
    """Completed and failed calls, and the mean of each reported latency part."""
    done = failed = 0
    sums = dict.fromkeys(PARTS, 0.0)
    stop = time.monotonic() + seconds
    async with grpc.aio.insecure_channel(address) as channel:
        stub = pbg.GRPCInferenceServiceStub(channel)

        async def caller() -> None:
            nonlocal done, failed
            while time.monotonic() < stop:
                try:
                    reply = await stub.ModelInfer(req, timeout=30)
                except grpc.aio.AioRpcError:
                    failed += 1
                    continue
                done += 1
                for part in PARTS:
                    sums[part] += reply.parameters[f"orbitmesh.{part}"].double_param

        await asyncio.gather(*(caller() for _ in range(callers)))
    return done, failed, {k: v / max(done, 1) for k, v in sums.items()}


def parts_line(means: dict[str, float]) -> str:
    return ", ".join(f"{k.removesuffix('_ms')} {v:.2f} ms" for k, v in means.items() if v)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each throughput run")
    parser.add_argument(
        "--requests", type=int, default=400, help="sequential requests for the error"
    )
    parser.add_argument("--direct-callers", type=int, default=8)
    parser.add_argument("--gateway-callers", type=int, default=256)
    args = parser.parse_args()

    scenario = Path(tempfile.mkdtemp(prefix="orbitmesh-bench-")) / "bench.toml"
    text = (REPO / "orchestrator" / "builtin" / "demo.toml").read_text()
    scenario.write_text(text + '\n[node]\nqueue_depth = 4096\nbuiltin_models = ["digits"]\n')
    steal = CpuSteal()
    start_ray(num_cpus=2)
    orchestrator = Orchestrator.launch(
        str(scenario),
        EmulationOptions(duration_s=3600, status_interval_s=1.0),
        name=None,
    )
    endpoints = orchestrator.endpoints
    x = np.random.default_rng(0).uniform(0, 16, size=(1, 64)).astype(np.float32)
    station = "frankfurt"
    figures: dict[str, Any] = {}
    try:
        with Client.connect(endpoints["ground_stations"]) as client:
            target = client.infer(station, "digits", x).satellite
            assert target is not None
            # Emulation error: sequential calls, measured wall latency vs the model.
            errors_ms, modelled_ms = [], []
            for _ in range(args.requests):
                result = client.infer(station, "digits", x, satellite=target)
                parts = (result.uplink_ms, result.downlink_ms, result.queue_ms, result.inference_ms)
                modelled = sum(float(p or 0.0) for p in parts) / endpoints["speed"]
                errors_ms.append(result.latency_ms - modelled)
                modelled_ms.append(modelled)
            floor_rtt = bare_grpc_round_trips_ms(args.requests)
            pause_s = float(np.median(modelled_ms)) / 1e3
            floor_idle_rtt = bare_grpc_round_trips_ms(args.requests // 2, idle_s=pause_s)
            floor_late = timer_lateness_ms(args.requests // 2)
        p50, p99 = float(np.percentile(errors_ms, 50)), float(np.percentile(errors_ms, 99))
        print(
            f"emulation error through {station} -> {target} ({args.requests} sequential "
            f"requests): measured minus modelled p50 {p50:.3f} ms, p99 {p99:.3f} ms, "
            f"min {min(errors_ms):.3f} ms"
        )
        figures |= {"error_ms_p50": p50, "error_ms_p99": p99, "error_ms_min": min(errors_ms)}
        rtt50, rtt99 = (float(np.percentile(floor_rtt, q)) for q in (50, 99))
        idle50, idle99 = (float(np.percentile(floor_idle_rtt, q)) for q in (50, 99))
        late50, late99 = (float(np.percentile(floor_late, q)) for q in (50, 99))
        print(
            f"floor while the emulation runs: empty gRPC round trip to a plain server process "
            f"p50 {rtt50:.3f} ms, p99 {rtt99:.3f} ms back to back; p50 {idle50:.3f} ms, p99 "
            f"{idle99:.3f} ms after {pause_s * 1e3:.0f} ms idle (as requests through the "
            f"gateway arrive); an idle process returns from a 10 ms timed wait late by p50 "
            f"{late50:.3f} ms, p99 {late99:.3f} ms"
        )
        figures |= {
            "floor_rtt_ms_p50": rtt50,
            "floor_rtt_ms_p99": rtt99,
            "floor_rtt_after_idle_ms_p50": idle50,
            "floor_rtt_after_idle_ms_p99": idle99,
            "floor_timer_late_ms_p50": late50,
            "floor_timer_late_ms_p99": late99,
        }

        direct, direct_failed, direct_parts = asyncio.run(
            closed_loop(
                endpoints["satellites"][target], request(x, None), args.direct_callers, args.seconds
            )
        )
        via, via_failed, via_parts = asyncio.run(
            closed_loop(
                endpoints["ground_stations"][station],
                request(x, target),
                args.gateway_callers,
                args.seconds,
            )
        )
        direct_rate, via_rate = direct / args.seconds, via / args.seconds
        print(
            f"direct to {target}: {direct_rate:,.0f} inferences/s ({args.direct_callers} callers, "
            f"{direct_failed} failed); mean {parts_line(direct_parts)}"
        )
        print(
            f"through {station} pinned to {target}: {via_rate:,.0f} inferences/s "
            f"({args.gateway_callers} callers, {via_failed} failed) = "
            f"{via_rate / direct_rate:.0%} of direct; mean {parts_line(via_parts)}"
        )
        figures |= {
            "direct_inferences_per_s": direct_rate,
            "gateway_inferences_per_s": via_rate,
            "gateway_to_direct_ratio": via_rate / direct_rate,
            "direct_failed": direct_failed,
            "gateway_failed": via_failed,
            "direct_callers": args.direct_callers,
            "gateway_callers": args.gateway_callers,
        }
    finally:
        orchestrator.stop()
        ray.shutdown()
    figures["cpu_steal_pct"] = steal.percent()
    print(f"CPU time taken by the hypervisor during the run (steal): {steal.percent():.1f}%")
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
