"""Accelerator profiles: modelled inference time, energy and queueing on real satellites.

The pure profile (node/accelerator.py) is checked against hand arithmetic; the scenario
tables against their one-line errors; then real satellites (a satellite host in this
process, real gRPC on 127.0.0.1, real ONNX Runtime, the simulated clock at speed 1)
serve with a profile: replies leave at the modelled finish, energy is the profile's,
the queue follows the modelled times, and a host slower than the profile is counted
late, never hidden.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import re
import statistics
import threading
import time
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import grpc
import numpy as np
import onnx
import pytest
from conftest import make_scenario
from onnx import TensorProto, helper, numpy_helper

from orbitmesh.clock import SimClock
from orbitmesh.node.accelerator import BUILTIN_ACCELERATORS, Accelerator
from orbitmesh.node.host import HostConfig, SatelliteHost
from orbitmesh.node.models.onnx_session import make_session, providers_for
from orbitmesh.node.power import PowerParams
from orbitmesh.node.server import NodeConfig
from orbitmesh.orchestrator import GeometryEngine, load_scenario
from orbitmesh.orchestrator.launch import node_configs
from orbitmesh.orchestrator.scenario import ScenarioError
from orbitmesh.protos.contract import CAUSE_METADATA_KEY, Param
from orbitmesh.protos.inference import grpc_service_pb2 as pb
from orbitmesh.protos.inference import grpc_service_pb2_grpc as pbg
from orbitmesh.protos.orbitmesh.v1 import satellite_pb2
from orbitmesh.protos.orbitmesh.v1 import satellite_pb2_grpc as satg

T = TypeVar("T")

# --------------------------------------------------------------------------- the profile


def test_time_from_the_measured_latency_per_item() -> None:
    npu = Accelerator("npu", 60.0, 8.0, 20.0, latency_ms={"digits": 0.05}, launch_ms=0.01)
    # launch + 4 items x 0.05 ms
    assert npu.inference_s("digits", 4, None) == pytest.approx((0.01 + 4 * 0.05) / 1e3)


def test_time_from_the_operation_count_without_a_latency() -> None:
    npu = Accelerator("npu", 60.0, 8.0, 20.0)
    # 2e9 FLOPs an item at 20 TFLOPS: 0.1 ms an item; 3 items.
    assert npu.inference_s("big", 3, 2e9) == pytest.approx(3 * 2e9 / 20e12)
    with pytest.raises(ValueError, match="no latency_ms for model 'big'"):
        npu.inference_s("big", 1, None)


def test_every_built_in_profile_is_valid_and_sourced() -> None:
    assert set(BUILTIN_ACCELERATORS) == {"h100", "tpu-v6e", "jetson-orin"}
    for profile in BUILTIN_ACCELERATORS.values():
        assert profile.validate(profile.name) == []
        assert profile.source
    assert BUILTIN_ACCELERATORS["h100"].active_w == 700.0  # the SXM datasheet's maximum


def test_a_profile_says_what_is_wrong_by_field() -> None:
    bad = Accelerator("x", 10.0, 20.0, 0.0, latency_ms={"m": -1.0})
    assert [where for where, _ in bad.validate("accelerator[0]")] == [
        "accelerator[0].peak_tflops",
        "accelerator[0].idle_w",
        "accelerator[0].latency_ms.m",
    ]


# --------------------------------------------------------------------------- the tables


def shells_with(accelerator: str) -> list[dict[str, Any]]:
    return [
        {
            "name": "s1",
            "altitude_km": 550,
            "inclination_deg": 53,
            "planes": 12,
            "sats_per_plane": 12,
            "phasing": 1,
            "accelerator": accelerator,
        }
    ]


def test_node_shell_and_satellite_layers_pick_the_profile_and_its_watts() -> None:
    s = make_scenario(
        {
            "node": {"accelerator": "h100"},
            "accelerator": [
                {
                    "name": "my-npu",
                    "active_w": 60.0,
                    "idle_w": 8.0,
                    "peak_tflops": 20.0,
                    "latency_ms": {"digits": 0.05},
                    "source": "bench, 2026",
                },
            ],
            "shell": shells_with("jetson-orin"),
            "satellite": [{"id": "s1-0-0", "accelerator": "my-npu"}],
        }
    )
    nodes = s.nodes
    own = nodes.accelerator_for("s1", "s1-0-0")
    assert own is not None and own.name == "my-npu" and own.latency_ms == {"digits": 0.05}
    power, _ = nodes.params_for("s1", "s1-0-0")
    assert (power.compute_w, power.compute_idle_w) == (60.0, 8.0)
    shell = nodes.accelerator_for("s1", "s1-0-1")
    assert shell is BUILTIN_ACCELERATORS["jetson-orin"]
    assert nodes.accelerator_for(None, "other") is BUILTIN_ACCELERATORS["h100"]
    host = make_scenario({})
    assert host.nodes.accelerator_for("s1", "s1-0-0") is None
    assert host.nodes.params_for("s1", "s1-0-0")[0] == PowerParams()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"node": {"accelerator": "h200"}}, "node.accelerator: unknown accelerator 'h200'"),
        (
            {"accelerator": [{"name": "h100", "active_w": 1, "idle_w": 0, "peak_tflops": 1}]},
            "accelerator[0].name: 'h100' is a built-in accelerator",
        ),
        (
            {"accelerator": [{"name": "n", "active_w": 1, "idle_w": 2, "peak_tflops": 1}]},
            "accelerator[0].idle_w: must not exceed active_w",
        ),
        (
            {"accelerator": [{"name": "n", "active_w": 1, "idle_w": 0}]},
            "accelerator[0].peak_tflops",
        ),
        (
            {
                "accelerator": [
                    {"name": "n", "active_w": 1, "idle_w": 0, "peak_tflops": 1, "watts": 3}
                ]
            },
            "accelerator[0].watts",
        ),
        ({"node": {"execution_provider": "rocm"}}, "node.execution_provider: must be one of"),
        ({"shell": shells_with("tpu")}, "shell[0].accelerator: unknown accelerator 'tpu'"),
    ],
)
def test_bad_tables_are_refused_with_their_field(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ScenarioError, match=re.escape(message)):
        make_scenario(extra)


# --------------------------------------------------------------------------- satellites


def save(path: Path, nodes: list[Any], width: int, initializers: list[Any]) -> str:
    graph = helper.make_graph(
        nodes,
        path.stem,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", width])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", width])],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return str(path)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("models")
    double = save(folder / "double.onnx", [helper.make_node("Add", ["x", "x"], ["y"])], 4, [])
    # Twelve 512 x 512 products in a row: a few milliseconds on one host core.
    w = np.random.default_rng(1).standard_normal((512, 512)).astype(np.float32) / 23.0
    chain = [
        helper.make_node("MatMul", ["x" if i == 0 else f"h{i}", "W"], [f"h{i + 1}"])
        for i in range(12)
    ]
    chain[-1].output[0] = "y"
    heavy = save(folder / "heavy.onnx", chain, 512, [numpy_helper.from_array(w, "W")])
    return {"double": double, "heavy": heavy}


def host_ms(path: str, x: np.ndarray) -> float:
    """The host's own time for one inference (median of 15, after a warm-up)."""
    session = make_session(path)
    session.run(None, {"x": x})
    runs = []
    for _ in range(15):
        start = time.perf_counter()
        session.run(None, {"x": x})
        runs.append((time.perf_counter() - start) * 1e3)
    return statistics.median(runs)


