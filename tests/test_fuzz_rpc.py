"""Hostile input at every RPC: two satellites, a gateway and both hosts' own services, in
this process (real gRPC servers on 127.0.0.1, real ONNX Runtime, the real data path; no
Ray).

Every call must end with a status of ours: never UNKNOWN, never INTERNAL (a bug), never an
exception's class name in the details, and a cause in the trailing metadata of every
failed inference answer. The gateway's counters must account for every request
(``requests == ok + failed by cause + in flight``), checked against what the test itself
sent and saw, not against the gateway's own arithmetic. Then one test per finding of
issue 11: malformed bytes, hostile pipelines and parameters, a burst of 2,000 calls, sizes
around the message limits, streams beyond their bounds, unexpected failures.
"""

from __future__ import annotations

import asyncio
import builtins
import dataclasses
import gc
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import grpc
import numpy as np
import pytest
from google.protobuf.descriptor import MethodDescriptor
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orbitmesh.clock import SimClock
from orbitmesh.ground.client import Client
from orbitmesh.ground.errors import RequestTooLarge, error_from_rpc
from orbitmesh.ground.gateway import GatewayConfig, GatewayServer
from orbitmesh.ground.host import GatewayHost, GatewayHostConfig
from orbitmesh.links.fleet import FleetStatus, SatelliteInfo
from orbitmesh.links.linkstate import StationLinks, TickLinks, Topology
from orbitmesh.links.linkview import LinkView
from orbitmesh.links.model import LinkParams
from orbitmesh.node.host import HostConfig, SatelliteHost
from orbitmesh.node.server import NodeConfig
from orbitmesh.orchestrator import GeometryEngine, load_scenario
from orbitmesh.orchestrator.launch import node_configs
from orbitmesh.protos.contract import (
    CANCELLED,
    CAUSE_METADATA_KEY,
    CODE_OF_CAUSE,
    MAX_PIPELINE_STAGES,
    Cause,
    Param,
)
from orbitmesh.protos.inference import grpc_service_pb2 as pb
from orbitmesh.protos.orbitmesh.v1 import (
    ground_station_pb2,
    ground_station_pb2_grpc,
    host_pb2,
    satellite_pb2,
    satellite_pb2_grpc,
)
from orbitmesh.protos.serving import CallLimits, ServerGuard, client_of, server_options
from orbitmesh.protos.tensors import DATATYPES

T = TypeVar("T")

#: The rig's message limit (satellites and gateway): small, so that requests around it
#: and around gRPC's transport limit (four times it) are cheap to build.
LIMIT_MB = 1.0
LIMIT_BYTES = int(LIMIT_MB * 2**20)
#: One-way delay of the station's ground link and of the laser link, ms.
LINK_MS = 2.0
INFER = f"/{pb.DESCRIPTOR.services_by_name['GRPCInferenceService'].full_name}/ModelInfer"

# --------------------------------------------------------------------------- what a leak is

#: Exception class names that must never reach a client: every built-in one and those
#: of the libraries and code a call passes through.
_EXCEPTION_NAMES = sorted(
    {
        name
        for name, value in vars(builtins).items()
        if isinstance(value, type)
        and issubclass(value, BaseException)
        and not issubclass(value, Warning)
    }
    | {"DecodeError", "AbortError", "AioRpcError", "RpcError", "RemoteError", "TensorError"}
)
_LEAK = re.compile(r"\b(?:" + "|".join(_EXCEPTION_NAMES) + r")\b|<class |Traceback")


def test_the_leak_check_finds_leaks() -> None:
    # The fuzz tests below rest on this pattern: it must catch what issue 11 saw.
    assert _LEAK.search("Unexpected <class 'google.protobuf.message.DecodeError'>: corrupt")
    assert _LEAK.search("KeyError: 'nope'")
    assert _LEAK.search("maximum recursion depth exceeded (RecursionError)")
    assert not _LEAK.search("malformed ModelInferRequest: Wire format was corrupt")
    assert not _LEAK.search("every reachable satellite carrying 'digits' refuses (queue)")


@dataclasses.dataclass(frozen=True)
class Answer:
    code: grpc.StatusCode
    details: str
    cause: str | None
    reply: bytes = b""

    @property
    def outcome(self) -> str:
        """As the gateway books it: "ok" or the cause."""
        return "ok" if self.code is grpc.StatusCode.OK else str(self.cause)


