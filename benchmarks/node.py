"""Satellite node speed and memory: inference rate, serving overhead, actor footprint.

    python benchmarks/node.py                  # all figures, 100 actors for the start-up test
    python benchmarks/node.py --actors 20      # a quicker start-up test

Figures (all on local Ray, actors with num_cpus=0, the client in this process):
- in-process ONNX Runtime latency of the built-in models at batch 1 (the floor);
- direct gRPC ModelInfer latency to one satellite actor (p50/p99) and the serving
  overhead (gRPC p50 minus in-process p50), split into the transport (an empty
  ServerLive round trip to the same server: gRPC's own floor on this machine) and the
  rest (request parsing, admission, power and heat books, reply);
- inferences per second through one satellite and through several at once (closed loop,
  asyncio gRPC clients);
- unique memory (USS) per actor idle and after load, with the digits model loaded;
- time to start N satellite actors;
- minilm (when installed, see docs/node.md): in-process latency at batch 1 and 8 and
  sentences per second at batch 8, one thread;
- the emulation error of ``--profile-satellites`` satellites (100) under open-loop load
  (``--profile-rps``), timed by the H100 profile and by the host itself, in the same run:
  measured round trip less the reply's modelled queue + inference time, and the share of
  inferences the host finished after the profile's modelled finish (late);
- the platform's floor in the same run: N empty Ray actors started the same way (their
  start-up time and memory are Ray's own share), and the CPU time the hypervisor took
  (steal), which slows every figure here on a shared virtual machine.
The last line is one JSON object with the figures.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This script is named like the package it measures: keep its own folder off the import
# path, or ``import node`` would find this file.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.append(str(Path(__file__).resolve().parents[1]))  # for benchmarks.machine

import argparse  # noqa: E402
import asyncio  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import grpc  # noqa: E402
import numpy as np  # noqa: E402
import ray  # noqa: E402

from benchmarks.machine import CpuSteal, bare_ray_actors, uss_mib  # noqa: E402
from orbitmesh.clock import SimClock  # noqa: E402
from orbitmesh.node.accelerator import BUILTIN_ACCELERATORS, Accelerator  # noqa: E402
from orbitmesh.node.actor import SatelliteHostActor  # noqa: E402
from orbitmesh.node.models import ensure_model, make_session  # noqa: E402
from orbitmesh.node.runtime import ModelRuntime  # noqa: E402
from orbitmesh.node.server import NodeConfig  # noqa: E402
from orbitmesh.orchestrator import GeometryEngine, load_scenario  # noqa: E402
from orbitmesh.orchestrator.launch import node_configs  # noqa: E402
from orbitmesh.orchestrator.local_ray import start_ray  # noqa: E402
from orbitmesh.orchestrator.placement import host_configs  # noqa: E402
from orbitmesh.protos.contract import Param  # noqa: E402
from orbitmesh.protos.inference import grpc_service_pb2 as pb  # noqa: E402
from orbitmesh.protos.inference import grpc_service_pb2_grpc as pbg  # noqa: E402


def request(model: str, x: np.ndarray) -> Any:
    return pb.ModelInferRequest(
        model_name=model,
        inputs=[
            pb.ModelInferRequest.InferInputTensor(
                name="input", datatype="FP32", shape=list(x.shape)
            )
        ],
        raw_input_contents=[x.tobytes()],
    )


def percentiles_ms(samples: list[float]) -> tuple[float, float]:
    return float(np.percentile(samples, 50) * 1e3), float(np.percentile(samples, 99) * 1e3)


def in_process(model: str, x: np.ndarray, runs: int) -> list[float]:
    session = make_session(ensure_model(model).path)
    for _ in range(100):
        session.run(None, {"input": x})
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        session.run(None, {"input": x})
        out.append(time.perf_counter() - t)
    return out


def over_grpc(address: str, model: str | None, x: np.ndarray, runs: int) -> list[float]:
    """Sequential ModelInfer calls, or with ``model`` None empty ServerLive calls."""
    with grpc.insecure_channel(address) as channel:
        stub = pbg.GRPCInferenceServiceStub(channel)
        if model is None:
            method, req = stub.ServerLive, pb.ServerLiveRequest()
        else:
            method, req = stub.ModelInfer, request(model, x)
        for _ in range(200):
            method(req)
        out = []
        for _ in range(runs):
            t = time.perf_counter()
            method(req)
            out.append(time.perf_counter() - t)
    return out


async def closed_loop(
    addresses: list[str], model: str, x: np.ndarray, seconds: float, per_target: int
) -> int:
    """Completed inferences in ``seconds`` with ``per_target`` callers per satellite."""
    done = 0
    stop = time.monotonic() + seconds
    channels = [grpc.aio.insecure_channel(a) for a in addresses]
    req = request(model, x)

    async def caller(stub: Any) -> None:
        nonlocal done
        while time.monotonic() < stop:
            await stub.ModelInfer(req)
            done += 1

    stubs = [pbg.GRPCInferenceServiceStub(c) for c in channels]
    await asyncio.gather(*(caller(s) for s in stubs for _ in range(per_target)))
    for c in channels:
        await c.close()
    return done


def minilm_figures(runs: int) -> dict[str, float]:
    """In-process minilm latency (batch 1 and 8) and rate; empty when not installed."""
    try:
        card = ensure_model("minilm")
    except Exception as exc:  # the extra or the weights package missing
        print(f"minilm: not measured ({str(exc).splitlines()[0]})")
        return {}
    model = ModelRuntime({"minilm": card.path}).models["minilm"]
    sentences = [
        b"A satellite passes over the ground station every ninety minutes.",
        b"Solar panels charge the battery while the spacecraft is in sunlight.",
        b"The laser link between two satellites carries a hundred gigabits.",
        b"Radiation in the South Atlantic Anomaly flips bits in memory.",
    ] * 2
    figures: dict[str, float] = {}
    for batch in (1, 8):
        text = np.array(sentences[:batch], dtype=object)
        for _ in range(5):
            model.run({"text": text}, None)
        took = []
        for _ in range(runs):
            t = time.perf_counter()
            model.run({"text": text}, None)
            took.append(time.perf_counter() - t)
        p50, p99 = percentiles_ms(took)
        figures |= {f"minilm_batch{batch}_ms_p50": p50, f"minilm_batch{batch}_ms_p99": p99}
    rate = 8 / (figures["minilm_batch8_ms_p50"] / 1e3)
    figures["minilm_sentences_per_s"] = rate
    print(
        f"in-process minilm (one thread): batch 1 p50 {figures['minilm_batch1_ms_p50']:.1f} ms, "
        f"batch 8 p50 {figures['minilm_batch8_ms_p50']:.1f} ms ({rate:.0f} sentences/s)"
    )
    return figures


def with_profile(config: NodeConfig, accelerator: Accelerator | None) -> NodeConfig:
    """``config`` timed by ``accelerator`` (None: the host), on a bus that can feed it."""
    if accelerator is None:
        return config
    power = dataclasses.replace(
        config.power,
        compute_w=accelerator.active_w,
        compute_idle_w=accelerator.idle_w,
        solar_w=2_000.0,
        battery_wh=10_000.0,
    )
    return dataclasses.replace(config, power=power, accelerator=accelerator)


async def open_loop(
    addresses: list[str], model: str, x: np.ndarray, rps: float, seconds: float
) -> tuple[list[float], int]:
    """Requests at ``rps`` round-robin over ``addresses``; each success's emulation error
    (ms: round trip less the reply's modelled queue + inference time; speed 1) and how
    many were late."""
    channels = [grpc.aio.insecure_channel(a) for a in addresses]
    stubs = [pbg.GRPCInferenceServiceStub(c) for c in channels]
    req = request(model, x)
    errors: list[float] = []
    late = 0

    async def one(stub: Any) -> None:
        nonlocal late
        t = time.perf_counter()
        reply = await stub.ModelInfer(req)
        took_ms = (time.perf_counter() - t) * 1e3
        p = reply.parameters
        modelled = p[Param.QUEUE_MS].double_param + p[Param.INFERENCE_MS].double_param
        errors.append(took_ms - modelled)
        late += Param.LATE_MS in p

    tasks = []
    start = time.perf_counter()
    for i in range(int(rps * seconds)):
        delay = start + i / rps - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(stubs[i % len(stubs)])))
    await asyncio.gather(*tasks)
    for c in channels:
        await c.close()
    return errors, late


def profile_comparison(
    pool: list[NodeConfig], x: np.ndarray, satellites: int, rps: float, seconds: float
) -> dict[str, float]:
    """The emulation error under load, timed by the H100 profile and by the host."""
    figures: dict[str, float] = {}
    chosen = [digits_only(c) for c in pool[:satellites]]
    for label, accelerator in (("host", None), ("h100", BUILTIN_ACCELERATORS["h100"])):
        configs = [with_profile(c, accelerator) for c in chosen]
        hosts = SatelliteHostActor.create_many(host_configs(configs, 50), timeout_s=600)
        addresses = [a for h in hosts for a in h.addresses.values()]
        asyncio.run(open_loop(addresses, "digits", x, rps, 2.0))  # warm-up
        errors, late = asyncio.run(open_loop(addresses, "digits", x, rps, seconds))
        e50, e99 = (float(v) for v in np.percentile(errors, [50, 99]))
        figures |= {
            f"{label}_profile_error_ms_p50": e50,
            f"{label}_profile_error_ms_p99": e99,
            f"{label}_profile_late_share": late / len(errors),
        }
        print(
            f"{len(addresses)} satellites timed by {label}, digits at {rps:.0f} rps: emulation "
            f"error p50 {e50:.2f} ms p99 {e99:.2f} ms; late {late:,} of {len(errors):,}"
        )
        for h in hosts:
            h.kill()
        time.sleep(2.0)
    return figures


def digits_only(config: NodeConfig) -> NodeConfig:
    node = dataclasses.replace(config.node, builtin_models=("digits",))
    return dataclasses.replace(config, node=node, models={"digits": config.models["digits"]})


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--actors", type=int, default=100, help="actors for the start-up test")
    parser.add_argument(
        "--seconds", type=float, default=5.0, help="duration of each throughput run"
    )
    parser.add_argument("--runs", type=int, default=2000, help="calls per latency measurement")
    parser.add_argument(
        "--parallel", type=int, default=4, help="satellites in the several-at-once run"
    )
    parser.add_argument(
        "--profile-satellites", type=int, default=100, help="satellites in the profile run"
    )
    parser.add_argument(
        "--profile-rps", type=float, default=200.0, help="request rate of the profile run"
    )
    args = parser.parse_args()

    steal = CpuSteal()
    start_ray(num_cpus=2)
    x1 = np.random.default_rng(0).uniform(0, 16, size=(1, 64)).astype(np.float32)
    figures: dict[str, Any] = {}

    p50, p99 = percentiles_ms(in_process("digits", x1, args.runs))
    figures |= {"inprocess_digits_ms_p50": p50, "inprocess_digits_ms_p99": p99}
    cnn50, cnn99 = percentiles_ms(in_process("digits-cnn", x1.reshape(1, 1, 8, 8), args.runs))
    figures |= {"inprocess_cnn_ms_p50": cnn50, "inprocess_cnn_ms_p99": cnn99}
    print(
        f"in-process ONNX Runtime, batch 1: digits p50 {p50:.3f} ms p99 {p99:.3f} ms; "
        f"digits-cnn p50 {cnn50:.3f} ms p99 {cnn99:.3f} ms"
    )

    figures |= minilm_figures(min(args.runs, 50))

    engine = GeometryEngine(load_scenario("demo"))
    clock = SimClock.starting_now(engine.start, 1.0)
    pool = node_configs(engine, clock, duration_s=3600.0)
    base = digits_only(pool[0])

    one = SatelliteHostActor.create([pool[0]])
    one_address = one.addresses[pool[0].satellite_id]
    time.sleep(1.0)
    idle_uss = uss_mib(one.pid())
    g50, g99 = percentiles_ms(over_grpc(one_address, "digits", x1, args.runs))
    live50, _ = percentiles_ms(over_grpc(one_address, None, x1, args.runs))
    figures |= {
        "grpc_digits_ms_p50": g50,
        "grpc_digits_ms_p99": g99,
        "serving_overhead_ms_p50": g50 - p50,
        "grpc_empty_call_ms_p50": live50,
    }
    print(
        f"direct gRPC to one satellite, digits batch 1: p50 {g50:.3f} ms p99 {g99:.3f} ms; "
        f"serving overhead {g50 - p50:.3f} ms p50 ({g50 / p50:.0f}x in-process): an empty "
        f"ServerLive round trip takes {live50:.3f} ms, the rest {g50 - p50 - live50:.3f} ms"
    )

    for model, x, key in (("digits", x1, "digits"), ("digits-cnn", x1.reshape(1, 1, 8, 8), "cnn")):
        done = asyncio.run(closed_loop([one_address], model, x, args.seconds, 4))
        figures[f"one_satellite_{key}_inferences_per_s"] = done / args.seconds
        print(f"one satellite, {model} batch 1, 4 callers: {done / args.seconds:,.0f} inferences/s")
    loaded_uss = uss_mib(one.pid())
    figures |= {"actor_idle_uss_mib": idle_uss, "actor_loaded_uss_mib": loaded_uss}
    print(
        f"actor unique memory (digits and digits-cnn loaded): idle {idle_uss:.1f} MiB, "
        f"after load {loaded_uss:.1f} MiB"
    )

    # One satellite per host process, as before hosts existed: these are per-process figures.
    several = SatelliteHostActor.create_many(host_configs(pool[1 : 1 + args.parallel], 1))
    addresses = [a for s in several for a in s.addresses.values()]
    done = asyncio.run(closed_loop(addresses, "digits", x1, args.seconds, 2))
    figures[f"satellites_{args.parallel}_digits_inferences_per_s"] = done / args.seconds
    print(
        f"{args.parallel} satellites at once, digits batch 1, 2 callers each: "
        f"{done / args.seconds:,.0f} inferences/s in total"
    )
    for sat in [one, *several]:
        sat.kill()

    profile_pool = [
        dataclasses.replace(base, satellite_id=f"profile-{i}")
        for i in range(args.profile_satellites)
    ]
    figures |= profile_comparison(
        profile_pool, x1, args.profile_satellites, args.profile_rps, args.seconds
    )

    configs = [dataclasses.replace(base, satellite_id=f"bench-{i}") for i in range(args.actors)]
    t0 = time.perf_counter()
    fleet = SatelliteHostActor.create_many(host_configs(configs, 1), timeout_s=600)
    start_s = time.perf_counter() - t0
    time.sleep(1.0)
    fleet_uss = [uss_mib(s.pid()) for s in fleet]
    figures |= {
        "actors": args.actors,
        "actors_start_s": start_s,
        "fleet_uss_mib_mean": float(np.mean(fleet_uss)),
        "fleet_uss_mib_max": float(np.max(fleet_uss)),
    }
    print(
        f"{args.actors} satellite actors (digits loaded) serving after {start_s:.1f} s; unique "
        "memory per idle actor "
        f"mean {np.mean(fleet_uss):.1f} MiB, max {np.max(fleet_uss):.1f} MiB"
    )
    for sat in fleet:
        sat.kill()
    time.sleep(2.0)  # let the fleet's processes exit before the floor is measured
    bare_s, bare_uss = bare_ray_actors(args.actors)
    figures |= {"bare_actors_start_s": bare_s, "bare_actor_uss_mib": bare_uss}
    print(
        f"floor: {args.actors} empty Ray actors (same options, nothing imported) answering "
        f"after {bare_s:.1f} s, unique memory {bare_uss:.1f} MiB each; satellites take "
        f"{start_s - bare_s:+.1f} s and {np.mean(fleet_uss) - bare_uss:+.1f} MiB more"
    )
    ray.shutdown()
    figures["cpu_steal_pct"] = steal.percent()
    print(f"CPU time taken by the hypervisor during the run (steal): {steal.percent():.1f}%")
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