class Rig:
    """A satellite host on an event loop of its own (a thread), reached over gRPC."""

    def __init__(self, configs: list[NodeConfig]) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        threshold = gc.get_threshold()
        self.host = SatelliteHost(HostConfig("acc", tuple(configs)))
        self.addresses = self.run(self.host.start())
        gc.set_threshold(*threshold)  # the host tunes the collector for serving
        gc.unfreeze()
        self.channels: dict[str, grpc.Channel] = {}

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60.0)

    def stub(self, sid: str) -> pbg.GRPCInferenceServiceStub:
        address = self.addresses[sid]
        if address not in self.channels:
            self.channels[address] = grpc.insecure_channel(address)
        return pbg.GRPCInferenceServiceStub(self.channels[address])

    def request(self, model: str, x: np.ndarray) -> pb.ModelInferRequest:
        return pb.ModelInferRequest(
            model_name=model,
            inputs=[
                pb.ModelInferRequest.InferInputTensor(name="x", datatype="FP32", shape=x.shape)
            ],
            raw_input_contents=[np.ascontiguousarray(x, dtype=np.float32).tobytes()],
        )

    def empty_call_ms(self, sid: str) -> float:
        """One empty ``ServerLive`` round trip to the satellite's server (the floor)."""
        start = time.perf_counter()
        self.stub(sid).ServerLive(pb.ServerLiveRequest(), timeout=10)
        return (time.perf_counter() - start) * 1e3

    def status(self, sid: str) -> satellite_pb2.SatelliteStatus:
        stub = satg.SatelliteStub(self.channels[self.addresses[sid]])
        status: satellite_pb2.SatelliteStatus = stub.Status(satellite_pb2.StatusRequest())
        return status

    def close(self) -> None:
        for channel in self.channels.values():
            channel.close()
        self.run(self.host.stop(0.5))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5.0)