def _failed(err: grpc.RpcError) -> Answer:
    call: Any = err
    return Answer(
        call.code(),
        call.details() or "",
        dict(call.trailing_metadata() or ()).get(CAUSE_METADATA_KEY),
    )


def check(answer: Answer, *, inference: bool) -> None:
    """What every answer of every server must be."""
    assert answer.code not in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL), answer
    assert not _LEAK.search(answer.details), answer
    if answer.cause is not None:
        assert answer.code is grpc.StatusCode[CODE_OF_CAUSE[Cause(answer.cause)]], answer
    if inference and answer.code is not grpc.StatusCode.OK:
        assert answer.cause is not None, answer


# --------------------------------------------------------------------------- the rig


def _tick(delay_ms: float, *, ground: bool) -> TickLinks:
    """Station 0 sees satellite 0; satellites 0 and 1 share a laser link (``delay_ms``
    each), for the whole test."""
    f = np.array([delay_ms], dtype=np.float64)
    i = np.array([0], dtype=np.int32)
    links = StationLinks(i, i, np.array([60.0]), np.array([10.0]), np.array([600.0]), f)
    return TickLinks(
        0, 0.0, 1e9, i, np.array([1], np.int32), f, links if ground else StationLinks.empty()
    )


class Rig:
    """Hosts on an event loop of their own (a thread), reached with blocking clients."""

    def __init__(self, configs: list[NodeConfig]) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.sids = [c.satellite_id for c in configs]
        self.topology = Topology(
            tuple(self.sids), ("st",), np.arange(len(self.sids), dtype=np.intp), 1000.0, 1000.0
        )
        self.clock = configs[0].clock
        # The hosts tune the process's garbage collector for serving; this process is
        # pytest's, so its settings are put back.
        threshold = gc.get_threshold()
        self.sat_host = SatelliteHost(HostConfig("sats", tuple(configs), self.topology))
        self.sat_addresses = self.run(self.sat_host.start())
        self.gw_host = GatewayHost(
            GatewayHostConfig("gws", (self.gateway_config("st"),), self.topology)
        )
        self.gw_address = self.run(self.gw_host.start())["st"]
        gc.set_threshold(*threshold)
        gc.unfreeze()
        self.fleet = FleetStatus.from_infos(
            [
                SatelliteInfo(
                    sid,
                    self.sat_addresses[sid],
                    self.sat_host.datapath_address or "",
                    tuple(self.sat_host.members[sid].model_names),
                )
                for sid in self.sids
            ]
        )
        self.sat_host.publish([_tick(LINK_MS, ground=False)])
        self.gw_host.publish([_tick(LINK_MS, ground=True)])
        self.sat_host.update_fleet(self.fleet)
        self.gw_host.update_fleet(self.fleet)
        self.gateway = self.gw_host.members["st"]
        self.channels: dict[str, grpc.Channel] = {}
        #: Outcomes of the ModelInfer calls this test sent the gateway, as it saw them.
        self.seen: Counter[str] = Counter()

    def gateway_config(self, station: str, **changes: Any) -> GatewayConfig:
        config = GatewayConfig(
            station, 50.0, 8.0, 100.0, 10.0, self.clock, LinkParams(), LIMIT_BYTES
        )
        return dataclasses.replace(config, **changes)

    def run(self, coro: Coroutine[Any, Any, T], timeout_s: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def channel(self, address: str) -> grpc.Channel:
        if address not in self.channels:
            self.channels[address] = grpc.insecure_channel(address)
        return self.channels[address]

    @property
    def satellite(self) -> str:
        return self.sat_addresses[self.sids[0]]

    def unary(self, address: str, method: str, data: bytes, timeout_s: float = 20.0) -> Answer:
        call = self.channel(address).unary_unary(method)
        try:
            reply = call(data, timeout=timeout_s)
        except grpc.RpcError as err:
            answer = _failed(err)
        else:
            answer = Answer(grpc.StatusCode.OK, "", None, reply)
        if address == self.gw_address and method == INFER:
            self.seen[answer.outcome] += 1
        return answer

    def first_of_stream(
        self, address: str, method: MethodDescriptor, data: bytes, timeout_s: float = 20.0
    ) -> Answer:
        """The first message of a streaming call (or its failure); the stream is then
        cancelled."""
        channel, path = self.channel(address), _path(method)
        if method.client_streaming:
            stream = channel.stream_stream(path)(iter([data]), timeout=timeout_s)
        else:
            stream = channel.unary_stream(path)(data, timeout=timeout_s)
        try:
            reply = next(stream)
        except StopIteration:
            return Answer(grpc.StatusCode.OK, "", None)
        except grpc.RpcError as err:
            return _failed(err)
        finally:
            stream.cancel()
        return Answer(grpc.StatusCode.OK, "", None, reply)

    def infer(self, request: pb.ModelInferRequest, address: str | None = None) -> Answer:
        return self.unary(address or self.gw_address, INFER, request.SerializeToString())

    def link_stats(self, address: str | None = None) -> Any:
        stub = ground_station_pb2_grpc.GroundStationStub(self.channel(address or self.gw_address))
        return stub.LinkStats(ground_station_pb2.LinkStatsRequest(), timeout=10)

    def assert_reconciles(self) -> None:
        """The gateway's counters, read over gRPC, against what this test saw."""
        stats = self.link_stats()
        failed = dict(stats.failed_by_cause)
        assert stats.in_flight == 0
        assert stats.request_count == stats.succeeded_count + sum(failed.values())
        assert stats.request_count == sum(self.seen.values())
        assert stats.succeeded_count == self.seen["ok"]
        assert failed == {k: v for k, v in self.seen.items() if k != "ok"}

    def close(self) -> None:
        for channel in self.channels.values():
            channel.close()
        self.run(self.gw_host.stop(0))
        self.run(self.sat_host.stop(0))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def _path(method: MethodDescriptor) -> str:
    return f"/{method.containing_service.full_name}/{method.name}"


@pytest.fixture(scope="module")
def configs() -> list[NodeConfig]:
    engine = GeometryEngine(load_scenario("demo"))
    clock = SimClock.starting_now(engine.start, 1.0)
    chosen = list(engine.catalog.compute_indices)[:2]
    found = node_configs(engine, clock, satellites=chosen, duration_s=900.0)
    small = dataclasses.replace(found[0].node, max_message_mb=LIMIT_MB)
    return [dataclasses.replace(c, node=small) for c in found]


@pytest.fixture(scope="module")
def rig(configs: list[NodeConfig]) -> Iterator[Rig]:
    rig = Rig(configs)
    yield rig
    rig.close()


def digits_request(n: int = 1, parameters: dict[str, object] | None = None) -> pb.ModelInferRequest:
    """A request the digits model takes (``n`` rows), with request parameters."""
    x = np.zeros((n, 64), np.float32)
    request = pb.ModelInferRequest(
        model_name="digits",
        inputs=[
            pb.ModelInferRequest.InferInputTensor(name="input", datatype="FP32", shape=[n, 64])
        ],
        raw_input_contents=[x.tobytes()],
    )
    for key, value in (parameters or {}).items():
        if isinstance(value, bool):
            request.parameters[key].bool_param = value
        elif isinstance(value, int):
            request.parameters[key].int64_param = value
        elif isinstance(value, float):
            request.parameters[key].double_param = value
        else:
            request.parameters[key].string_param = str(value)
    return request


# --------------------------------------------------------------------------- every RPC


def _services(rig: Rig) -> list[tuple[str, MethodDescriptor, bool]]:
    """(address, method, is it the inference service) for every RPC of every server."""
    inference = pb.DESCRIPTOR.services_by_name["GRPCInferenceService"]
    health = health_pb2.DESCRIPTOR.services_by_name["Health"]
    reflection = reflection_pb2.DESCRIPTOR.services_by_name["ServerReflection"]
    host = host_pb2.DESCRIPTOR.services_by_name["Host"]
    satellite = satellite_pb2.DESCRIPTOR.services_by_name["Satellite"]
    station = ground_station_pb2.DESCRIPTOR.services_by_name["GroundStation"]
    served = [
        (rig.satellite, [inference, satellite, health, reflection]),
        (rig.gw_address, [inference, station, health, reflection]),
        (rig.sat_host.address or "", [host]),
        (rig.gw_host.address or "", [host]),
    ]
    return [
        (address, method, service is inference)
        for address, services in served
        for service in services
        for method in service.methods
    ]


def test_every_rpc_is_fuzzed(rig: Rig) -> None:
    # What "every" means, spelled out so that a new RPC cannot slip past the fuzz test.
    names = {(a, _path(m)) for a, m, _ in _services(rig)}
    assert (rig.satellite, "/orbitmesh.v1.Satellite/WatchStatus") in names
    assert (rig.gw_address, "/orbitmesh.v1.GroundStation/WatchContacts") in names
    assert (rig.gw_address, INFER) in names and (rig.satellite, INFER) in names
    assert (rig.sat_host.address, "/orbitmesh.v1.Host/Members") in names
    assert (rig.gw_host.address, "/orbitmesh.v1.Host/Members") in names
    # Inference (8), health (3) and reflection (1) on both; their own (2 and 5); hosts.
    assert len(names) == 2 * (8 + 3 + 1) + 2 + 5 + 2


def _call(rig: Rig, address: str, method: MethodDescriptor, data: bytes) -> Answer:
    if method.client_streaming or method.server_streaming:
        return rig.first_of_stream(address, method, data)
    return rig.unary(address, _path(method), data)


def test_random_bytes_at_every_rpc(rig: Rig) -> None:
    targets = _services(rig)

    @settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])
    @given(
        target=st.sampled_from(targets),
        data=st.binary(max_size=64) | st.binary(min_size=200, max_size=2000),
    )
    def probe(target: tuple[str, MethodDescriptor, bool], data: bytes) -> None:
        address, method, inference = target
        check(_call(rig, address, method, data), inference=inference)

    probe()
    rig.assert_reconciles()


