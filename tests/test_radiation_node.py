"""Radiation on running satellites: upsets, latch-ups and dose as a satellite lives them.

Real satellite hosts in this process (real gRPC servers on 127.0.0.1, real ONNX Runtime,
no Ray), each satellite on a simulated clock the test sets. The reference for *when*
something happens is the pure model (node/radiation.py, tested on its own in
tests/test_radiation.py), called here with bit counts worked out by hand; the reference
for *what* an answer should be is plain numpy. Two small models make every bit visible:

- ``double``: ``y = x + x`` with no weights at all, so only output upsets touch it;
- ``linear``: ``y = x @ W``, W 64 x 1 in float32 with every value in [0.25, 0.5): asked
  with the 64 x 64 identity, it answers W itself, bit for bit (each row sums one weight
  and 63 exact zeros), so every flipped weight bit shows in the answer. Exponent 125
  (0b01111101) is two flips away from 255, so no single flip makes an infinity.

The satellites are two of the demo constellation's over its first half hour, which they
spend outside the South Atlantic Anomaly and the high latitudes. The test rates are
calibrated on an equatorial orbit, where all events happen "elsewhere": the rate there
is the table's ``orbit_average`` (at its altitude), and nil in the two regions.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import itertools
import json
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import grpc
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from orbitmesh.clock import SimClock
from orbitmesh.ground.metrics import SatelliteReading, Scrape, metric_families
from orbitmesh.node.host import HostConfig, SatelliteHost
from orbitmesh.node.radiation import (
    DoseMeter,
    RadiationEvent,
    RadiationParams,
    RegionalRate,
    Track,
    radiation_events,
    region_of,
)
from orbitmesh.node.server import NodeConfig
from orbitmesh.orchestrator import GeometryEngine, load_scenario
from orbitmesh.orchestrator.launch import node_configs
from orbitmesh.protos.contract import CAUSE_METADATA_KEY, Param
from orbitmesh.protos.inference import grpc_service_pb2 as pb
from orbitmesh.protos.inference import grpc_service_pb2_grpc as pbg
from orbitmesh.protos.orbitmesh.v1 import host_pb2, host_pb2_grpc, satellite_pb2
from orbitmesh.protos.orbitmesh.v1 import satellite_pb2_grpc as satg
from orbitmesh.protos.tensors import decode_outputs

T = TypeVar("T")

#: The satellites' ephemerides cover the run and 60 s more.
RUN_S = 1800.0
TRACK_END_S = RUN_S + 60.0
#: Bits a weight upset of ``linear`` is drawn among (64 float32), and the bits of the
#: output buffers: ``linear`` answers one float32 per item, ``double`` four.
LINEAR_WEIGHT_BITS = 64 * 32
LINEAR_OUTPUT_BITS = 1 * 32
DOUBLE_OUTPUT_BITS = 4 * 32


def flat(per_day: float) -> RegionalRate:
    """A rate seen on an equatorial orbit at 550 km, all of it outside both regions."""
    return RegionalRate(
        orbit_average=per_day,
        altitude_km=550.0,
        inclination_deg=0.0,
        saa_share=0.0,
        polar_share=0.0,
    )


def params(
    *, upsets_per_bit_day: float, latchups_per_day: float = 0.0, seed: int = 7, **more: Any
) -> RadiationParams:
    return RadiationParams(
        enabled=True,
        seed=seed,
        upsets_per_bit_day=flat(upsets_per_bit_day),
        latchups_per_day=flat(latchups_per_day),
        **more,
    )


# --------------------------------------------------------------------------- models


def save_model(path: Path, node: Any, inputs: list[Any], initializers: list[Any]) -> Path:
    graph = helper.make_graph(
        [node],
        path.stem,
        inputs,
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", None])],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


#: The weights of ``linear``: every value in [0.25, 0.5), exponent 125.
WEIGHTS = np.random.default_rng(3).uniform(0.25, 0.5, size=(64, 1)).astype(np.float32)
IDENTITY = np.eye(64, dtype=np.float32)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("models")
    x4 = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])
    x64 = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 64])
    double = save_model(
        folder / "double.onnx", helper.make_node("Add", ["x", "x"], ["y"]), [x4], []
    )
    linear = save_model(
        folder / "linear.onnx",
        helper.make_node("MatMul", ["x", "W"], ["y"]),
        [x64],
        [numpy_helper.from_array(WEIGHTS, "W")],
    )
    return {"double": str(double), "linear": str(linear)}


@pytest.fixture(scope="module")
def demo_configs() -> list[NodeConfig]:
    engine = GeometryEngine(load_scenario("demo"))
    clock = SimClock.starting_now(engine.start, 1.0)
    chosen = list(engine.catalog.compute_indices)[:2]
    return node_configs(engine, clock, satellites=chosen, duration_s=RUN_S)


def test_the_test_satellites_stay_outside_both_regions(demo_configs: list[NodeConfig]) -> None:
    # What the flat rates above rest on: the whole track is "elsewhere".
    for config in demo_configs:
        track = Track.from_ephemeris(config.ephemeris)
        assert track.times_s[-1] == pytest.approx(TRACK_END_S)
        assert not np.any(region_of(RadiationParams(), track.lat_deg, track.lon_deg))


def configure(
    config: NodeConfig, models: dict[str, str], names: tuple[str, ...], radiation: RadiationParams
) -> NodeConfig:
    return dataclasses.replace(config, models={n: models[n] for n in names}, radiation=radiation)


def reference_events(
    config: NodeConfig, radiation: RadiationParams, *, weight_bits: int, output_bits: int
) -> list[RadiationEvent]:
    return radiation_events(
        radiation,
        Track.from_ephemeris(config.ephemeris),
        satellite_id=config.satellite_id,
        weight_bits=weight_bits,
        output_bits=output_bits,
    )


def times(events: list[RadiationEvent], kind: str) -> list[float]:
    return [e.time_s for e in events if e.kind == kind]


# --------------------------------------------------------------------------- the rig


class FakeClock:
    """Simulated seconds since the scenario start, as the test sets them."""

    def __init__(self) -> None:
        self.t_s = 0.0

    def __call__(self) -> float:
        return self.t_s


@dataclasses.dataclass(frozen=True)
class Answer:
    code: grpc.StatusCode
    details: str = ""
    cause: str | None = None
    outputs: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    parameters: dict[str, Any] = dataclasses.field(default_factory=dict)


class Rig:
    """A satellite host on an event loop of its own (a thread), every member on one
    fake simulated clock, reached over gRPC with blocking clients."""

    def __init__(self, configs: list[NodeConfig]) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.clock = FakeClock()
        # The host tunes the process's garbage collector for serving; this process is
        # pytest's, so its settings are put back.
        threshold = gc.get_threshold()
        self.host = SatelliteHost(HostConfig("rad", tuple(configs)))
        self.addresses = self.run(self.host.start())
        gc.set_threshold(*threshold)
        gc.unfreeze()
        for member in self.host.members.values():
            member.state.start_clock(self.clock, 1.0)
        self.channels: dict[str, grpc.Channel] = {}

    def run(self, coro: Coroutine[Any, Any, T], timeout_s: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def channel(self, address: str) -> grpc.Channel:
        if address not in self.channels:
            self.channels[address] = grpc.insecure_channel(address)
        return self.channels[address]

    def at(self, t_s: float) -> Rig:
        self.clock.t_s = t_s
        return self

    def infer(self, sid: str, model: str, x: np.ndarray, *, report: Any = True) -> Answer:
        request = pb.ModelInferRequest(
            model_name=model,
            inputs=[
                pb.ModelInferRequest.InferInputTensor(name="x", datatype="FP32", shape=x.shape)
            ],
            raw_input_contents=[np.ascontiguousarray(x, dtype=np.float32).tobytes()],
        )
        if isinstance(report, bool):
            request.parameters[Param.REPORT_UPSETS].bool_param = report
        elif report is not None:
            request.parameters[Param.REPORT_UPSETS].string_param = str(report)
        stub = pbg.GRPCInferenceServiceStub(self.channel(self.addresses[sid]))
        try:
            response = stub.ModelInfer(request, timeout=30)
        except grpc.RpcError as err:
            call: Any = err
            return Answer(
                call.code(),
                call.details() or "",
                dict(call.trailing_metadata() or ()).get(CAUSE_METADATA_KEY),
            )
        parameters = {
            k: getattr(v, v.WhichOneof("parameter_choice")) for k, v in response.parameters.items()
        }
        return Answer(grpc.StatusCode.OK, outputs=decode_outputs(response), parameters=parameters)

    def status(self, sid: str) -> satellite_pb2.SatelliteStatus:
        stub = satg.SatelliteStub(self.channel(self.addresses[sid]))
        status: satellite_pb2.SatelliteStatus = stub.Status(
            satellite_pb2.StatusRequest(), timeout=10
        )
        return status

    def vitals(self) -> host_pb2.SatelliteVitals:
        stub = host_pb2_grpc.HostStub(self.channel(self.host.address or ""))
        reply: host_pb2.HostMembers = stub.Members(host_pb2.MembersRequest(brief=True), timeout=10)
        return reply.vitals

    def reboot(self, sid: str, reset: str) -> None:
        self.run(self.host.stop_member(sid, 0.0))
        self.addresses[sid] = self.run(self.host.start_member(sid, reset))  # type: ignore[arg-type]
        self.host.members[sid].state.start_clock(self.clock, 1.0)

    def close(self) -> None:
        if self.thread.is_alive() is False:
            return
        for channel in self.channels.values():
            channel.close()
        self.run(self.host.stop(0))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def rig_of() -> Iterator[Callable[[list[NodeConfig]], Rig]]:
    rigs: list[Rig] = []

    def make(configs: list[NodeConfig]) -> Rig:
        rigs.append(Rig(configs))
        return rigs[-1]

    yield make
    for rig in rigs:
        rig.close()


def differing_bits(a: np.ndarray, b: np.ndarray) -> list[tuple[int, int]]:
    """(flat index, bit) of every bit where two float32 arrays differ."""
    xor = a.astype(np.float32).reshape(-1).view(np.uint32) ^ b.astype(np.float32).reshape(-1).view(
        np.uint32
    )
    return [(int(i), bit) for i in np.flatnonzero(xor) for bit in range(32) if xor[i] >> bit & 1]


def midpoints(edges: list[float]) -> list[float]:
    return [(a + b) / 2.0 for a, b in itertools.pairwise(edges)]


# --------------------------------------------------------------------------- output upsets


def test_output_upsets_flip_the_next_output_at_the_times_the_model_predicts(
    demo_configs: list[NodeConfig],
    models: dict[str, str],
    rig_of: Callable[[list[NodeConfig]], Rig],
) -> None:
    # 20 upsets per bit-day on 128 bits: one every 34 s on average.
    radiation = params(upsets_per_bit_day=20.0)
    config = configure(demo_configs[0], models, ("double",), radiation)
    sid = config.satellite_id
    # No weights: only output upsets.
    events = reference_events(config, radiation, weight_bits=0, output_bits=DOUBLE_OUTPUT_BITS)
    upsets = times(events, "output-upset")
    assert len(upsets) == len(events) >= 10
    rig = rig_of([config])
    x = np.arange(8, dtype=np.float32).reshape(2, 4) - 3.5
    clean = x + x

    before = rig.at(upsets[0] / 2.0).infer(sid, "double", x)
    assert before.code is grpc.StatusCode.OK
    assert json.loads(before.parameters[Param.UPSETS]) == []
    assert before.parameters[Param.WEIGHT_UPSETS] == 0
    assert np.array_equal(before.outputs["y"], clean)

    # One inference between each two upsets: each answer carries exactly the upsets
    # since the previous answer, each a single flipped bit where the report says.
    previous = upsets[0] / 2.0
    for t_s in midpoints(upsets)[:12]:
        expected = sum(previous < u <= t_s for u in upsets)
        answer = rig.at(t_s).infer(sid, "double", x)
        reported = json.loads(answer.parameters[Param.UPSETS])
        assert len(reported) == expected == 1
        (flip,) = reported
        assert flip["output"] == "y" and flip["satellite"] == sid
        assert differing_bits(answer.outputs["y"], clean) == [(flip["index"], flip["bit"])]
        # The upset is spent: the next output at the same instant is clean.
        again = rig.infer(sid, "double", x)
        assert json.loads(again.parameters[Param.UPSETS]) == []
        assert np.array_equal(again.outputs["y"], clean)
        previous = t_s

    # Several upsets while nobody asked: the next output carries them all.
    late = rig.at(upsets[20] + 1e-3).infer(sid, "double", x)
    waiting = sum(previous < u <= upsets[20] + 1e-3 for u in upsets)
    assert waiting >= 2
    flips = json.loads(late.parameters[Param.UPSETS])
    assert len(flips) == waiting
    changed = differing_bits(late.outputs["y"], clean)
    # Two flips of one bit would cancel: what differs is the bits flipped an odd number
    # of times.
    odd = {
        (f["index"], f["bit"])
        for f in flips
        if sum((g["index"], g["bit"]) == (f["index"], f["bit"]) for g in flips) % 2
    }
    assert set(changed) == odd

    status = rig.status(sid).radiation
    assert status.output_upset_count == sum(u <= upsets[20] + 1e-3 for u in upsets)
    assert status.weight_upset_count == 0


def test_without_the_parameter_nothing_is_said_and_a_wrong_type_is_refused(
    demo_configs: list[NodeConfig],
    models: dict[str, str],
    rig_of: Callable[[list[NodeConfig]], Rig],
) -> None:
    radiation = params(upsets_per_bit_day=20.0)
    config = configure(demo_configs[0], models, ("double",), radiation)
    sid = config.satellite_id
    rig = rig_of([config])
    x = np.ones((1, 4), np.float32)
    quiet = rig.at(100.0).infer(sid, "double", x, report=None)
    assert quiet.code is grpc.StatusCode.OK
    assert Param.UPSETS not in quiet.parameters
    assert Param.WEIGHT_UPSETS not in quiet.parameters
    wrong = rig.infer(sid, "double", x, report="yes")
    assert (wrong.code, wrong.cause) == (grpc.StatusCode.INVALID_ARGUMENT, "invalid")
    assert f"{Param.REPORT_UPSETS} must be a bool_param, not string_param" in wrong.details


def test_a_run_without_radiation_reports_no_upsets_and_no_counts(
    demo_configs: list[NodeConfig],
    models: dict[str, str],
    rig_of: Callable[[list[NodeConfig]], Rig],
) -> None:
    config = configure(demo_configs[0], models, ("double",), RadiationParams())
    sid = config.satellite_id
    rig = rig_of([config])
    answer = rig.at(900.0).infer(sid, "double", np.ones((1, 4), np.float32))
    assert json.loads(answer.parameters[Param.UPSETS]) == []
    assert rig.host.members[sid].state.radiation is None
    assert not rig.status(sid).HasField("radiation")
    assert list(rig.vitals().weight_upset_count) == [0]


# --------------------------------------------------------------------------- weight upsets


def window_start(t_s: float, scrub_s: float) -> float:
    return float(np.floor(t_s / scrub_s)) * scrub_s


def struck_in_window(weights: list[float], t_s: float, scrub_s: float) -> int:
    """Weight upsets in effect at ``t_s``: those since the last scrub."""
    start = window_start(t_s, scrub_s)
    return sum(start <= w <= t_s for w in weights)


def test_a_weight_upset_changes_this_satellites_answers_not_its_host_mates(
    demo_configs: list[NodeConfig],
    models: dict[str, str],
    rig_of: Callable[[list[NodeConfig]], Rig],
) -> None:
    # 2 upsets per bit-day on 2,048 weight bits: one every 21 s; scrubbed every 60 s.
    scrub_s = 60.0
    radiation = params(upsets_per_bit_day=2.0, scrub_interval_s=scrub_s)
    a, b = (configure(c, models, ("linear",), radiation) for c in demo_configs)
    ref = {
        c.satellite_id: reference_events(
            c, radiation, weight_bits=LINEAR_WEIGHT_BITS, output_bits=LINEAR_OUTPUT_BITS
        )
        for c in (a, b)
    }
    weights = {sid: times(events, "weight-upset") for sid, events in ref.items()}
    outputs = {sid: times(events, "output-upset") for sid, events in ref.items()}
    # A moment when a has upsets in effect, b none, and no output upset has happened
    # yet on either (so that both answers can be compared with W bit for bit).
    first_output = min(min(o, default=TRACK_END_S) for o in outputs.values())
    candidates = [
        t_s + 1e-3
        for t_s in weights[a.satellite_id]
        if t_s + 1e-3 < first_output
        and struck_in_window(weights[b.satellite_id], t_s + 1e-3, scrub_s) == 0
    ]
    assert candidates, "no moment with a struck and b clean: change the seed"
    t_s = candidates[0]
    in_effect = struck_in_window(weights[a.satellite_id], t_s, scrub_s)
    assert in_effect >= 1

    rig = rig_of([a, b])
    # Host-mates share one session per model until radiation strikes one of them.
    assert len(rig.host.sessions) == 1
    answer_a = rig.at(t_s).infer(a.satellite_id, "linear", IDENTITY)
    answer_b = rig.infer(b.satellite_id, "linear", IDENTITY)

    assert np.array_equal(answer_b.outputs["y"], WEIGHTS)
    assert answer_b.parameters[Param.WEIGHT_UPSETS] == 0
    changed = differing_bits(answer_a.outputs["y"], WEIGHTS)
    assert answer_a.parameters[Param.WEIGHT_UPSETS] == in_effect
    # Each upset flips one bit of one weight (two of one bit would cancel: a fixed
    # seed that did so would show here as fewer).
    assert len(changed) == in_effect
    assert json.loads(answer_a.parameters[Param.UPSETS]) == []  # the output itself is intact

    # The shared session is untouched: b's model is still the host's, a's its own.
    shared = rig.host.sessions[("linear", Path(models["linear"]))]
    assert rig.host.members[b.satellite_id].runtime.get("linear") is shared
    assert rig.host.members[a.satellite_id].core._upset_models["linear"][1] is not shared

    # The next scrub rewrites a's weights: a moment after it, before any new upset.
    scrubbed = window_start(t_s, scrub_s) + scrub_s
    next_upsets = [w for w in weights[a.satellite_id] if w >= scrubbed]
    clean_at = (scrubbed + next_upsets[0]) / 2.0 if next_upsets else scrubbed + 1.0
    assert struck_in_window(weights[a.satellite_id], clean_at, scrub_s) == 0
    later = rig.at(clean_at).infer(a.satellite_id, "linear", IDENTITY, report=False)
    pending = [o for o in outputs[a.satellite_id] if t_s < o <= clean_at]
    if not pending:
        assert np.array_equal(later.outputs["y"], WEIGHTS)
    assert "linear" not in rig.host.members[a.satellite_id].core._upset_models


def test_a_cold_reboot_reloads_the_weights_and_a_warm_one_keeps_them(
    demo_configs: list[NodeConfig],
    models: dict[str, str],
    rig_of: Callable[[list[NodeConfig]], Rig],
) -> None:
    radiation = params(upsets_per_bit_day=2.0)  # never scrubbed
    config = configure(demo_configs[0], models, ("linear",), radiation)
    sid = config.satellite_id
    events = reference_events(
        config, radiation, weight_bits=LINEAR_WEIGHT_BITS, output_bits=LINEAR_OUTPUT_BITS
    )
    weights, outputs = times(events, "weight-upset"), times(events, "output-upset")
    first_output = outputs[0] if outputs else TRACK_END_S
    # Two moments before any output upset, with a new weight upset between them.
    assert len([w for w in weights if w < first_output]) >= 3, "change the seed"
    t1, t2 = weights[0] + 1e-3, weights[2] - 1e-3
    assert t1 < weights[1] < t2 < first_output

    rig = rig_of([config])
    struck = rig.at(t1).infer(sid, "linear", IDENTITY)
    assert len(differing_bits(struck.outputs["y"], WEIGHTS)) == 1
    rig.reboot(sid, "warm")
    warm = rig.infer(sid, "linear", IDENTITY)
    assert np.array_equal(warm.outputs["y"], struck.outputs["y"])
    rig.reboot(sid, "cold")
    cold = rig.infer(sid, "linear", IDENTITY)
    assert np.array_equal(cold.outputs["y"], WEIGHTS)
    # Upsets after the reboot strike again (the second one's, here).
    after = rig.at(t2).infer(sid, "linear", IDENTITY)
    assert len(differing_bits(after.outputs["y"], WEIGHTS)) == 1
    assert after.parameters[Param.WEIGHT_UPSETS] == 1
    # The count is of events, reboots or not.
    assert rig.status(sid).radiation.weight_upset_count == 2


# --------------------------------------------------------------------------- latch-ups


def test_a_latch_up_refuses_node_down_for_its_window_then_serves_clean_weights(
    demo_configs: list[NodeConfig],
    models: dict[str, str],
    rig_of: Callable[[list[NodeConfig]], Rig],
) -> None:
    # A latch-up every 5 minutes on average, 50 s off each; weight upsets every 42 s.
    down_s = 50.0
    radiation = params(upsets_per_bit_day=1.0, latchups_per_day=288.0, latchup_down_s=down_s)
    config = configure(demo_configs[0], models, ("linear",), radiation)
    sid = config.satellite_id
    events = reference_events(
        config, radiation, weight_bits=LINEAR_WEIGHT_BITS, output_bits=LINEAR_OUTPUT_BITS
    )
    latchups, weights = times(events, "latch-up"), times(events, "weight-upset")
    # The first latch-up that finds upset weights, ends before the next one, and is
    # followed by a quiet moment (no new weight upset) after it ends.
    chosen = None
    for i, start in enumerate(latchups):
        end = start + down_s
        following = latchups[i + 1] if i + 1 < len(latchups) else TRACK_END_S
        before = [w for w in weights if w < start and (i == 0 or w >= latchups[i - 1] + down_s)]
        after = [w for w in weights if w >= end]
        quiet_until = min(after[0] if after else TRACK_END_S, following)
        if before and following > end and quiet_until > end:
            chosen = (start, end, (end + quiet_until) / 2.0)
            break
    assert chosen is not None, "no suitable latch-up: change the seed"
    start, end, back_at = chosen

    rig = rig_of([config])
    upset = rig.at(start - 1e-3).infer(sid, "linear", IDENTITY, report=False)
    assert not np.array_equal(upset.outputs["y"], WEIGHTS)

    refused_before = dict(rig.status(sid).refused.by_cause).get("node-down", 0)
    for t_s in (start, (start + end) / 2.0, end - 1e-3):
        answer = rig.at(t_s).infer(sid, "linear", IDENTITY)
        assert (answer.code, answer.cause) == (grpc.StatusCode.UNAVAILABLE, "node-down")
        assert "latch-up" in answer.details
        assert rig.status(sid).radiation.latched_up
    status = rig.status(sid)
    assert dict(status.refused.by_cause)["node-down"] == refused_before + 3

    served = rig.at(back_at).infer(sid, "linear", IDENTITY)
    assert served.code is grpc.StatusCode.OK
    flips = json.loads(served.parameters[Param.UPSETS])
    expected = WEIGHTS.copy().reshape(-1).view(np.uint32)
    for flip in flips:  # an output upset since the latch-up's end, if any, as reported
        expected[flip["index"]] ^= np.uint32(1 << flip["bit"])
    assert served.parameters[Param.WEIGHT_UPSETS] == 0
    assert np.array_equal(served.outputs["y"].reshape(-1).view(np.uint32), expected)
    status = rig.status(sid).radiation
    assert not status.latched_up
    assert status.latchup_count == sum(t <= back_at for t in latchups)


# --------------------------------------------------------------------------- counters


def test_counters_in_status_and_vitals_match_the_events(
    demo_configs: list[NodeConfig],
    models: dict[str, str],
    rig_of: Callable[[list[NodeConfig]], Rig],
) -> None:
    radiation = params(
        upsets_per_bit_day=2.0,
        latchups_per_day=100.0,
        latchup_down_s=10.0,
        dose_rad_per_day=flat(8.64),
    )
    configs = [configure(c, models, ("linear", "double"), radiation) for c in demo_configs]
    # Both models' weights (only linear has any) and both models' outputs.
    expected_bits = {
        "weight_bits": LINEAR_WEIGHT_BITS,
        "output_bits": LINEAR_OUTPUT_BITS + DOUBLE_OUTPUT_BITS,
    }
    rig = rig_of(configs)
    for t_s in (0.0, 400.0, 1234.5):
        rig.at(t_s)
        rig.run(rig.host.status())  # a poll now: the brief vitals answer from it
        vitals = rig.vitals()
        for row, config in enumerate(configs):
            events = reference_events(config, radiation, **expected_bits)
            counts = {
                kind: sum(e.time_s <= t_s for e in events if e.kind == kind)
                for kind in ("weight-upset", "output-upset", "latch-up")
            }
            dose = DoseMeter(radiation, Track.from_ephemeris(config.ephemeris)).dose_rad(t_s)
            found = rig.status(config.satellite_id).radiation
            assert found.weight_upset_count == counts["weight-upset"]
            assert found.output_upset_count == counts["output-upset"]
            assert found.latchup_count == counts["latch-up"]
            assert found.dose_rad == pytest.approx(dose, rel=1e-12)
            assert vitals.satellite_ids[row] == config.satellite_id
            assert vitals.weight_upset_count[row] == counts["weight-upset"]
            assert vitals.output_upset_count[row] == counts["output-upset"]
            assert vitals.latchup_count[row] == counts["latch-up"]
            assert vitals.dose_rad[row] == pytest.approx(dose, rel=1e-12)
            if t_s == 1234.5:
                assert min(counts.values()) > 0
                assert dose > 0.1


def test_the_dose_accumulates_at_the_tables_rate() -> None:
    # Hand calculation: a flat 8.64 rad/day at the table's own altitude is 1e-4 rad/s;
    # 1,000 s give 0.1 rad, whatever the satellite's track (outside both regions).
    engine = GeometryEngine(load_scenario("demo"))
    config = node_configs(
        engine,
        SimClock.starting_now(engine.start, 1.0),
        satellites=list(engine.catalog.compute_indices)[:1],
        duration_s=RUN_S,
    )[0]
    track = Track.from_ephemeris(config.ephemeris)
    altitude_km = float(np.mean(track.alt_km))
    radiation = RadiationParams(
        enabled=True,
        dose_rad_per_day=RegionalRate(
            orbit_average=8.64,
            altitude_km=altitude_km,
            inclination_deg=0.0,
            saa_share=0.0,
            polar_share=0.0,
        ),
    )
    from orbitmesh.node.upsets import SatelliteRadiation

    state = SatelliteRadiation(
        radiation, config.ephemeris, satellite_id="s", weights=(), output_bits=0
    )
    # The altitude varies by a few km along a near-circular orbit: e^(+-5/845) at most.
    assert state.counts(1000.0).dose_rad == pytest.approx(0.1, rel=0.01)


def test_metrics_expose_the_counts_and_the_dose_in_grays() -> None:
    status = satellite_pb2.SatelliteStatus(satellite_id="s")
    status.radiation.weight_upset_count = 3
    status.radiation.output_upset_count = 2
    status.radiation.latchup_count = 1
    status.radiation.dose_rad = 250.0
    status.radiation.latched_up = True
    families = {
        f.name: f for f in metric_families(Scrape(satellites=[SatelliteReading("s", status)]))
    }

    def value(name: str) -> float:
        (sample,) = [s for s in families[name].samples if not s.name.endswith("_created")]
        return float(sample.value)

    assert value("orbitmesh_satellite_weight_upsets") == 3
    assert value("orbitmesh_satellite_output_upsets") == 2
    assert value("orbitmesh_satellite_latchups") == 1
    assert value("orbitmesh_satellite_latched_up") == 1
    assert value("orbitmesh_satellite_dose_grays") == pytest.approx(2.5)  # 1 rad = 0.01 Gy
    # Without radiation, the families are there at 0 (rates exist from the start).
    bare = metric_families(
        Scrape(satellites=[SatelliteReading("s", satellite_pb2.SatelliteStatus())])
    )
    found = {f.name: [x.value for x in f.samples] for f in bare}
    assert found["orbitmesh_satellite_weight_upsets"] == [0.0]
    assert found["orbitmesh_satellite_dose_grays"] == [0.0]


# --------------------------------------------------------------------------- determinism


def run_sequence(rig: Rig, sid: str, at: list[float]) -> list[tuple[float, str, bytes]]:
    x = np.arange(4, dtype=np.float32).reshape(1, 4) + 0.5
    seen = []
    for t_s in at:
        answer = rig.at(t_s).infer(sid, "double", x)
        seen.append((t_s, answer.parameters[Param.UPSETS], answer.outputs["y"].tobytes()))
    return seen


def test_the_same_seed_gives_the_same_upsets_at_the_same_times(
    demo_configs: list[NodeConfig],
    models: dict[str, str],
    rig_of: Callable[[list[NodeConfig]], Rig],
) -> None:
    at = [float(t) for t in np.linspace(10.0, 1700.0, 40)]
    runs = []
    for seed in (7, 7, 8):
        radiation = params(upsets_per_bit_day=20.0, seed=seed)
        config = configure(demo_configs[0], models, ("double",), radiation)
        rig = rig_of([config])
        runs.append(run_sequence(rig, config.satellite_id, at))
        rig.close()
    assert runs[0] == runs[1]
    assert any(json.loads(flips) for _t, flips, _y in runs[0])
    assert runs[0] != runs[2]


# --------------------------------------------------------------------------- the pure state


def test_a_rewound_history_replays_to_the_same_state_reboots_included(
    demo_configs: list[NodeConfig],
) -> None:
    from orbitmesh.node.upsets import SatelliteRadiation, WeightTensor

    radiation = params(upsets_per_bit_day=2.0, latchups_per_day=100.0, latchup_down_s=30.0)
    config = demo_configs[0]
    state = SatelliteRadiation(
        radiation,
        config.ephemeris,
        satellite_id=config.satellite_id,
        weights=[WeightTensor("m", "W", LINEAR_WEIGHT_BITS)],
        output_bits=LINEAR_OUTPUT_BITS,
    )
    events = reference_events(
        config, radiation, weight_bits=LINEAR_WEIGHT_BITS, output_bits=LINEAR_OUTPUT_BITS
    )
    weights = times(events, "weight-upset")
    # A cold reboot between two upsets, then on to a later moment.
    reboot_at = (weights[3] + weights[4]) / 2.0
    state.advance(reboot_at)
    before_reboot = len(state.weight_upsets("m"))
    state.reboot(reboot_at, cold=True)
    assert state.weight_upsets("m") == ()
    end_s = 1500.0
    live = (state.counts(end_s), state.weight_upsets("m"), state.latched_up(end_s))
    state.rewind()
    assert state.counts(0.0).weight_upsets == sum(w <= 0.0 for w in weights)
    replayed = (state.counts(end_s), state.weight_upsets("m"), state.latched_up(end_s))
    assert replayed == live
    assert live[0].weight_upsets == sum(w <= end_s for w in weights)
    # Without the reboot the upsets before it would still be in effect (unless a
    # latch-up cleared them, which the reference says whether).
    latchups = times(events, "latch-up")
    if before_reboot and not [t for t in latchups if reboot_at < t <= end_s]:
        fresh = SatelliteRadiation(
            radiation,
            config.ephemeris,
            satellite_id=config.satellite_id,
            weights=[WeightTensor("m", "W", LINEAR_WEIGHT_BITS)],
            output_bits=LINEAR_OUTPUT_BITS,
        )
        assert len(fresh.weight_upsets("m")) == 0  # nothing before the first advance
        fresh.advance(end_s)
        assert len(fresh.weight_upsets("m")) > len(live[1])


def test_upsets_while_latched_up_are_counted_and_change_nothing(
    demo_configs: list[NodeConfig],
) -> None:
    from orbitmesh.node.upsets import SatelliteRadiation, WeightTensor

    down_s = 200.0
    radiation = params(upsets_per_bit_day=2.0, latchups_per_day=100.0, latchup_down_s=down_s)
    config = demo_configs[0]
    state = SatelliteRadiation(
        radiation,
        config.ephemeris,
        satellite_id=config.satellite_id,
        weights=[WeightTensor("m", "W", LINEAR_WEIGHT_BITS)],
        output_bits=LINEAR_OUTPUT_BITS,
    )
    events = reference_events(
        config, radiation, weight_bits=LINEAR_WEIGHT_BITS, output_bits=LINEAR_OUTPUT_BITS
    )
    latchups, weights = times(events, "latch-up"), times(events, "weight-upset")
    start = latchups[0]
    inside = [w for w in weights if start < w < start + down_s]
    assert inside, "no upset during the first latch-up: change the seed"
    end = max(start + down_s, *(t + down_s for t in latchups if start < t < start + down_s))
    probe = min(inside[-1] + 1e-3, end - 1e-3)
    down = state.latched_up(probe)
    assert down is not None and down.start_s == start
    assert state.weight_upsets("m") == ()
    assert state.take_output_upsets(probe) == []
    assert state.counts(probe).weight_upsets == sum(w <= probe for w in weights)