@pytest.fixture(scope="module")
def base_config() -> NodeConfig:
    engine = GeometryEngine(load_scenario("demo"))
    clock = SimClock.starting_now(engine.start, 1.0)
    chosen = list(engine.catalog.compute_indices)[:1]
    return node_configs(engine, clock, satellites=chosen, duration_s=600.0)[0]


@pytest.fixture
def rig_for(base_config: NodeConfig, models: dict[str, str]) -> Iterator[Any]:
    rigs: list[Rig] = []

    def make(profile: Accelerator, *, queue_depth: int = 16, concurrency: int = 1) -> Rig:
        power = dataclasses.replace(
            base_config.power,
            compute_w=profile.active_w,
            compute_idle_w=profile.idle_w,
            battery_wh=10_000.0,  # a data-centre satellite's, not a CubeSat's
            solar_w=2_000.0,
        )
        config = dataclasses.replace(
            base_config,
            clock=SimClock.starting_now(base_config.clock.start, 1.0),
            models=dict(models),
            power=power,
            node=dataclasses.replace(
                base_config.node, queue_depth=queue_depth, max_concurrency=concurrency
            ),
            accelerator=profile,
        )
        rig = Rig([config])
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        rig.close()


def h100_like(**latency_ms: float) -> Accelerator:
    h100 = BUILTIN_ACCELERATORS["h100"]
    return dataclasses.replace(h100, name="h100-test", latency_ms=latency_ms, launch_ms=0.0)


def test_a_host_ten_times_slower_than_the_profile_is_counted_late(
    rig_for: Any, models: dict[str, str], base_config: NodeConfig
) -> None:
    x = np.random.default_rng(2).standard_normal((1, 512)).astype(np.float32)
    own_ms = host_ms(models["heavy"], x)
    rig = rig_for(h100_like(heavy=own_ms / 10.0))
    sid = base_config.satellite_id
    late_ms = []
    for _ in range(5):
        response = rig.stub(sid).ModelInfer(rig.request("heavy", x), timeout=10)
        params = response.parameters
        # The time reported is the profile's; how late the outputs came is said beside.
        assert params[Param.INFERENCE_MS].double_param == pytest.approx(own_ms / 10.0)
        late_ms.append(params[Param.LATE_MS].double_param)
    status = rig.status(sid)
    assert status.accelerator == "h100-test"
    assert status.late_inferences == 5
    assert status.late_by.count == 5
    # Each came about 0.9 of the host's time after the modelled finish.
    assert statistics.median(late_ms) > 0.5 * own_ms
    assert status.late_by.sum_s == pytest.approx(sum(late_ms) / 1e3, rel=1e-6)