# --------------------------------------------------------------------------- structured fuzz

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
_models = st.sampled_from(["digits", "digits-cnn", ""]) | st.text(max_size=10)
_stage = st.fixed_dictionaries(
    {"model": _models | _json},
    optional={
        "satellite": st.sampled_from(["shell1-0-0", "shell1-1-1"]) | _json,
        "policy": st.sampled_from(["nearest", "fastest", "power-aware"]) | _json,
        "inputs": st.dictionaries(
            st.sampled_from(["input", "x"]), st.sampled_from(["label", "probabilities", "nope"])
        )
        | _json,
        "extra": _json,
    },
)
_pipelines = (
    st.lists(_stage, max_size=MAX_PIPELINE_STAGES + 2).map(json.dumps)
    | _json.map(json.dumps)
    | st.text(max_size=30)
    | st.integers(1, 3000).map(lambda n: "[" * n + "]" * n)
    | st.integers(4000, 6000).map(lambda n: "[" + "7" * n + "]")
)
_values: dict[str, st.SearchStrategy[str]] = {
    Param.SATELLITE: st.sampled_from(["shell1-0-0", "shell1-1-1", ""]) | st.text(max_size=10),
    Param.POLICY: st.sampled_from(["nearest", "fastest", "least-loaded", "power-aware"])
    | st.text(max_size=10),
    Param.PIPELINE: _pipelines,
}


