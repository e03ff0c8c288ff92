"""Satellites in real Ray host actors serving real gRPC with real ONNX Runtime.

The satellites of these tests share host processes, as they do in an emulation: each
still serves on its own port with its own state.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from google.protobuf import descriptor_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from orbitmesh.clock import SimClock
from orbitmesh.ground.vitals import vitals_rows
from orbitmesh.node.actor import SatelliteHostActor
from orbitmesh.node.models import load_digits_split, make_session
from orbitmesh.node.server import NodeConfig
from orbitmesh.orchestrator import GeometryEngine, load_scenario
from orbitmesh.orchestrator.launch import node_configs
from orbitmesh.protos.contract import CAUSE_METADATA_KEY
from orbitmesh.protos.inference import grpc_service_pb2 as pb
from orbitmesh.protos.inference import grpc_service_pb2_grpc as pbg
from orbitmesh.protos.orbitmesh.v1 import (
    host_pb2,
    host_pb2_grpc,
    satellite_pb2,
    satellite_pb2_grpc,
    types_pb2,
)

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def configs() -> list[NodeConfig]:
    engine = GeometryEngine(load_scenario("demo"))
    return node_configs(engine, SimClock.starting_now(engine.start, 1.0), duration_s=1800.0)


@dataclasses.dataclass(frozen=True)
class Sat:
    """One satellite of a host, as the tests reach it."""

    host: SatelliteHostActor
    config: NodeConfig

    @property
    def satellite_id(self) -> str:
        return self.config.satellite_id

    @property
    def address(self) -> str:
        return self.host.addresses[self.satellite_id]

    def snapshot(self) -> Any:
        return self.host.snapshot(self.satellite_id)


@pytest.fixture(scope="module")
def satellites(ray_local: Any, configs: list[NodeConfig]) -> Iterator[list[Sat]]:
    host = SatelliteHostActor.create(configs[:3])
    yield [Sat(host, c) for c in configs[:3]]
    host.kill()


def test_satellites_of_one_host_serve_on_their_own_ports(satellites: list[Sat]) -> None:
    addresses = {s.address for s in satellites}
    assert len(addresses) == 3
    pids = set()
    for sat in satellites:
        with grpc.insecure_channel(sat.address) as channel:
            status = satellite_pb2_grpc.SatelliteStub(channel).Status(satellite_pb2.StatusRequest())
            assert status.satellite_id == sat.satellite_id
        pids.add(sat.host.pid())
    assert len(pids) == 1  # one process


def infer_request(model: str, x: np.ndarray, name: str = "input", datatype: str = "FP32") -> Any:
    return pb.ModelInferRequest(
        model_name=model,
        id="req-1",
        inputs=[
            pb.ModelInferRequest.InferInputTensor(name=name, datatype=datatype, shape=list(x.shape))
        ],
        raw_input_contents=[x.tobytes()],
    )


def outputs_of(response: Any) -> dict[str, np.ndarray]:
    dtypes = {"INT64": np.int64, "FP32": np.float32}
    return {
        t.name: np.frombuffer(raw, dtype=dtypes[t.datatype]).reshape(tuple(t.shape))
        for t, raw in zip(response.outputs, response.raw_output_contents, strict=True)
    }


def failure(call: Any, *args: Any) -> tuple[grpc.StatusCode, str, str | None]:
    with pytest.raises(grpc.RpcError) as info:
        call(*args)
    err: Any = info.value
    cause = dict(err.trailing_metadata() or ()).get(CAUSE_METADATA_KEY)
    return err.code(), err.details(), cause


def test_the_host_answers_for_all_its_satellites_at_once(satellites: list[Sat]) -> None:
    host = satellites[0].host
    with grpc.insecure_channel(host.host_address) as channel:
        stub = host_pb2_grpc.HostStub(channel)
        full = stub.Members(host_pb2.MembersRequest(), timeout=10)
        brief = stub.Members(host_pb2.MembersRequest(brief=True), timeout=10)
    assert full.pid == brief.pid == host.pid()
    ids = [s.satellite_id for s in satellites]
    assert [s.satellite_id for s in full.satellites] == ids
    # Brief: one array per figure instead of a status per satellite.
    assert not brief.satellites and list(brief.vitals.satellite_ids) == ids
    rows = vitals_rows(brief.vitals)
    for whole, short in zip(full.satellites, rows, strict=True):
        assert 500 < whole.position.alt_km < 600 and whole.HasField("energy")
        assert short.battery_wh == pytest.approx(whole.battery_wh, rel=1e-3)
        assert short.serving and short.power_state == "nominal"
        assert short.sunlit == whole.sunlit


def test_one_satellite_stops_and_starts_while_its_host_mates_serve(
    ray_local: Any, configs: list[NodeConfig]
) -> None:
    host = SatelliteHostActor.create(configs[7:9])
    a, b = (c.satellite_id for c in configs[7:9])
    try:
        address = host.addresses[a]
        host.stop_member(a)
        with grpc.insecure_channel(address) as channel, pytest.raises(grpc.RpcError):
            satellite_pb2_grpc.SatelliteStub(channel).Status(
                satellite_pb2.StatusRequest(), timeout=2
            )
        with grpc.insecure_channel(host.addresses[b]) as channel:
            stub = pbg.GRPCInferenceServiceStub(channel)
            stub.ModelInfer(infer_request("digits", np.zeros((1, 64), np.float32)), timeout=10)
        with grpc.insecure_channel(host.host_address) as channel:
            members = host_pb2_grpc.HostStub(channel).Members(host_pb2.MembersRequest())
            assert [s.satellite_id for s in members.satellites] == [b]
        assert host.start_member(a) == address  # its port again
        with grpc.insecure_channel(address) as channel:
            status = satellite_pb2_grpc.SatelliteStub(channel).Status(satellite_pb2.StatusRequest())
            assert status.satellite_id == a
    finally:
        host.kill()


def test_predictions_match_the_model_run_directly(satellites: list[Sat]) -> None:
    split = load_digits_split()
    x = split.x_test[:40].astype(np.float32)
    for sat in satellites:
        reference = make_session(sat.config.models["digits"]).run(None, {"input": x})
        with grpc.insecure_channel(sat.address) as channel:
            stub = pbg.GRPCInferenceServiceStub(channel)
            response = stub.ModelInfer(infer_request("digits", x))
            got = outputs_of(response)
            np.testing.assert_array_equal(got["label"], reference[0])
            np.testing.assert_allclose(got["probabilities"], reference[1], rtol=1e-6)
            assert (got["label"] == split.y_test[:40]).mean() > 0.9
            assert response.id == "req-1"
            assert response.parameters["orbitmesh.satellite"].string_param == sat.satellite_id
            assert response.parameters["orbitmesh.inference_ms"].double_param > 0
            cnn = outputs_of(stub.ModelInfer(infer_request("digits-cnn", x.reshape(-1, 1, 8, 8))))
            ref_cnn = make_session(sat.config.models["digits-cnn"]).run(
                None, {"input": x.reshape(-1, 1, 8, 8)}
            )
            np.testing.assert_array_equal(cnn["label"], ref_cnn[0])


def test_a_stock_tritonclient_works_unchanged(satellites: list[Sat], tmp_path: Path) -> None:
    split = load_digits_split()
    x = split.x_test[:8].astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "seen.json"
    subprocess.run(
        [
            sys.executable,
            str(HERE / "clients" / "triton_infer.py"),
            satellites[0].address,
            str(tmp_path / "x.npy"),
            str(out),
        ],
        check=True,
        timeout=60,
    )
    seen = json.loads(out.read_text())
    reference = make_session(satellites[0].config.models["digits"]).run(None, {"input": x})
    assert seen["live"] and seen["ready"] and seen["model_ready"]
    assert seen["metadata"]["name"] == "digits"
    assert seen["metadata"]["inputs"][0] == {
        "name": "input",
        "datatype": "FP32",
        "shape": ["-1", "64"],
    }
    assert seen["labels"] == reference[0].tolist()
    np.testing.assert_allclose(seen["probabilities"], reference[1], rtol=1e-6)
    assert seen["id"] == "r1"
    assert seen["parameters"]["orbitmesh.satellite"]["string_param"] == satellites[0].satellite_id
    assert seen["unknown_model"] == "StatusCode.NOT_FOUND"
    assert seen["wrong_shape"][0] == "StatusCode.INVALID_ARGUMENT"
    assert '"input"' in seen["wrong_shape"][1]

    # Triton's ModelConfig, as perf_analyzer reads it: the batch dimension (ONNX's dynamic
    # first axis) out of the dims, the largest batch that fits a request, the
    # satellite's concurrency as its instances.
    config = seen["config"]["config"]
    session = make_session(satellites[0].config.models["digits"])
    (model_input,) = session.get_inputs()
    assert not isinstance(model_input.shape[0], int)  # dynamic batch in the ONNX file
    node = satellites[0].config.node
    assert config["name"] == "digits" and config["platform"] == "onnxruntime_onnx"
    assert config["input"] == [
        {"name": "input", "data_type": "TYPE_FP32", "dims": [str(d) for d in model_input.shape[1:]]}
    ]
    assert int(config["max_batch_size"]) == node.max_message_bytes // (64 * 4)
    assert {o["name"] for o in config["output"]} == {o.name for o in session.get_outputs()}
    assert config["instance_group"][0]["count"] == node.max_concurrency

    # ModelStatistics around one good request (a batch of 8) and one refused (bad shape);
    # the unknown model is not one of this satellite's.
    def counters(stats: dict[str, Any]) -> dict[str, int]:
        (model,) = stats["model_stats"]
        inference = model["inference_stats"]
        return {
            "inference_count": int(model.get("inference_count", 0)),
            "execution_count": int(model.get("execution_count", 0)),
            **{
                f"{kind}_count": int(inference.get(kind, {}).get("count", 0))
                for kind in ("success", "fail", "queue", "compute_infer")
            },
        }

    before, after = counters(seen["stats_before"]), counters(seen["stats_after"])
    assert {k: after[k] - before[k] for k in after} == {
        "inference_count": 8,
        "execution_count": 1,
        "success_count": 1,
        "fail_count": 1,
        "queue_count": 1,
        "compute_infer_count": 1,
    }
    (model,) = seen["stats_after"]["model_stats"]
    success = model["inference_stats"]["success"]
    assert int(success["ns"]) > 0
    last = datetime.fromtimestamp(int(model["last_inference"]) / 1e3, UTC)
    assert abs((last - satellites[0].config.clock.now()).total_seconds()) < 60
    assert {m["name"] for m in seen["all_stats"]["model_stats"]} == {"digits", "digits-cnn"}


def test_health_reflection_and_status(satellites: list[Sat]) -> None:
    sat = satellites[1]
    with grpc.insecure_channel(sat.address) as channel:
        checker = health_pb2_grpc.HealthStub(channel)
        for service in ("", "inference.GRPCInferenceService", "orbitmesh.v1.Satellite"):
            reply = checker.Check(health_pb2.HealthCheckRequest(service=service))
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        reflect = reflection_pb2_grpc.ServerReflectionStub(channel)
        answers = reflect.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")])
        )
        names = {s.name for a in answers for s in a.list_services_response.service}
        assert {
            "inference.GRPCInferenceService",
            "orbitmesh.v1.Satellite",
            "grpc.health.v1.Health",
        } <= names
        # What grpcurl asks next: the file defining each service, from whichever pool.
        for service, method in [
            ("inference.GRPCInferenceService", "ModelInfer"),
            ("orbitmesh.v1.Satellite", "Status"),
            ("grpc.health.v1.Health", "Check"),
        ]:
            (answer,) = reflect.ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(file_containing_symbol=service)])
            )
            files = [
                descriptor_pb2.FileDescriptorProto.FromString(raw)
                for raw in answer.file_descriptor_response.file_descriptor_proto
            ]
            methods = {f"{f.package}.{s.name}": s.method for f in files for s in f.service}
            assert method in {m.name for m in methods[service]}, answer.error_response

        telemetry = satellite_pb2_grpc.SatelliteStub(channel)
        status = telemetry.Status(satellite_pb2.StatusRequest())
        assert status.satellite_id == sat.satellite_id
        assert set(status.models) == {"digits", "digits-cnn"}
        assert status.power_state == types_pb2.POWER_STATE_NOMINAL
        assert 500 < status.position.alt_km < 600
        stream = telemetry.WatchStatus(satellite_pb2.WatchStatusRequest(min_interval_ms=100))
        times = [next(stream).sim_time.ToDatetime() for _ in range(3)]
        stream.cancel()
        assert times[0] < times[1] < times[2]
    snap = sat.snapshot()
    assert snap.ledger.is_balanced(rel_tol=1e-6)


@pytest.fixture(scope="module")
def strict_satellites(ray_local: Any, configs: list[NodeConfig]) -> Iterator[dict[str, Sat]]:
    base = configs[3]
    tiny = dataclasses.replace(base.node, queue_depth=1, max_concurrency=1, max_message_mb=1.0)
    variants = {
        "strict": dataclasses.replace(base, node=tiny),
        "starved": dataclasses.replace(
            configs[4], power=dataclasses.replace(configs[4].power, initial_soc=0.1, solar_w=0.0)
        ),
        "hot": dataclasses.replace(
            configs[5], thermal=dataclasses.replace(configs[5].thermal, initial_temp_c=75.0)
        ),
    }
    # One host: a drained battery or a hot accelerator refuses only its own satellite.
    host = SatelliteHostActor.create(list(variants.values()))
    yield {name: Sat(host, config) for name, config in variants.items()}
    host.kill()


def test_refusals_carry_code_and_cause_and_the_server_keeps_serving(
    strict_satellites: dict[str, Sat],
) -> None:
    x = np.zeros((2, 64), dtype=np.float32)
    with grpc.insecure_channel(strict_satellites["strict"].address) as channel:
        stub = pbg.GRPCInferenceServiceStub(channel)
        cases = [
            (
                infer_request("nope", x),
                grpc.StatusCode.NOT_FOUND,
                "not-found",
                "unknown model 'nope'",
            ),
            (
                infer_request("digits", x[:, :60].copy()),
                grpc.StatusCode.INVALID_ARGUMENT,
                "invalid",
                '"input"',
            ),
            (
                infer_request("digits", x, name="pixels"),
                grpc.StatusCode.INVALID_ARGUMENT,
                "invalid",
                '"pixels"',
            ),
            (
                infer_request("digits", x.astype(np.float64), datatype="FP64"),
                grpc.StatusCode.INVALID_ARGUMENT,
                "invalid",
                "FP64",
            ),
            (
                infer_request("digits", np.zeros((8192, 64), np.float32)),  # 2 MiB
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                "too-large",
                "exceeds",
            ),
        ]
        bad_bytes = infer_request("digits", x)
        bad_bytes.raw_input_contents[0] = bad_bytes.raw_input_contents[0][:-4]
        cases.append((bad_bytes, grpc.StatusCode.INVALID_ARGUMENT, "invalid", "bytes"))
        for request, code, cause, text in cases:
            got_code, details, got_cause = failure(stub.ModelInfer, request)
            assert (got_code, got_cause) == (code, cause), details
            assert text in details
            stub.ModelInfer(infer_request("digits", x))  # still serving

        # Queue of one: a long inference occupies it, the next request is refused.
        slow = infer_request("digits-cnn", np.zeros((3000, 1, 8, 8), np.float32))
        future = stub.ModelInfer.future(slow)
        deadline = time.monotonic() + 10
        while (
            strict_satellites["strict"].snapshot().queue_depth < 1 and time.monotonic() < deadline
        ):
            time.sleep(0.002)
        code, details, queue_cause = failure(stub.ModelInfer, infer_request("digits", x))
        assert (code, queue_cause) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "queue"), details
        future.result(timeout=30)

    for name, cause in (("starved", "power"), ("hot", "thermal")):
        sat = strict_satellites[name]
        with grpc.insecure_channel(sat.address) as channel:
            stub = pbg.GRPCInferenceServiceStub(channel)
            code, details, got = failure(stub.ModelInfer, infer_request("digits", x))
            assert (code, got) == (grpc.StatusCode.RESOURCE_EXHAUSTED, cause), details
            status = satellite_pb2_grpc.SatelliteStub(channel).Status(satellite_pb2.StatusRequest())
            assert status.refused.by_cause[cause] == 1
    starved = satellite_pb2_grpc.SatelliteStub(
        grpc.insecure_channel(strict_satellites["starved"].address)
    )
    assert (
        starved.Status(satellite_pb2.StatusRequest()).power_state == types_pb2.POWER_STATE_RESERVE
    )
    # Their host-mate serves all the while: power and heat are each satellite's own.
    with grpc.insecure_channel(strict_satellites["strict"].address) as channel:
        pbg.GRPCInferenceServiceStub(channel).ModelInfer(infer_request("digits", x))
    counts = strict_satellites["strict"].snapshot().refused
    assert counts == {"not-found": 1, "invalid": 4, "too-large": 1, "queue": 1}


def test_graceful_stop_drains_in_flight_calls(ray_local: Any, configs: list[NodeConfig]) -> None:
    sat = SatelliteHostActor.create([configs[6]])
    channel = grpc.insecure_channel(sat.addresses[configs[6].satellite_id])
    stub = pbg.GRPCInferenceServiceStub(channel)
    stub.ModelInfer(infer_request("digits", np.zeros((1, 64), np.float32)))
    slow = stub.ModelInfer.future(
        infer_request("digits-cnn", np.zeros((2048, 1, 8, 8), np.float32))
    )
    time.sleep(0.05)
    stopper = threading.Thread(target=sat.stop, kwargs={"grace_s": 20.0})
    stopper.start()
    response = slow.result(timeout=30)
    assert len(outputs_of(response)["label"]) == 2048
    stopper.join(timeout=30)
    with pytest.raises(grpc.RpcError) as info:
        stub.ModelInfer(infer_request("digits", np.zeros((1, 64), np.float32)), timeout=2)
    assert info.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
    channel.close()


def test_users_own_onnx_model_is_served_with_its_metadata(ray_local: Any, tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "two"], ["y"])],
        "double",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3])],
        initializer=[helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "double.onnx")
    scenario_file = tmp_path / "mine.toml"
    scenario_file.write_text(
        'name = "mine"\n[time]\nstart = 2026-03-20T12:00:00Z\n'
        '[[shell]]\nname = "s"\naltitude_km = 550\ninclination_deg = 53\n'
        "planes = 3\nsats_per_plane = 3\n"
        '[compute]\nsatellites = ["s-0-0", "s-1-1"]\n'
        "[node]\nbuiltin_models = []\n"
        '[[model]]\nname = "double"\npath = "double.onnx"\nsatellites = ["s-1-1"]\n'
    )
    engine = GeometryEngine(load_scenario(scenario_file))
    configs = node_configs(engine, SimClock.starting_now(engine.start, 1.0), duration_s=600.0)
    assert [c.satellite_id for c in configs] == ["s-0-0", "s-1-1"]
    assert configs[0].models == {} and set(configs[1].models) == {"double"}
    sat = SatelliteHostActor.create([configs[1]])
    try:
        with grpc.insecure_channel(sat.addresses["s-1-1"]) as channel:
            stub = pbg.GRPCInferenceServiceStub(channel)
            meta = stub.ModelMetadata(pb.ModelMetadataRequest(name="double"))
            signature = [(t.name, t.datatype, list(t.shape)) for t in (*meta.inputs, *meta.outputs)]
            assert signature == [("x", "FP32", [-1, 3]), ("y", "FP32", [-1, 3])]
            x = np.arange(6, dtype=np.float32).reshape(2, 3)
            got = outputs_of(stub.ModelInfer(infer_request("double", x, name="x")))
            np.testing.assert_array_equal(got["y"], 2 * x)
            code, details, cause = failure(stub.ModelInfer, infer_request("digits", x, name="x"))
            assert (code, cause) == (grpc.StatusCode.NOT_FOUND, "not-found")
            assert "serves: double" in details
    finally:
        sat.kill()


def test_a_request_waiting_to_reach_its_satellite_has_that_much_less_time(
    configs: list[NodeConfig],
) -> None:
    import asyncio

    from orbitmesh.node.host import HostConfig, SatelliteHost

    host = SatelliteHost(HostConfig("h", (configs[0],)))
    sid = configs[0].satellite_id
    seen: list[float | None] = []

    async def infer(request: bytes, time_remaining_s: float | None) -> bytes:
        seen.append(time_remaining_s)
        return request

    host.members[sid].infer_bytes = infer  # type: ignore[method-assign]
    # Sent with 1 s left, it reaches the satellite 0.2 s later: 0.8 s are left there.
    assert asyncio.run(host._serve(sid, b"x", time.time() + 0.2, 1.0)) == b"x"
    assert seen[0] == pytest.approx(0.8, abs=0.05)