def test_a_host_faster_than_the_profile_replies_at_the_modelled_time(
    rig_for: Any, base_config: NodeConfig
) -> None:
    profile = h100_like(double=50.0)  # 50 ms an item: far above the host's few us
    rig = rig_for(profile)
    sid = base_config.satellite_id
    x = np.ones((1, 4), dtype=np.float32)
    rig.stub(sid).ModelInfer(rig.request("double", x), timeout=10)  # channel, first run
    took_ms = []
    above_floor_ms = []
    energy = []
    for _ in range(6):
        floor_ms = rig.empty_call_ms(sid)
        start = time.perf_counter()
        response = rig.stub(sid).ModelInfer(rig.request("double", x), timeout=10)
        took_ms.append((time.perf_counter() - start) * 1e3)
        above_floor_ms.append(took_ms[-1] - 50.0 - floor_ms)
        params = response.parameters
        assert params[Param.INFERENCE_MS].double_param == pytest.approx(50.0)
        assert Param.LATE_MS not in params
        energy.append(params[Param.COMPUTE_ENERGY_WH].double_param)
    # The reply leaves at the modelled finish: never before 50 ms, and after it by about
    # what an empty call to the same server takes just before (the emulation's p50 bound
    # is that floor + 1 ms; a median of six is held to floor + 5 ms).
    assert min(took_ms) >= 50.0
    assert statistics.median(above_floor_ms) < 5.0, (took_ms, above_floor_ms)
    # Each inference spends the profile's busy power for its modelled time.
    assert energy == pytest.approx([700.0 * 0.05 / 3600.0] * 6)
    status = rig.status(sid)
    assert status.late_inferences == 0
    ledger = status.energy
    busy_s = 7 * 0.05
    # Busy at 700 W for the modelled 0.35 s (the host's own time does not count), idle at
    # 70 W the rest of the time the books cover (the base load's span): the compute line
    # holds exactly that split.
    span_s = (ledger.base_load_wh / base_config.power.base_load_w) * 3600.0
    expected_wh = (700.0 * busy_s + 70.0 * (span_s - busy_s)) / 3600.0
    assert ledger.compute_wh == pytest.approx(expected_wh, rel=0.02)
    inflow = ledger.solar_in_wh + ledger.unmet_wh
    outflow = ledger.base_load_wh + ledger.compute_wh + ledger.radio_wh + ledger.clipped_wh
    assert inflow - outflow == pytest.approx(ledger.stored_delta_wh, abs=1e-9)


def test_the_queue_follows_the_modelled_times(rig_for: Any, base_config: NodeConfig) -> None:
    # One at a time, 200 ms each, room for three: of six sent at once, three are refused
    # and the others finish 200 ms apart, though the host needs microseconds for each.
    rig = rig_for(h100_like(double=200.0), queue_depth=3, concurrency=1)
    sid = base_config.satellite_id
    x = np.ones((1, 4), dtype=np.float32)
    stub = rig.stub(sid)
    start = time.perf_counter()
    futures: list[Future[Any]] = [
        stub.ModelInfer.future(rig.request("double", x), timeout=10) for _ in range(6)
    ]
    done_ms: list[float] = []
    causes: list[str] = []
    queued_ms: list[float] = []
    for future in futures:
        try:
            response = future.result()
        except grpc.RpcError as err:
            call: Any = err
            causes.append(dict(call.trailing_metadata() or ()).get(CAUSE_METADATA_KEY, ""))
            continue
        done_ms.append((time.perf_counter() - start) * 1e3)
        queued_ms.append(response.parameters[Param.QUEUE_MS].double_param)
    assert causes == ["queue"] * 3
    done_ms.sort()
    queued_ms.sort()
    assert done_ms[0] >= 200.0 and done_ms[-1] >= 600.0
    assert done_ms[-1] < 600.0 + 60.0
    assert queued_ms == pytest.approx([0.0, 200.0, 400.0], abs=15.0)