@st.composite
def _parameter(draw: st.DrawFn) -> tuple[str, Any]:
    """A request parameter: one of ours or not, holding any of the parameter types."""
    name = draw(st.sampled_from([*_values, Param.STATION, "user.x"]) | st.text(max_size=12))
    kind = draw(st.sampled_from(["string", "bool", "int64", "uint64", "double", "none"]))
    text = _values.get(name, st.text(max_size=10))
    value = {
        "string": text,
        "bool": st.booleans(),
        "int64": st.integers(-(2**63), 2**63 - 1),
        "uint64": st.integers(0, 2**64 - 1),
        "double": st.floats(),
        "none": st.none(),
    }[kind]
    return name, (kind, draw(value))


@st.composite
def _infer_requests(draw: st.DrawFn) -> pb.ModelInferRequest:
    """ModelInfer requests near valid ones (digits with a good batch) and far from them."""
    near = draw(st.booleans())
    if near:
        request = digits_request(draw(st.integers(1, 4)))
    else:
        request = pb.ModelInferRequest(model_name=draw(_models), id=draw(st.text(max_size=5)))
        for _ in range(draw(st.integers(0, 3))):
            request.inputs.add(
                name=draw(st.sampled_from(["input", "x"]) | st.text(max_size=5)),
                datatype=draw(st.sampled_from(list(DATATYPES)) | st.text(max_size=6)),
                shape=draw(
                    st.lists(
                        st.integers(-3, 70) | st.sampled_from([2**31, 2**62, 2**63 - 1]),
                        max_size=4,
                    )
                ),
            )
        request.raw_input_contents.extend(draw(st.lists(st.binary(max_size=600), max_size=3)))
    if not near:
        request.model_version = draw(st.sampled_from(["", "1", "2"]) | st.text(max_size=3))
        for name in draw(st.lists(st.sampled_from(["label", "probabilities", "nope"]), max_size=3)):
            request.outputs.add(name=name)
    for name, (kind, value) in draw(st.lists(_parameter(), max_size=4)):
        parameter = request.parameters[name]
        if kind != "none":
            setattr(parameter, f"{kind}_param", value)
    return request


