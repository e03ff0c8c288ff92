"""The client SDK against small in-process fakes of a gateway's two services.

The fakes are real gRPC servers on 127.0.0.1 serving ``inference.GRPCInferenceService``
and ``orbitmesh.v1.GroundStation``; their ModelInfer decodes with node.tensors, computes
outputs from the inputs, echoes the request parameters with ``orbitmesh.*`` figures, and
fails on demand: request parameter ``test.fail`` names a cause (``"no-contact"``) or a
bare status code (``"code:UNAVAILABLE"``), ``test.sleep_s`` delays the reply.
"""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import grpc
import numpy as np
import pytest

from orbitmesh.ground.client import AsyncClient, Client, InferResult
from orbitmesh.ground.endpoints import (
    DEFAULT_ENDPOINTS_FILE,
    ENDPOINTS_ENV,
    Endpoints,
    load_endpoints,
    write_endpoints,
)
from orbitmesh.ground.errors import (
    CLASS_OF_CAUSE,
    CLASS_OF_CODE,
    CallFailed,
    DeadlineExceeded,
    EndpointsError,
    InternalError,
    InvalidInput,
    LinkDown,
    LinkLost,
    ModelNotFound,
    NoContact,
    NodeDown,
    NotFound,
    OrbitmeshError,
    Overheated,
    PowerExhausted,
    QueueFull,
    RequestTooLarge,
    ResourceExhausted,
    StationDown,
    TooManyCalls,
    TooManyStreams,
    Unauthenticated,
    Unavailable,
    UnknownStation,
    error_from_rpc,
)
from orbitmesh.protos.contract import CAUSE_METADATA_KEY, CODE_OF_CAUSE, Cause
from orbitmesh.protos.inference import grpc_service_pb2 as pb
from orbitmesh.protos.inference import grpc_service_pb2_grpc as pbg
from orbitmesh.protos.orbitmesh.v1 import ground_station_pb2 as gs
from orbitmesh.protos.orbitmesh.v1 import ground_station_pb2_grpc as gsg
from orbitmesh.protos.orbitmesh.v1 import types_pb2
from orbitmesh.protos.tensors import TensorError, TensorSpec, decode_inputs, encode_outputs

# --------------------------------------------------------------------------- the fake gateway

#: Model name -> its inputs, as a satellite would describe them.
MODELS: dict[str, dict[str, TensorSpec]] = {
    "digits": {"input": TensorSpec("input", "FP32", (-1, 4))},
    "pair": {"a": TensorSpec("a", "INT32", (-1,)), "b": TensorSpec("b", "FP64", (-1,))},
    "echo": {"text": TensorSpec("text", "BYTES", (-1,))},
}

#: What the fake reports about every reply.
FIGURES = {
    "orbitmesh.uplink_ms": 12.5,
    "orbitmesh.downlink_ms": 11.0,
    "orbitmesh.queue_ms": 0.5,
    "orbitmesh.inference_ms": 1.25,
    "orbitmesh.energy_wh": 0.002,
}