# --------------------------------------------------------------------------- GPU


def cuda_present() -> bool:
    import onnxruntime

    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        return False
    session = make_session(
        helper.make_model(
            helper.make_graph(
                [helper.make_node("Add", ["x", "x"], ["y"])],
                "probe",
                [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
            ),
            opset_imports=[helper.make_opsetid("", 13)],
            ir_version=8,
        ).SerializeToString(),
        provider="cuda",
    )
    return bool(session.get_providers()[0] == "CUDAExecutionProvider")


def test_cuda_without_its_provider_says_so_and_runs_on_the_cpu() -> None:
    import onnxruntime

    assert providers_for("cpu") == (["CPUExecutionProvider"], "ONNX Runtime on the CPU")
    providers, note = providers_for("cuda")
    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        assert providers[0] == "CUDAExecutionProvider"
    else:
        assert providers == ["CPUExecutionProvider"]
        assert "install onnxruntime-gpu" in note and "running on the CPU" in note
    with pytest.raises(ValueError, match="execution_provider must be cpu or cuda"):
        providers_for("rocm")


def test_a_host_reports_where_its_sessions_run(rig_for: Any) -> None:
    rig = rig_for(h100_like())
    assert rig.host.execution.endswith("sessions on CPUExecutionProvider")


@pytest.mark.skipif(not cuda_present(), reason="needs onnxruntime-gpu and a CUDA device")
def test_sessions_on_the_gpu_answer_as_on_the_cpu(models: dict[str, str]) -> None:
    x = np.random.default_rng(5).standard_normal((4, 512)).astype(np.float32)
    cpu = make_session(models["heavy"]).run(None, {"x": x})[0]
    gpu_session = make_session(models["heavy"], provider="cuda")
    assert gpu_session.get_providers()[0] == "CUDAExecutionProvider"
    np.testing.assert_allclose(gpu_session.run(None, {"x": x})[0], cpu, rtol=1e-3, atol=1e-4)


def test_an_accelerator_that_drains_its_bus_in_one_eclipse_is_warned_of(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from orbitmesh.orchestrator.cli import main as cli_main

    # The CubeSat defaults: 92 Wh, 0.9 -> 0.3 of it usable (55.2 Wh); an H100 with the
    # 10 W bus draws 710 W: 4.7 minutes, against eclipses of up to 36.
    h100 = make_scenario({"node": {"accelerator": "h100"}})
    (line,) = h100.nodes.power_warnings(["s1"])
    assert line.startswith("shell s1: accelerator h100 draws 710 W") and "4.7 min" in line
    # A Jetson (25 W + 10 W: 95 minutes) and an H100 on a bus sized for it say nothing.
    jetson = make_scenario({"node": {"accelerator": "jetson-orin"}})
    assert jetson.nodes.power_warnings(["s1"]) == []
    sized = make_scenario({"node": {"accelerator": "h100"}, "power": {"battery_wh": 2_000.0}})
    assert sized.nodes.power_warnings(["s1"]) == []
    assert make_scenario({}).nodes.power_warnings(["s1"]) == []  # the host's own time
    # `orbitmesh validate` says it on stderr and still passes.
    examples = Path(__file__).parent.parent / "examples"
    path = tmp_path / "h100.toml"
    path.write_text(
        (examples / "semantic-search.toml")
        .read_text()
        .replace('accelerator = "jetson-orin"', 'accelerator = "h100"')
        .replace('path = "."', f'path = "{examples}"'),
        encoding="utf-8",
    )
    assert cli_main(["validate", str(path)]) == 0
    err = capsys.readouterr().err
    assert "orbitmesh: warning: shell shell1: accelerator h100 draws 710 W" in err