def test_hypothesis_model_infer_at_the_gateway_and_a_satellite(rig: Rig) -> None:
    @settings(deadline=None, max_examples=250, suppress_health_check=[HealthCheck.too_slow])
    @given(request=_infer_requests(), at_gateway=st.booleans())
    def probe(request: pb.ModelInferRequest, at_gateway: bool) -> None:
        answer = rig.infer(request, rig.gw_address if at_gateway else rig.satellite)
        check(answer, inference=True)

    probe()
    rig.assert_reconciles()


def test_hypothesis_control_plane_and_streams(rig: Rig) -> None:
    names = st.sampled_from(["digits", "digits-cnn"]) | st.text(max_size=10)
    versions = st.sampled_from(["", "1"]) | st.text(max_size=3)
    inference = pb.DESCRIPTOR.services_by_name["GRPCInferenceService"].methods_by_name
    watch = satellite_pb2.DESCRIPTOR.services_by_name["Satellite"].methods_by_name["WatchStatus"]
    requests = st.one_of(
        st.builds(
            lambda m, n, v: (inference[m], getattr(pb, f"{m}Request")(name=n, version=v)),
            st.sampled_from(["ModelReady", "ModelMetadata", "ModelConfig", "ModelStatistics"]),
            names,
            versions,
        ),
        st.builds(
            lambda ms: (watch, satellite_pb2.WatchStatusRequest(min_interval_ms=ms)),
            st.integers(0, 2**32 - 1),
        ),
    )

    @settings(deadline=None, max_examples=120, suppress_health_check=[HealthCheck.too_slow])
    @given(request=requests, at_gateway=st.booleans())
    def probe(request: tuple[MethodDescriptor, Any], at_gateway: bool) -> None:
        method, message = request
        is_stream = method.server_streaming
        address = rig.satellite if is_stream or not at_gateway else rig.gw_address
        answer = _call(rig, address, method, message.SerializeToString())
        check(answer, inference=not is_stream)

    probe()
    rig.assert_reconciles()


# --------------------------------------------------------------------------- the findings


def test_random_bytes_to_a_gateway_are_invalid_with_a_cause(rig: Rig) -> None:
    answer = rig.unary(rig.gw_address, INFER, b"\xff\x13 not a request \x00\x99")
    assert (answer.code, answer.cause) == (grpc.StatusCode.INVALID_ARGUMENT, "invalid")
    assert answer.details.startswith("malformed ModelInferRequest")
    rig.assert_reconciles()


@pytest.mark.parametrize(
    ("pipeline", "says"),
    [
        ("[" * 1000 + "]" * 1000, "nested too deeply"),
        ('[{"model": "digits", "inputs": ["input"]}]', "inputs map names to names"),
        (
            '[{"model": "digits"}, {"model": "digits", "inputs": {"input": "nope"}}]',
            "takes output 'nope', which model 'digits' does not give",
        ),
        ('[{"model": "digits", "satellite": ["x"]}]', "satellite is a string"),
        ("[" + "7" * 5000 + "]", "not usable JSON"),
        (json.dumps([{"model": "digits"}] * (MAX_PIPELINE_STAGES + 1)), "at most 32"),
    ],
)
def test_hostile_pipelines_are_invalid_with_a_cause(rig: Rig, pipeline: str, says: str) -> None:
    request = digits_request(parameters={Param.PIPELINE: pipeline})
    answer = rig.infer(request)
    assert (answer.code, answer.cause) == (grpc.StatusCode.INVALID_ARGUMENT, "invalid"), answer
    assert says in answer.details
    rig.assert_reconciles()