def _run_model(model: str, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    if model == "digits":
        x = feeds["input"]
        labels = np.argmax(x, axis=1).astype(np.int64)
        names = np.array([f"class-{k}".encode() for k in labels], dtype=object)
        return {"label": labels, "scores": (x * 2).astype(np.float32), "names": names}
    if model == "pair":
        return {"sum": feeds["a"] + feeds["b"], "positive": feeds["a"] > 0}
    upper = np.array([bytes(t).upper() for t in feeds["text"]], dtype=object)
    return {"upper": upper}


def _parameter(parameter: Any) -> Any:
    choice = parameter.WhichOneof("parameter_choice")
    return None if choice is None else getattr(parameter, choice)


class FakeGateway:
    """Both services of one ground station; counts what it was asked."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.last_request: Any = None
        self._lock = threading.Lock()

    def _count(self, method: str) -> None:
        with self._lock:
            self.calls[method] += 1

    def _abort(
        self, context: Any, code: grpc.StatusCode, message: str, cause: str | None
    ) -> NoReturn:
        with self._lock:
            self.failed[cause or code.name] += 1
        if cause is not None:
            context.set_trailing_metadata(((CAUSE_METADATA_KEY, cause),))
        context.abort(code, message)
        raise AssertionError("unreachable: abort raises")

    # inference.GRPCInferenceService

    def ServerLive(self, request: Any, context: Any) -> Any:  # noqa: N802 (protocol names)
        self._count("ServerLive")
        return pb.ServerLiveResponse(live=True)

    def ServerReady(self, request: Any, context: Any) -> Any:  # noqa: N802
        return pb.ServerReadyResponse(ready=True)

    def ModelReady(self, request: Any, context: Any) -> Any:  # noqa: N802
        return pb.ModelReadyResponse(ready=request.name in MODELS)

    def ServerMetadata(self, request: Any, context: Any) -> Any:  # noqa: N802
        return pb.ServerMetadataResponse(name="fake-gateway")

    def ModelConfig(self, request: Any, context: Any) -> Any:  # noqa: N802
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "not asked of a fake")

    def ModelStatistics(self, request: Any, context: Any) -> Any:  # noqa: N802
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "not asked of a fake")

    def ModelMetadata(self, request: Any, context: Any) -> Any:  # noqa: N802
        self._count("ModelMetadata")
        inputs = MODELS.get(request.name)
        if inputs is None:
            self._abort(
                context, grpc.StatusCode.NOT_FOUND, f"unknown model {request.name!r}", "not-found"
            )
        return pb.ModelMetadataResponse(
            name=request.name, inputs=[spec.metadata() for spec in inputs.values()]
        )

    def ModelInfer(self, request: Any, context: Any) -> Any:  # noqa: N802
        self._count("ModelInfer")
        self.last_request = request
        params = {name: _parameter(p) for name, p in request.parameters.items()}
        time.sleep(float(params.get("test.sleep_s", 0.0)))
        fail = params.get("test.fail")
        if isinstance(fail, str):
            if fail.startswith("code:"):
                self._abort(context, grpc.StatusCode[fail[5:]], f"forced {fail}", None)
            code = CODE_OF_CAUSE.get(Cause(fail)) if fail in {c.value for c in Cause} else None
            self._abort(
                context, grpc.StatusCode[code or "UNAVAILABLE"], f"forced cause {fail}", fail
            )
        inputs = MODELS.get(request.model_name)
        if inputs is None:
            self._abort(context, grpc.StatusCode.NOT_FOUND, "unknown model", "not-found")
        try:
            feeds = decode_inputs(request, inputs)
            tensors, raws = encode_outputs(
                _run_model(request.model_name, feeds), [o.name for o in request.outputs]
            )
        except TensorError as exc:
            self._abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc), "invalid")
        response = pb.ModelInferResponse(
            model_name=request.model_name,
            id=request.id,
            outputs=tensors,
            raw_output_contents=raws,
        )
        for name, parameter in request.parameters.items():
            response.parameters[name].CopyFrom(parameter)
        satellite = params.get("orbitmesh.satellite") or "sat-7"
        response.parameters["orbitmesh.satellite"].string_param = satellite
        # like a gateway: the path's nodes after the station
        response.parameters["orbitmesh.hops"].string_param = f"relay-1,{satellite}"
        for name, value in FIGURES.items():
            response.parameters[name].double_param = value
        return response

    # orbitmesh.v1.GroundStation

    def Info(self, request: Any, context: Any) -> Any:  # noqa: N802
        return gs.StationInfo(
            name=self.name,
            position=types_pb2.GeodeticPosition(lat_deg=48.1, lon_deg=11.6, alt_km=0.5),
            min_elevation_deg=25.0,
        )

    def Visible(self, request: Any, context: Any) -> Any:  # noqa: N802
        seen = gs.VisibleSatellite(satellite_id="sat-7", elevation_deg=40.0, range_km=800.0)
        return gs.VisibleSatellites(satellites=[seen])

    def Routes(self, request: Any, context: Any) -> Any:  # noqa: N802
        hop = types_pb2.LinkHop(from_id=self.name, to_id="sat-7", delay_ms=2.7)
        route = types_pb2.Route(source_id=self.name, destination_id="sat-7", hops=[hop])
        return gs.RouteTable(routes=[route])

    def LinkStats(self, request: Any, context: Any) -> Any:  # noqa: N802
        with self._lock:
            reply = gs.LinkStatsReply(request_count=self.calls["ModelInfer"])
            for cause, count in self.failed.items():
                reply.failed_by_cause[cause] = count
        return reply

    def WatchContacts(self, request: Any, context: Any) -> Iterator[Any]:  # noqa: N802
        yield gs.ContactEvent(satellite_id="sat-7", kind=gs.CONTACT_KIND_RISE)


@dataclass
class Gateway:
    fake: FakeGateway
    address: str


@pytest.fixture(scope="module")
def gateways() -> Iterator[dict[str, Gateway]]:
    servers: list[Any] = []
    found: dict[str, Gateway] = {}
    for name in ("munich", "sydney"):
        fake = FakeGateway(name)
        server = grpc.server(ThreadPoolExecutor(max_workers=4), options=[("grpc.so_reuseport", 0)])
        pbg.add_GRPCInferenceServiceServicer_to_server(fake, server)
        gsg.add_GroundStationServicer_to_server(fake, server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        servers.append(server)
        found[name] = Gateway(fake, f"127.0.0.1:{port}")
    yield found
    for server in servers:
        server.stop(None)


@pytest.fixture
def client(gateways: dict[str, Gateway]) -> Iterator[Client]:
    with Client.connect({name: g.address for name, g in gateways.items()}) as c:
        yield c


def free_address() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


X = np.array([[0.0, 3.0, 1.0, 2.0], [5.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 9.0]])

#: The exception class each cause must raise, written out independently of the SDK.
EXPECTED_CLASS: dict[Cause, type[CallFailed]] = {
    Cause.NO_CONTACT: NoContact,
    Cause.LINK_LOST: LinkLost,
    Cause.NODE_DOWN: NodeDown,
    Cause.LINK_DOWN: LinkDown,
    Cause.STATION_DOWN: StationDown,
    Cause.POWER: PowerExhausted,
    Cause.THERMAL: Overheated,
    Cause.QUEUE: QueueFull,
    Cause.TOO_LARGE: RequestTooLarge,
    Cause.TOO_MANY_CALLS: TooManyCalls,
    Cause.TOO_MANY_STREAMS: TooManyStreams,
    Cause.NOT_FOUND: NotFound,
    Cause.INVALID: InvalidInput,
    Cause.DEADLINE: DeadlineExceeded,
    Cause.INTERNAL: InternalError,
}

#: The class for a failure without a cause, by status code.
CODE_ONLY: dict[str, type[CallFailed]] = {
    "UNAVAILABLE": Unavailable,
    "RESOURCE_EXHAUSTED": ResourceExhausted,
    "NOT_FOUND": NotFound,
    "INVALID_ARGUMENT": InvalidInput,
    "DEADLINE_EXCEEDED": DeadlineExceeded,
    "INTERNAL": InternalError,
    "UNAUTHENTICATED": Unauthenticated,
    "UNKNOWN": InternalError,
    "UNIMPLEMENTED": InternalError,
    "PERMISSION_DENIED": InternalError,
}


# --------------------------------------------------------------------------- inference


def test_a_bare_array_goes_to_the_models_only_input(
    client: Client, gateways: dict[str, Gateway]
) -> None:
    fake = gateways["munich"].fake
    before = fake.calls["ModelMetadata"]
    result = client.infer("munich", "digits", X)  # float64, sent as the model's FP32
    np.testing.assert_array_equal(result["label"], [1, 0, 3])
    assert result["label"].dtype == np.int64
    np.testing.assert_array_equal(result["scores"], (X * 2).astype(np.float32))
    assert result["scores"].dtype == np.float32 and result["scores"].shape == (3, 4)
    assert result["names"].dtype == object
    assert result["names"].tolist() == [b"class-1", b"class-0", b"class-3"]
    sent = fake.last_request.inputs[0]
    assert (sent.name, sent.datatype, list(sent.shape)) == ("input", "FP32", [3, 4])
    assert len(fake.last_request.raw_input_contents) == 1

    client.infer("munich", "digits", X[:1].tolist())
    client.infer("munich", "digits", X.astype(np.float32))
    assert fake.calls["ModelMetadata"] == before + 1  # fetched once, then cached

    sydney = gateways["sydney"].fake.calls["ModelMetadata"]
    client.infer("sydney", "digits", X)
    assert gateways["sydney"].fake.calls["ModelMetadata"] == sydney + 1  # per station

    client.model_metadata("munich", "digits")  # always asks
    assert fake.calls["ModelMetadata"] == before + 2


def test_a_mapping_is_sent_as_named_inputs_typed_by_dtype(
    client: Client, gateways: dict[str, Gateway]
) -> None:
    fake = gateways["munich"].fake
    before = fake.calls["ModelMetadata"]
    a = np.array([1, -2, 3], dtype=np.int32)
    b = np.array([0.5, 0.25, 0.0])
    result = client.infer("munich", "pair", {"a": a, "b": b})
    np.testing.assert_array_equal(result["sum"], a + b)
    assert result["sum"].dtype == np.float64
    assert result["positive"].dtype == np.bool_
    assert result["positive"].tolist() == [True, False, True]
    assert [(t.name, t.datatype) for t in fake.last_request.inputs] == [
        ("a", "INT32"),
        ("b", "FP64"),
    ]
    assert fake.calls["ModelMetadata"] == before  # a mapping needs no metadata

    text = client.infer("munich", "echo", {"text": np.array(["ab", "grüß"])})
    assert text["upper"].tolist() == [b"AB", "grüß".encode().upper()]
    assert client.infer("munich", "echo", np.array([b"x", b""], dtype=object))[
        "upper"
    ].tolist() == [b"X", b""]


def test_requested_outputs_and_the_result_fields(client: Client) -> None:
    result = client.infer("sydney", "digits", X, outputs=["label"], request_id="r-42")
    assert isinstance(result, InferResult)
    assert list(result.outputs) == ["label"]
    assert result.model == "digits"
    assert result.id == "r-42"
    assert result.station == "sydney"
    assert result.satellite == "sat-7"
    assert result.hops == ("relay-1", "sat-7")
    assert result.uplink_ms == 12.5
    assert result.downlink_ms == 11.0
    assert result.queue_ms == 0.5
    assert result.inference_ms == 1.25
    assert result.energy_wh == 0.002
    assert 0 < result.latency_ms < 5000
    assert result.parameters["orbitmesh.satellite"] == "sat-7"
    with pytest.raises(KeyError, match="outputs: label"):
        result["scores"]
    with pytest.raises(ValueError, match="read-only"):
        result["label"][0] = 9


def test_parameters_are_sent(client: Client, gateways: dict[str, Gateway]) -> None:
    pipeline = [{"model": "digits", "satellite": "sat-1"}, {"model": "digits-cnn"}]
    result = client.infer(
        "munich",
        "digits",
        X,
        satellite="sat-3",
        policy="nearest",
        pipeline=pipeline,
        parameters={"user.flag": True, "user.n": 7, "user.big": 2**63, "user.f": 0.5},
    )
    sent = {n: _parameter(p) for n, p in gateways["munich"].fake.last_request.parameters.items()}
    assert sent["orbitmesh.satellite"] == "sat-3"
    assert sent["orbitmesh.policy"] == "nearest"
    assert json.loads(sent["orbitmesh.pipeline"]) == pipeline
    assert sent["user.flag"] is True and sent["user.n"] == 7 and sent["user.f"] == 0.5
    assert sent["user.big"] == 2**63
    assert result.satellite == "sat-3"
    assert result.hops[-1] == "sat-3"
    assert result.parameters["orbitmesh.policy"] == "nearest"
    assert result.parameters["user.n"] == 7

    plain = client.infer("munich", "digits", X)
    sent = gateways["munich"].fake.last_request.parameters
    assert not {"orbitmesh.satellite", "orbitmesh.policy", "orbitmesh.pipeline"} & set(sent)
    assert plain.satellite == "sat-7"


# --------------------------------------------------------------------------- failures


def test_every_cause_has_its_class_below_the_class_of_its_code() -> None:
    assert set(EXPECTED_CLASS) == set(Cause)
    assert dict(CLASS_OF_CAUSE) == EXPECTED_CLASS
    for cause, cls in EXPECTED_CLASS.items():
        assert issubclass(cls, CLASS_OF_CODE[grpc.StatusCode[CODE_OF_CAUSE[cause]]])
    assert ModelNotFound is NotFound


@pytest.mark.parametrize("cause", list(Cause))
def test_each_cause_raises_its_exception(client: Client, cause: Cause) -> None:
    with pytest.raises(CallFailed) as info:
        client.infer("munich", "digits", X, satellite="sat-2", parameters={"test.fail": cause})
    err = info.value
    assert type(err) is EXPECTED_CLASS[cause]
    assert err.code == grpc.StatusCode[CODE_OF_CAUSE[cause]]
    assert err.cause == cause.value
    assert err.details == f"forced cause {cause.value}"
    assert (err.station, err.satellite) == ("munich", "sat-2")
    assert str(err) == f"munich -> sat-2: forced cause {cause} ({err.code.name}, {cause})"
    assert isinstance(err.__cause__, grpc.RpcError)
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is type(err) and copy.__dict__ == err.__dict__


@pytest.mark.parametrize("code", list(CODE_ONLY))
def test_a_status_code_without_a_cause_maps_by_code(client: Client, code: str) -> None:
    with pytest.raises(CallFailed) as info:
        client.infer("munich", "digits", X, parameters={"test.fail": f"code:{code}"})
    assert type(info.value) is CODE_ONLY[code]
    assert info.value.code == grpc.StatusCode[code]
    assert info.value.cause is None
    assert info.value.satellite is None


def test_an_unknown_cause_maps_by_code_and_is_kept(client: Client) -> None:
    with pytest.raises(Unavailable) as info:
        client.infer("munich", "digits", X, parameters={"test.fail": "solar-flare"})
    assert type(info.value) is Unavailable
    assert info.value.cause == "solar-flare"


def test_a_gateway_that_is_down_is_unavailable() -> None:
    with Client.connect({"gone": free_address()}) as c:
        with pytest.raises(Unavailable) as info:
            c.server_live("gone", timeout_s=5)
        assert type(info.value) is Unavailable
        assert info.value.cause is None and info.value.station == "gone"
        with pytest.raises(Unavailable):
            c.infer("gone", "digits", X, timeout_s=5)


def test_a_deadline_passing_on_the_client(client: Client) -> None:
    with pytest.raises(DeadlineExceeded) as info:
        client.infer(
            "munich",
            "pair",
            {"a": np.array([1], dtype=np.int32), "b": [2.0]},
            parameters={"test.sleep_s": 0.3},
            timeout_s=0.05,
        )
    assert info.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert info.value.cause is None


def test_invalid_input_from_the_server_and_from_the_client(
    client: Client, gateways: dict[str, Gateway]
) -> None:
    with pytest.raises(InvalidInput, match='input "input"') as info:
        client.infer("munich", "digits", np.zeros((2, 5)))  # the server refuses the shape
    assert info.value.cause == "invalid"

    sent = gateways["munich"].fake.calls["ModelInfer"]
    with pytest.raises(InvalidInput, match="takes 2 inputs"):
        client.infer("munich", "pair", np.zeros(3))
    with pytest.raises(InvalidInput, match="complex128 has no datatype"):
        client.infer("munich", "pair", {"a": np.zeros(2, dtype=complex), "b": np.zeros(2)})
    with pytest.raises(InvalidInput, match="do not convert safely"):
        client.infer("munich", "digits", np.array([["a", "b", "c", "d"]]))
    with pytest.raises(InvalidInput, match="cannot be sent as BYTES"):
        client.infer("munich", "echo", np.zeros(2))
    assert gateways["munich"].fake.calls["ModelInfer"] == sent  # none of these was sent

    with pytest.raises(NotFound) as not_found:
        client.infer("munich", "nope", X)  # its metadata is not found
    assert not_found.value.cause == "not-found"


def test_an_unknown_station_lists_the_known_ones(client: Client) -> None:
    with pytest.raises(UnknownStation) as info:
        client.infer("paris", "digits", X)
    assert isinstance(info.value, KeyError) and isinstance(info.value, OrbitmeshError)
    assert str(info.value) == "unknown ground station 'paris' (known: munich, sydney)"
    with pytest.raises(KeyError):
        client.station_info("paris")


def test_error_from_rpc_reads_any_rpc_error() -> None:
    err = error_from_rpc(grpc.RpcError("bare"), station="x")
    assert type(err) is InternalError
    assert err.code == grpc.StatusCode.UNKNOWN and err.details == "bare"


# --------------------------------------------------------------------------- station RPCs


def test_station_rpcs(client: Client, gateways: dict[str, Gateway]) -> None:
    assert client.server_live("munich") is True
    assert client.station_info("munich").name == "munich"
    assert client.station_info("sydney").name == "sydney"
    assert client.station_info("munich").min_elevation_deg == 25.0
    assert [s.satellite_id for s in client.visible("munich").satellites] == ["sat-7"]
    routes = client.routes("sydney").routes
    assert routes[0].source_id == "sydney" and routes[0].hops[0].delay_ms == 2.7
    client.infer("sydney", "digits", X)
    stats = client.link_stats("sydney")
    assert stats.request_count == gateways["sydney"].fake.calls["ModelInfer"] >= 1
    metadata = client.model_metadata("sydney", "digits")
    assert [(t.name, t.datatype, list(t.shape)) for t in metadata.inputs] == [
        ("input", "FP32", [-1, 4])
    ]


def test_the_context_manager_closes_the_channels(gateways: dict[str, Gateway]) -> None:
    with Client.connect({"munich": gateways["munich"].address}) as c:
        assert c.server_live("munich")
        stub = c._channels["munich"].inference  # the channel's own stub, to prove it closed
        assert repr(c) == "Client(stations=['munich'])"
    assert c.closed
    with pytest.raises(ValueError, match="closed channel"):
        stub.ServerLive(pb.ServerLiveRequest())
    with pytest.raises(OrbitmeshError, match="Client is closed"):
        c.server_live("munich")
    c.close()  # idempotent


def test_one_client_shared_by_threads(client: Client) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda i: client.infer("munich", "digits", X[i % 3 :]), range(32)))
    assert [len(r["label"]) for r in results[:3]] == [3, 2, 1]
    assert len(client._channels) == 1


# --------------------------------------------------------------------------- asyncio


def test_the_async_client(gateways: dict[str, Gateway]) -> None:
    stations = {name: g.address for name, g in gateways.items()}

    async def main() -> Any:
        async with AsyncClient.connect(stations) as c:
            before = gateways["munich"].fake.calls["ModelMetadata"]
            results = await asyncio.gather(
                *(c.infer("munich", "digits", X, request_id=str(i)) for i in range(1, 4))
            )
            await c.infer("munich", "digits", X)
            # concurrent first calls share one fetch, later ones use the cache
            assert gateways["munich"].fake.calls["ModelMetadata"] == before + 1
            assert [r.id for r in results] == ["1", "2", "3"]
            np.testing.assert_array_equal(results[0]["label"], [1, 0, 3])

            pipeline = [{"model": "digits"}]
            pair = await c.infer(
                "sydney",
                "pair",
                {"a": np.array([2], dtype=np.int32), "b": np.array([0.5])},
                satellite="sat-9",
                policy="battery",
                pipeline=pipeline,
            )
            assert pair["sum"].tolist() == [2.5]
            assert pair.satellite == "sat-9" and pair.station == "sydney"
            assert json.loads(str(pair.parameters["orbitmesh.pipeline"])) == pipeline

            for cause in Cause:
                with pytest.raises(CallFailed) as info:
                    await c.infer("sydney", "digits", X, parameters={"test.fail": cause.value})
                assert type(info.value) is EXPECTED_CLASS[cause]
                assert info.value.station == "sydney" and info.value.cause == cause.value
            for code, cls in CODE_ONLY.items():
                with pytest.raises(CallFailed) as info:
                    await c.infer("sydney", "digits", X, parameters={"test.fail": f"code:{code}"})
                assert type(info.value) is cls and info.value.cause is None
            failed = await asyncio.gather(
                *(c.infer("munich", "nope", X) for _ in range(3)), return_exceptions=True
            )
            assert [type(f) for f in failed] == [NotFound] * 3  # one failed fetch, shared
            with pytest.raises(UnknownStation):
                await c.infer("paris", "digits", X)
            with pytest.raises(InvalidInput, match="takes 2 inputs"):
                await c.infer("munich", "pair", np.zeros(3))

            assert await c.server_live("munich")
            assert (await c.station_info("sydney")).name == "sydney"
            assert (await c.visible("munich")).satellites[0].satellite_id == "sat-7"
            assert (await c.routes("munich")).routes[0].destination_id == "sat-7"
            assert (await c.link_stats("munich")).request_count >= 5
            assert (await c.model_metadata("munich", "pair")).inputs[1].name == "b"
            stub = c._channels["munich"].inference
        assert c.closed
        with pytest.raises(OrbitmeshError, match="AsyncClient is closed"):
            await c.server_live("munich")
        return stub

    stub = asyncio.run(main())

    async def use_closed() -> None:
        with pytest.raises(Exception, match="Channel is closed"):
            await stub.ServerLive(pb.ServerLiveRequest())

    asyncio.run(use_closed())


def test_the_async_client_maps_a_gateway_that_is_down() -> None:
    async def main() -> None:
        async with AsyncClient.connect({"gone": free_address()}) as c:
            with pytest.raises(Unavailable) as info:
                await c.server_live("gone", timeout_s=5)
            assert type(info.value) is Unavailable and info.value.station == "gone"

    asyncio.run(main())


# --------------------------------------------------------------------------- endpoints

STARTED = datetime(2026, 3, 20, 12, 0, 5, tzinfo=UTC)
SIM_START = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)


def sample_endpoints(stations: dict[str, str] | None = None) -> Endpoints:
    return Endpoints(
        scenario="demo",
        ground_stations=stations or {"munich": "127.0.0.1:50051", "v6": "[::1]:50052"},
        satellites={"shell1-0-0": "127.0.0.1:50061"},
        pid=4242,
        started_utc=STARTED,
        speed=10.0,
        sim_start=SIM_START,
        extra={"orchestrator": {"tick_s": 1.0}},
    )


def test_endpoints_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "run" / "endpoints.json"
    path.parent.mkdir()
    path.write_text("old")
    endpoints = sample_endpoints()
    assert write_endpoints(path, endpoints) == path
    assert load_endpoints(path) == endpoints
    assert load_endpoints(str(path)) == endpoints
    document = json.loads(path.read_text())
    assert document["started_utc"] == "2026-03-20T12:00:05Z"
    assert document["orchestrator"] == {"tick_s": 1.0}
    assert os.listdir(path.parent) == ["endpoints.json"]  # no temporary file left behind

    minimal = tmp_path / "minimal.json"
    minimal.write_text('{"ground_stations": {}, "satellites": {}}')
    loaded = load_endpoints(minimal)
    assert (loaded.scenario, loaded.pid, loaded.speed, loaded.extra) == (None, None, None, {})


def test_the_default_endpoints_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(ENDPOINTS_ENV, raising=False)
    with pytest.raises(EndpointsError) as info:
        load_endpoints()
    assert str(info.value) == (
        f"{DEFAULT_ENDPOINTS_FILE}: no endpoints file; is `orbitmesh up` running? "
        f"(pass a path or set ${ENDPOINTS_ENV})"
    )
    write_endpoints(DEFAULT_ENDPOINTS_FILE, sample_endpoints())
    assert load_endpoints().pid == 4242

    elsewhere = tmp_path / "elsewhere.json"
    write_endpoints(elsewhere, sample_endpoints({"x": "h:1"}))
    monkeypatch.setenv(ENDPOINTS_ENV, str(elsewhere))
    assert list(load_endpoints().ground_stations) == ["x"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "invalid JSON at line 1 column 2: "),
        ("[]", "the endpoints file must hold a JSON object, not list"),
        ('{"satellites": {}}', "ground_stations: missing (required)"),
        ('{"ground_stations": {}}', "satellites: missing (required)"),
        ('{"ground_stations": [], "satellites": {}}', "ground_stations: must be an object"),
        ('{"ground_stations": {"a": "nohost"}, "satellites": {}}', "is not 'host:port'"),
        ('{"ground_stations": {"a": ":50051"}, "satellites": {}}', "is not 'host:port'"),
        ('{"ground_stations": {"a": "h:0"}, "satellites": {}}', "port '0' is not a number"),
        ('{"ground_stations": {"a": "h:http"}, "satellites": {}}', "port 'http' is not a"),
        ('{"ground_stations": {"a": "::1:5"}, "satellites": {}}', "IPv6 host in brackets"),
        ('{"ground_stations": {"a": 5}, "satellites": {}}', "ground_stations.a: address must"),
        ('{"ground_stations": {}, "satellites": {"s": "h:1"}, "pid": "7"}', "pid: must be"),
        ('{"ground_stations": {}, "satellites": {}, "speed": 0}', "speed: must be a positive"),
        ('{"ground_stations": {}, "satellites": {}, "sim_start": "noon"}', "sim_start: 'noon'"),
    ],
)
def test_endpoints_errors_name_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "endpoints.json"
    path.write_text(text)
    with pytest.raises(EndpointsError) as info:
        load_endpoints(path)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)


def test_endpoints_errors_list_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "endpoints.json"
    path.write_text('{"ground_stations": {"a": "x", "b": "h:99999"}}')
    with pytest.raises(EndpointsError) as info:
        load_endpoints(path)
    lines = str(info.value).splitlines()
    assert len(lines) == 3 and all(line.startswith(f"{path}: ") for line in lines)
    with pytest.raises(EndpointsError, match="no endpoints file"):
        load_endpoints(tmp_path / "missing.json")
    with pytest.raises(EndpointsError, match="cannot read"):
        load_endpoints(tmp_path)  # a directory


def test_endpoints_refuse_bad_values() -> None:
    with pytest.raises(ValueError, match=r"ground_stations\.a: address 'x'"):
        Endpoints(ground_stations={"a": "x"})
    with pytest.raises(ValueError, match="fields of Endpoints"):
        Endpoints(ground_stations={}, extra={"pid": 1})


def test_a_client_from_the_endpoints_file(
    tmp_path: Path, gateways: dict[str, Gateway], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "endpoints.json"
    write_endpoints(path, sample_endpoints({n: g.address for n, g in gateways.items()}))
    with Client.from_endpoints(path) as c:
        assert c.endpoints.scenario == "demo"
        assert c.infer("munich", "digits", X)["label"].tolist() == [1, 0, 3]
    monkeypatch.setenv(ENDPOINTS_ENV, str(path))

    async def main() -> str:
        async with AsyncClient.from_endpoints() as c:
            return str((await c.station_info("sydney")).name)

    assert asyncio.run(main()) == "sydney"