@pytest.mark.parametrize(
    ("name", "value", "kind"),
    [
        (Param.SATELLITE, 7, "int64_param"),
        (Param.POLICY, True, "bool_param"),
        (Param.PIPELINE, 1.5, "double_param"),
    ],
)
def test_orbitmesh_parameters_of_another_type_are_invalid(
    rig: Rig, name: str, value: object, kind: str
) -> None:
    request = digits_request(parameters={name: value})
    for address in (rig.gw_address, rig.satellite):
        answer = rig.infer(request, address)
        if address == rig.satellite and name != Param.PIPELINE:
            # A satellite reads only the pipeline: the others are the gateway's.
            assert answer.code is grpc.StatusCode.OK
            continue
        assert (answer.code, answer.cause) == (grpc.StatusCode.INVALID_ARGUMENT, "invalid")
        assert answer.details == f"{name} must be a string_param, not {kind}"
    # An empty parameter (no value at all) is refused the same way.
    request = digits_request()
    request.parameters[Param.POLICY].Clear()
    answer = rig.infer(request)
    assert answer.details == f"{Param.POLICY} must be a string_param, not empty"
    rig.assert_reconciles()


def test_a_burst_of_2000_calls_on_one_channel_is_served_or_refused_with_a_cause(
    rig: Rig,
) -> None:
    # Issue 11: 168 of these came back CANCELLED from gRPC itself (its queue of calls not
    # yet taken by the server held 1,000, then refused at random).
    data = digits_request().SerializeToString()

    async def burst() -> list[Answer]:
        async with grpc.aio.insecure_channel(rig.gw_address) as channel:
            call = channel.unary_unary(INFER)

            async def one() -> Answer:
                try:
                    await call(data, timeout=120)
                except grpc.aio.AioRpcError as err:
                    return _failed(err)
                return Answer(grpc.StatusCode.OK, "", None)

            return await asyncio.gather(*(one() for _ in range(2000)))

    answers = asyncio.run(burst())
    for answer in answers:
        check(answer, inference=True)
        rig.seen[answer.outcome] += 1
    outcomes = Counter(a.outcome for a in answers)
    assert outcomes["ok"] > 0
    assert set(outcomes) <= {"ok", Cause.QUEUE.value}, outcomes
    rig.assert_reconciles()


def test_sizes_around_the_limits_and_their_causes(rig: Rig) -> None:
    over = digits_request(2 * LIMIT_BYTES // 256)  # 2 MiB: over the limit
    beyond = digits_request(5 * LIMIT_BYTES // 256)  # 5 MiB: over gRPC's transport limit
    for address, name in ((rig.gw_address, "station st"), (rig.satellite, "this satellite")):
        answer = rig.infer(over, address)
        assert (answer.code, answer.cause) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "too-large")
        assert f"exceeds {name}'s limit of {LIMIT_BYTES:,} bytes" in answer.details
        with pytest.raises(grpc.RpcError) as refused:
            rig.channel(address).unary_unary(INFER)(beyond.SerializeToString(), timeout=20)
        # gRPC's transport refuses it before any handler of ours: no cause, no count;
        # the client SDK still names it.
        err: Any = refused.value
        assert err.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert CAUSE_METADATA_KEY not in dict(err.trailing_metadata() or ())
        assert isinstance(error_from_rpc(err), RequestTooLarge)
    with Client.connect({"st": rig.gw_address}) as client:
        with pytest.raises(RequestTooLarge) as too_large:
            client.infer(
                "st", "digits", {"input": np.zeros((2 * LIMIT_BYTES // 256, 64), np.float32)}
            )
        assert too_large.value.cause == "too-large"
        rig.seen["too-large"] += 1
        assert client.infer("st", "digits", np.zeros((1, 64), np.float32))["label"].shape == (1,)
        rig.seen["ok"] += 1
    rig.assert_reconciles()


def _wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.01)


def test_streams_are_bounded_per_client_and_paced(rig: Rig) -> None:
    guard = rig.sat_host.members[rig.sids[0]].guard
    assert guard is not None
    limits = guard.limits
    stub = satellite_pb2_grpc.SatelliteStub(rig.channel(rig.satellite))
    request = satellite_pb2.WatchStatusRequest(min_interval_ms=50)
    _wait_for(lambda: guard.streams == 0)  # streams of earlier tests have ended
    started = time.monotonic()
    streams = [stub.WatchStatus(request) for _ in range(limits.max_streams_per_client)]
    for stream in streams:
        next(stream)  # each is open and answering
    # One more from the same client (IP address) is refused with a cause.
    extra = stub.WatchStatus(request)
    with pytest.raises(grpc.RpcError) as refused:
        next(extra)
    answer = _failed(refused.value)
    assert (answer.code, answer.cause) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "too-many-streams")
    assert f"has {limits.max_streams_per_client} streams open" in answer.details
    # The client's budget is shared: each of its streams sends at most 40/8 = 5 a second.
    client = next(iter(guard.client_streams))
    assert guard.stream_rate(client) == pytest.approx(
        limits.client_messages_per_s / limits.max_streams_per_client
    )
    got = sum(1 for _ in zip(range(limits.stream_burst + 4), streams[0], strict=False)) + 1
    elapsed_s = time.monotonic() - started
    # An upper bound only (a slow machine sends fewer): burst plus rate times time.
    assert got <= limits.stream_burst + 1 + guard.stream_rate(client) * elapsed_s
    for stream in streams:
        stream.cancel()
    _wait_for(lambda: guard.streams == 0)  # the slots come back when streams end
    assert not guard.client_streams
    again = stub.WatchStatus(request)
    assert next(again).satellite_id == rig.sids[0]
    again.cancel()

    # The gateway's contact stream is bounded the same way.
    contacts = ground_station_pb2_grpc.GroundStationStub(rig.channel(rig.gw_address))
    watch = ground_station_pb2.WatchContactsRequest()
    open_ = [contacts.WatchContacts(watch) for _ in range(limits.max_streams_per_client)]
    for stream in open_:
        assert next(stream).satellite_id == rig.sids[0]  # a rise: satellite 0 is in view
    with pytest.raises(grpc.RpcError) as refused:
        next(contacts.WatchContacts(watch))
    assert _failed(refused.value).cause == "too-many-streams"
    for stream in open_:
        stream.cancel()
    gateway_guard = rig.gateway.guard
    assert gateway_guard is not None
    _wait_for(lambda: gateway_guard.streams == 0)


def test_an_unexpected_failure_is_internal_with_a_cause_and_no_exception_name(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    inference = rig.sat_host.members[rig.sids[0]]._inference

    async def broken(*args: Any) -> Any:
        raise KeyError("a bug")

    monkeypatch.setattr(inference, "_serve", broken)
    for address in (rig.satellite, rig.gw_address):  # directly, and over the data path
        answer = rig.infer(digits_request(), address)
        assert (answer.code, answer.cause) == (grpc.StatusCode.INTERNAL, "internal"), answer
        assert not _LEAK.search(answer.details) and "a bug" not in answer.details
        assert rig.sids[0] in answer.details
    rig.assert_reconciles()


# --------------------------------------------------------------------------- the gateway's books


@pytest.fixture
def slow_gateway(rig: Rig) -> Iterator[tuple[GatewayServer, str]]:
    """A station whose ground link takes 400 ms each way, taking one call at a time."""
    view = LinkView(rig.topology)
    view.publish([_tick(400.0, ground=True)], 0.0)
    view.fleet = rig.fleet
    config = rig.gateway_config("st", limits=CallLimits(max_calls=1))
    gateway = GatewayServer(config, view=view)
    address = rig.run(gateway.start(measure_credit=False))
    yield gateway, address
    rig.run(gateway.stop(0))


def test_the_gateway_books_refused_cancelled_and_late_calls(
    rig: Rig, slow_gateway: tuple[GatewayServer, str]
) -> None:
    gateway, address = slow_gateway
    stats = gateway.stats  # read directly: a LinkStats call would be a call in progress
    data = digits_request().SerializeToString()
    call = rig.channel(address).unary_unary(INFER)
    # Past its deadline on the way: 400 ms up fit a 600 ms deadline, the reply does not.
    with pytest.raises(grpc.RpcError) as late:
        call(data, timeout=0.6)
    assert _failed(late.value).code is grpc.StatusCode.DEADLINE_EXCEEDED
    _wait_for(lambda: stats.in_flight == 0)
    # One call in progress; the next is refused by the server's bound, with a cause.
    held = call.future(data, timeout=30)
    _wait_for(lambda: stats.in_flight == 1)
    answer = rig.unary(address, INFER, data)
    assert (answer.code, answer.cause) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "too-many-calls")
    held.cancel()
    _wait_for(lambda: stats.in_flight == 0)
    assert stats.requests == 3 and stats.succeeded == 0
    assert dict(stats.failed) == {"deadline": 1, "too-many-calls": 1, CANCELLED: 1}


# --------------------------------------------------------------------------- the guard alone


class _Probe:
    """Handlers for a bare server behind a ServerGuard."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.fail = asyncio.Event()
        self.running = 0

    async def hold(self, request: bytes, context: Any) -> bytes:
        self.running += 1
        await self.release.wait()
        return request

    async def broken(self, request: bytes, context: Any) -> bytes:
        raise KeyError("a bug")

    async def stream(self, request: bytes, context: Any) -> Any:
        yield b"first"
        await self.fail.wait()
        raise ZeroDivisionError("a bug")


def test_the_guard_bounds_calls_and_streams_and_hides_failures() -> None:
    limits = CallLimits(max_calls=2, max_streams=2)

    async def main() -> None:
        probe = _Probe()
        server = grpc.aio.server(options=server_options(1024, limits))
        guard = ServerGuard(server, limits)
        unary, stream = grpc.unary_unary_rpc_method_handler, grpc.unary_stream_rpc_method_handler
        guard.add_service(
            "t.Probe",
            {
                "Hold": unary(probe.hold),
                "Broken": unary(probe.broken),
                "Stream": stream(probe.stream),
            },
        )
        # Generic handlers (what generated code registers besides) pass the guard too.
        guard.add_generic_rpc_handlers(
            (
                grpc.method_handlers_generic_handler(
                    "t.Generic",
                    {
                        "Parse": unary(
                            probe.hold,
                            request_deserializer=health_pb2.HealthCheckRequest.FromString,
                        )
                    },
                ),
            )
        )
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:

            async def answer(method: str, data: bytes = b"x") -> Answer:
                try:
                    reply = await channel.unary_unary(method)(data, timeout=10)
                except grpc.aio.AioRpcError as err:
                    return _failed(err)
                return Answer(grpc.StatusCode.OK, "", None, reply)

            held = [asyncio.ensure_future(answer("/t.Probe/Hold")) for _ in range(2)]
            while probe.running < 2:
                await asyncio.sleep(0.01)
            refused = await answer("/t.Probe/Hold")
            assert (refused.code, refused.cause) == (
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                "too-many-calls",
            )
            probe.release.set()
            assert [a.reply for a in await asyncio.gather(*held)] == [b"x", b"x"]
            assert guard.calls == 0 and guard.refused["too-many-calls"] == 1

            bug = await answer("/t.Probe/Broken")
            assert (bug.code, bug.cause) == (grpc.StatusCode.INTERNAL, "internal")
            assert not _LEAK.search(bug.details) and "a bug" not in bug.details

            malformed = await answer("/t.Generic/Parse", b"\xff\xff")
            assert (malformed.code, malformed.cause) == (
                grpc.StatusCode.INVALID_ARGUMENT,
                "invalid",
            )

            streams = [channel.unary_stream("/t.Probe/Stream")(b"x") for _ in range(2)]
            assert [await s.read() for s in streams] == [b"first", b"first"]
            streams.append(channel.unary_stream("/t.Probe/Stream")(b"x"))
            with pytest.raises(grpc.aio.AioRpcError) as full:
                await streams[2].read()
            assert _failed(full.value).cause == "too-many-streams"
            assert "this server has 2 streams open" in (full.value.details() or "")
            # The handler fails after its first message: INTERNAL, with a cause.
            probe.fail.set()
            with pytest.raises(grpc.aio.AioRpcError) as failed:
                await streams[0].read()
            late = _failed(failed.value)
            assert (late.code, late.cause) == (grpc.StatusCode.INTERNAL, "internal")
            assert not _LEAK.search(late.details)
            for s in streams:
                s.cancel()
        await server.stop(0)
        assert guard.streams == 0

    asyncio.run(main())


@pytest.mark.parametrize(
    ("peer", "client"),
    [
        ("ipv4:127.0.0.1:50123", "ipv4:127.0.0.1"),
        ("ipv6:[::1]:50123", "ipv6:[::1]"),
        ("unix:/tmp/orbitmesh.sock", "unix:/tmp/orbitmesh.sock"),
    ],
)
def test_a_client_is_its_address_without_the_port(peer: str, client: str) -> None:
    assert client_of(peer) == client
