"""The orbitmesh client SDK: inference and station queries through ground-station gateways.

:class:`Client` (blocking) and :class:`AsyncClient` (asyncio) offer the same methods::

    from orbitmesh.ground.client import Client

    with Client.from_endpoints() as client:          # reads orbitmesh-endpoints.json
        result = client.infer("frankfurt", "digits", pixels)
        print(result["label"], result.satellite, result.hops, result.latency_ms)

Gateways speak the Open Inference Protocol (``inference.GRPCInferenceService``) and
``orbitmesh.v1.GroundStation``. One channel per station is opened on first use and kept
until :meth:`Client.close`; when the endpoints carry ``security`` (an emulation serving
TLS with a bearer token, docs/security.md) the channels are TLS and every call carries
the token, or pass ``credentials`` yourself. Every failed call raises a
:class:`~orbitmesh.ground.errors.CallFailed` subclass chosen by the failure's cause
(``NoContact``, ``PowerExhausted``, ...), never a bare ``grpc.RpcError``.

Light on purpose: gRPC, numpy, the generated protos, the cause table and the tensor
datatype table; no Ray.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self, TypeAlias

import grpc
import numpy as np
import numpy.typing as npt

from orbitmesh.ground.endpoints import Endpoints, load_endpoints
from orbitmesh.ground.errors import (
    InternalError,
    InvalidInput,
    OrbitmeshError,
    UnknownStation,
    error_from_rpc,
)
from orbitmesh.protos.contract import Cause, Param
from orbitmesh.protos.inference import grpc_service_pb2 as pb
from orbitmesh.protos.inference import grpc_service_pb2_grpc as pbg
from orbitmesh.protos.orbitmesh.v1 import ground_station_pb2 as gs
from orbitmesh.protos.orbitmesh.v1 import ground_station_pb2_grpc as gsg
from orbitmesh.protos.serving import Credentials, aio_channel_to, channel_to
from orbitmesh.protos.tensors import (
    DATATYPES,
    Datatype,
    TensorError,
    datatype_of,
    from_raw,
    to_raw,
)

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "AsyncClient",
    "Client",
    "InferResult",
    "ParameterValue",
]

#: Deadline of every call unless the caller gives another (None: no deadline).
DEFAULT_TIMEOUT_S: Final = 30.0

#: What an ``InferParameter`` can hold.
ParameterValue: TypeAlias = bool | int | float | str

#: Replies (model outputs) may be large; requests are unlimited on the client already.
_CHANNEL_OPTIONS: Final = (("grpc.max_receive_message_length", -1),)

_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1
_UINT64_MAX: Final = 2**64 - 1


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, eq=False)
class InferResult:
    """One inference's outputs and what the emulation reports about how it travelled.

    ``outputs`` are numpy arrays by name, in the server's order (read-only views of the
    reply; ``.copy()`` one to change it); BYTES outputs are object arrays of ``bytes``.
    The ``*_ms`` figures are in simulated milliseconds, as the gateway reports them
    (None when it does not); ``latency_ms`` is the wall time the client waited for the
    reply. ``result["label"]`` is ``result.outputs["label"]``.
    """

    outputs: dict[str, npt.NDArray[Any]]
    model: str
    id: str
    station: str
    satellite: str | None
    hops: tuple[str, ...]
    uplink_ms: float | None
    downlink_ms: float | None
    queue_ms: float | None
    inference_ms: float | None
    energy_wh: float | None
    latency_ms: float
    parameters: dict[str, ParameterValue] = field(default_factory=dict)

    def __getitem__(self, name: str) -> npt.NDArray[Any]:
        try:
            return self.outputs[name]
        except KeyError:
            known = ", ".join(self.outputs) or "none"
            raise KeyError(f"no output {name!r} (outputs: {known})") from None


def _parameter_value(parameter: Any) -> ParameterValue | None:
    choice = parameter.WhichOneof("parameter_choice")
    return None if choice is None else getattr(parameter, choice)


def _set_parameter(parameter: Any, name: str, value: ParameterValue) -> None:
    if isinstance(value, bool):
        parameter.bool_param = value
    elif isinstance(value, int):
        if _INT64_MIN <= value <= _INT64_MAX:
            parameter.int64_param = value
        elif 0 <= value <= _UINT64_MAX:
            parameter.uint64_param = value
        else:
            raise ValueError(f"parameter {name!r}: {value} does not fit 64 bits")
    elif isinstance(value, float):
        parameter.double_param = value
    elif isinstance(value, str):
        parameter.string_param = value
    else:
        raise TypeError(
            f"parameter {name!r}: {type(value).__name__} is not bool, int, float or str"
        )


def _number(parameters: Mapping[str, ParameterValue], name: str) -> float | None:
    value = parameters.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _malformed(station: str, message: str) -> InternalError:
    return InternalError(
        f"malformed reply: {message}", code=grpc.StatusCode.INTERNAL, station=station
    )


def _decode_output(station: str, tensor: Any, data: bytes) -> npt.NDArray[Any]:
    name = tensor.name
    datatype = DATATYPES.get(tensor.datatype)
    if datatype is None:
        raise _malformed(station, f'output "{name}" has unknown datatype "{tensor.datatype}"')
    shape = tuple(int(d) for d in tensor.shape)
    if any(d < 0 for d in shape):
        raise _malformed(station, f'output "{name}" has shape {list(shape)}')
    try:
        flat = from_raw("output", name, datatype, data, int(np.prod(shape, dtype=np.int64)))
    except TensorError as exc:
        raise _malformed(station, str(exc)) from None
    return flat.reshape(shape)


def _result(station: str, response: Any, latency_ms: float) -> InferResult:
    if len(response.raw_output_contents) != len(response.outputs):
        raise _malformed(
            station,
            f"{len(response.outputs)} outputs but {len(response.raw_output_contents)} "
            "raw_output_contents",
        )
    outputs = {
        tensor.name: _decode_output(station, tensor, data)
        for tensor, data in zip(response.outputs, response.raw_output_contents, strict=True)
    }
    parameters: dict[str, ParameterValue] = {}
    for name, parameter in response.parameters.items():
        value = _parameter_value(parameter)
        if value is not None:
            parameters[name] = value
    satellite = parameters.get(Param.SATELLITE)
    hops = parameters.get(Param.HOPS)
    return InferResult(
        outputs=outputs,
        model=response.model_name,
        id=response.id,
        station=station,
        satellite=satellite if isinstance(satellite, str) and satellite else None,
        hops=tuple(h for h in hops.split(",") if h) if isinstance(hops, str) else (),
        uplink_ms=_number(parameters, Param.UPLINK_MS),
        downlink_ms=_number(parameters, Param.DOWNLINK_MS),
        queue_ms=_number(parameters, Param.QUEUE_MS),
        inference_ms=_number(parameters, Param.INFERENCE_MS),
        energy_wh=_number(parameters, Param.ENERGY_WH),
        latency_ms=latency_ms,
        parameters=parameters,
    )


# --------------------------------------------------------------------------- requests

Inputs: TypeAlias = npt.ArrayLike | Mapping[str, npt.ArrayLike]


def _invalid(message: str, station: str, satellite: str | None) -> InvalidInput:
    return InvalidInput(
        message,
        code=grpc.StatusCode.INVALID_ARGUMENT,
        cause=Cause.INVALID.value,
        station=station,
        satellite=satellite,
    )


def _single_input(metadata: Any, model: str) -> tuple[str, Datatype]:
    """The name and datatype of the model's only input, from its metadata."""
    inputs = list(metadata.inputs)
    if len(inputs) != 1:
        names = ", ".join(f'"{t.name}"' for t in inputs) or "none"
        raise ValueError(
            f"model {model!r} takes {len(inputs)} inputs ({names}); pass a mapping of name -> array"
        )
    datatype = DATATYPES.get(inputs[0].datatype)
    if datatype is None:
        raise ValueError(f'model {model!r}: input "{inputs[0].name}" has unknown datatype')
    return inputs[0].name, datatype


def _cast(name: str, value: npt.ArrayLike, datatype: Datatype) -> npt.NDArray[Any]:
    array = np.asarray(value)
    if datatype.is_bytes:
        if array.dtype.kind not in "OSU":
            raise ValueError(f'input "{name}": {array.dtype} elements cannot be sent as BYTES')
        return array
    if array.dtype == datatype.dtype.newbyteorder("="):
        return array
    if not np.can_cast(array.dtype, datatype.dtype, casting="same_kind"):
        raise ValueError(
            f'input "{name}": the model takes {datatype.name}; '
            f"{array.dtype} elements do not convert safely"
        )
    return array.astype(datatype.dtype.newbyteorder("="))


def _encode_inputs(
    tensors: Mapping[str, npt.ArrayLike], datatypes: Mapping[str, Datatype] | None
) -> tuple[list[Any], list[bytes]]:
    messages: list[Any] = []
    raws: list[bytes] = []
    for name, value in tensors.items():
        if datatypes is not None:
            datatype = datatypes[name]
            array = _cast(name, value, datatype)
        else:
            array = np.asarray(value)
            found = datatype_of(array.dtype)
            if found is None:
                raise ValueError(f'input "{name}": numpy dtype {array.dtype} has no datatype')
            datatype = found
        raws.append(to_raw("input", name, datatype, array))
        messages.append(
            pb.ModelInferRequest.InferInputTensor(
                name=name, datatype=datatype.name, shape=array.shape
            )
        )
    return messages, raws


def _infer_request(
    model: str,
    tensors: Mapping[str, npt.ArrayLike],
    datatypes: Mapping[str, Datatype] | None,
    *,
    outputs: Sequence[str] | None,
    satellite: str | None,
    policy: str | None,
    pipeline: Sequence[Mapping[str, str]] | None,
    parameters: Mapping[str, ParameterValue] | None,
    request_id: str,
) -> Any:
    """A ``ModelInferRequest``; ValueError or TypeError for input the client can refuse."""
    if isinstance(outputs, str):
        raise TypeError("outputs must be a sequence of names, not one string")
    messages, raws = _encode_inputs(tensors, datatypes)
    request = pb.ModelInferRequest(
        model_name=model,
        id=request_id,
        inputs=messages,
        outputs=[pb.ModelInferRequest.InferRequestedOutputTensor(name=n) for n in outputs or ()],
        raw_input_contents=raws,
    )
    chosen: dict[str, ParameterValue] = dict(parameters or {})
    if satellite is not None:
        chosen[Param.SATELLITE] = satellite
    if policy is not None:
        chosen[Param.POLICY] = policy
    if pipeline is not None:
        chosen[Param.PIPELINE] = json.dumps([dict(step) for step in pipeline])
    for name, value in chosen.items():
        _set_parameter(request.parameters[name], name, value)
    return request


# --------------------------------------------------------------------------- shared state


class _Base:
    """Addresses, the metadata cache and what both clients check before a call."""

    def __init__(
        self,
        endpoints: Endpoints,
        *,
        channel_options: Sequence[tuple[str, Any]] = (),
        credentials: Credentials | None = None,
    ) -> None:
        self.endpoints = endpoints
        self._options = (*_CHANNEL_OPTIONS, *channel_options)
        #: TLS and the token (None: plaintext); read from the endpoints unless given.
        self.credentials = credentials if credentials is not None else endpoints.credentials()
        self._metadata: dict[tuple[str, str], Any] = {}
        self._closed = False

    @property
    def stations(self) -> Mapping[str, str]:
        """Ground-station name -> ``host:port``."""
        return self.endpoints.gateways

    @property
    def closed(self) -> bool:
        return self._closed

    def _address(self, station: str) -> str:
        if self._closed:
            raise OrbitmeshError(f"{type(self).__name__} is closed")
        try:
            return self.endpoints.gateways[station]
        except KeyError:
            raise UnknownStation(station, self.endpoints.gateways) from None

    def _tensors(
        self, model: str, inputs: Inputs, metadata: Any | None
    ) -> tuple[dict[str, npt.ArrayLike], dict[str, Datatype] | None]:
        if metadata is None:
            assert isinstance(inputs, Mapping)
            return dict(inputs), None
        name, datatype = _single_input(metadata, model)
        return {name: inputs}, {name: datatype}  # type: ignore[dict-item]

    def __repr__(self) -> str:
        state = ", closed" if self._closed else ""
        return f"{type(self).__name__}(stations={sorted(self.stations)}{state})"


@contextmanager
def _mapped(station: str, satellite: str | None = None) -> Iterator[None]:
    try:
        yield
    except grpc.RpcError as err:
        raise error_from_rpc(err, station=station, satellite=satellite) from err


@asynccontextmanager
async def _mapped_async(station: str, satellite: str | None = None) -> AsyncIterator[None]:
    try:
        yield
    except grpc.RpcError as err:
        raise error_from_rpc(err, station=station, satellite=satellite) from err


def _ms_since(start: float) -> float:
    return (time.perf_counter() - start) * 1e3


# --------------------------------------------------------------------------- blocking


class _Stubs:
    def __init__(self, channel: Any) -> None:
        self.channel = channel
        self.inference = pbg.GRPCInferenceServiceStub(channel)
        self.station = gsg.GroundStationStub(channel)


class Client(_Base):
    """Blocking client of orbitmesh ground-station gateways; safe to share across threads.

    ``Client(endpoints)``, ``Client.from_endpoints(path)`` (the file ``orbitmesh up``
    writes) or ``Client.connect({"frankfurt": "127.0.0.1:50051"})``. Use it as a context
    manager, or call :meth:`close`, to close its channels.
    """

    def __init__(
        self,
        endpoints: Endpoints,
        *,
        channel_options: Sequence[tuple[str, Any]] = (),
        credentials: Credentials | None = None,
    ) -> None:
        super().__init__(endpoints, channel_options=channel_options, credentials=credentials)
        self._channels: dict[str, _Stubs] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_endpoints(cls, path: Path | str | None = None) -> Self:
        """A client for the gateways in an endpoints file (see :func:`load_endpoints`)."""
        return cls(load_endpoints(path))

    @classmethod
    def connect(
        cls, stations: Mapping[str, str], *, credentials: Credentials | None = None
    ) -> Self:
        """A client for the given ground-station name -> ``host:port`` addresses (TLS and
        the token with ``credentials``)."""
        return cls(Endpoints(ground_stations=stations), credentials=credentials)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close every channel; the client cannot be used afterwards. Idempotent."""
        with self._lock:
            self._closed = True
            channels, self._channels = self._channels, {}
        for stubs in channels.values():
            stubs.channel.close()

    def _stubs(self, station: str) -> _Stubs:
        address = self._address(station)
        with self._lock:
            stubs = self._channels.get(station)
            if stubs is None:
                if self._closed:  # closed while we looked up the address
                    raise OrbitmeshError(f"{type(self).__name__} is closed")
                channel = channel_to(address, self.credentials, self._options)
                stubs = self._channels[station] = _Stubs(channel)
            return stubs

    # ------------------------------------------------------------------ inference

    def infer(
        self,
        station: str,
        model: str,
        inputs: Inputs,
        *,
        outputs: Sequence[str] | None = None,
        satellite: str | None = None,
        policy: str | None = None,
        pipeline: Sequence[Mapping[str, str]] | None = None,
        parameters: Mapping[str, ParameterValue] | None = None,
        timeout_s: float | None = DEFAULT_TIMEOUT_S,
        request_id: str = "",
    ) -> InferResult:
        """Run ``model`` on ``inputs`` through ground station ``station``.

        ``inputs`` is one array for a model with one input (its name and datatype come
        from the model's metadata, fetched once per station and model), or a mapping of
        input name -> array (datatypes from the arrays' dtypes). ``outputs`` picks the
        outputs to return (default all). ``satellite`` pins the compute satellite,
        ``policy`` names the gateway's choice of one, ``pipeline`` is a list of steps
        (sent as JSON), and ``parameters`` adds request parameters of your own.
        Raises a :class:`~orbitmesh.ground.errors.CallFailed` subclass when the call fails.
        """
        stubs = self._stubs(station)
        metadata = None
        if not isinstance(inputs, Mapping):
            metadata = self._cached_metadata(stubs, station, model, timeout_s)
        try:
            tensors, datatypes = self._tensors(model, inputs, metadata)
            request = _infer_request(
                model,
                tensors,
                datatypes,
                outputs=outputs,
                satellite=satellite,
                policy=policy,
                pipeline=pipeline,
                parameters=parameters,
                request_id=request_id,
            )
        except ValueError as exc:
            raise _invalid(str(exc), station, satellite) from exc
        start = time.perf_counter()
        with _mapped(station, satellite):
            response = stubs.inference.ModelInfer(request, timeout=timeout_s)
        return _result(station, response, _ms_since(start))

    def _cached_metadata(
        self, stubs: _Stubs, station: str, model: str, timeout_s: float | None
    ) -> Any:
        cached = self._metadata.get((station, model))
        if cached is None:
            cached = self._fetch_metadata(stubs, station, model, timeout_s)
        return cached

    def _fetch_metadata(
        self, stubs: _Stubs, station: str, model: str, timeout_s: float | None
    ) -> Any:
        with _mapped(station):
            metadata = stubs.inference.ModelMetadata(
                pb.ModelMetadataRequest(name=model), timeout=timeout_s
            )
        self._metadata[station, model] = metadata
        return metadata

    def model_metadata(
        self, station: str, model: str, *, timeout_s: float | None = DEFAULT_TIMEOUT_S
    ) -> Any:
        """The model's ``ModelMetadataResponse`` (fetched anew; refreshes the cache)."""
        return self._fetch_metadata(self._stubs(station), station, model, timeout_s)

    def server_live(self, station: str, *, timeout_s: float | None = DEFAULT_TIMEOUT_S) -> bool:
        """Whether the gateway says it is live; an unreachable one raises ``Unavailable``."""
        stubs = self._stubs(station)
        with _mapped(station):
            return bool(stubs.inference.ServerLive(pb.ServerLiveRequest(), timeout=timeout_s).live)

    # ------------------------------------------------------------------ the station

    def station_info(self, station: str, *, timeout_s: float | None = DEFAULT_TIMEOUT_S) -> Any:
        """``StationInfo``: the station's name, position and elevation mask."""
        stubs = self._stubs(station)
        with _mapped(station):
            return stubs.station.Info(gs.InfoRequest(), timeout=timeout_s)

    def visible(self, station: str, *, timeout_s: float | None = DEFAULT_TIMEOUT_S) -> Any:
        """``VisibleSatellites``: the satellites above the station's mask now."""
        stubs = self._stubs(station)
        with _mapped(station):
            return stubs.station.Visible(gs.VisibleRequest(), timeout=timeout_s)

    def routes(self, station: str, *, timeout_s: float | None = DEFAULT_TIMEOUT_S) -> Any:
        """``RouteTable``: current paths from the station to every reachable compute node."""
        stubs = self._stubs(station)
        with _mapped(station):
            return stubs.station.Routes(gs.RoutesRequest(), timeout=timeout_s)

    def link_stats(self, station: str, *, timeout_s: float | None = DEFAULT_TIMEOUT_S) -> Any:
        """``LinkStatsReply``: the gateway's traffic counters since it started."""
        stubs = self._stubs(station)
        with _mapped(station):
            return stubs.station.LinkStats(gs.LinkStatsRequest(), timeout=timeout_s)


# --------------------------------------------------------------------------- asyncio


class AsyncClient(_Base):
    """The asyncio twin of :class:`Client`: the same methods, awaited.

    Channels are opened on first use inside the running event loop and belong to it;
    use the client from that loop only. ``async with AsyncClient.from_endpoints() as c``,
    or ``await c.close()``.
    """

    def __init__(
        self,
        endpoints: Endpoints,
        *,
        channel_options: Sequence[tuple[str, Any]] = (),
        credentials: Credentials | None = None,
    ) -> None:
        super().__init__(endpoints, channel_options=channel_options, credentials=credentials)
        self._channels: dict[str, _Stubs] = {}
        self._fetching: dict[tuple[str, str], asyncio.Future[Any]] = {}

    @classmethod
    def from_endpoints(cls, path: Path | str | None = None) -> Self:
        """A client for the gateways in an endpoints file (see :func:`load_endpoints`)."""
        return cls(load_endpoints(path))

    @classmethod
    def connect(
        cls, stations: Mapping[str, str], *, credentials: Credentials | None = None
    ) -> Self:
        """A client for the given ground-station name -> ``host:port`` addresses (TLS and
        the token with ``credentials``)."""
        return cls(Endpoints(ground_stations=stations), credentials=credentials)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close every channel; the client cannot be used afterwards. Idempotent."""
        self._closed = True
        channels, self._channels = self._channels, {}
        for stubs in channels.values():
            await stubs.channel.close()

    def _stubs(self, station: str) -> _Stubs:
        address = self._address(station)
        stubs = self._channels.get(station)
        if stubs is None:
            channel = aio_channel_to(address, self.credentials, self._options)
            stubs = self._channels[station] = _Stubs(channel)
        return stubs

    # ------------------------------------------------------------------ inference

    async def infer(
        self,
        station: str,
        model: str,
        inputs: Inputs,
        *,
        outputs: Sequence[str] | None = None,
        satellite: str | None = None,
        policy: str | None = None,
        pipeline: Sequence[Mapping[str, str]] | None = None,
        parameters: Mapping[str, ParameterValue] | None = None,
        timeout_s: float | None = DEFAULT_TIMEOUT_S,
        request_id: str = "",
    ) -> InferResult:
        """Run ``model`` on ``inputs`` through ``station``; see :meth:`Client.infer`."""
        stubs = self._stubs(station)
        metadata = None
        if not isinstance(inputs, Mapping):
            metadata = await self._cached_metadata(stubs, station, model, timeout_s)
        try:
            tensors, datatypes = self._tensors(model, inputs, metadata)
            request = _infer_request(
                model,
                tensors,
                datatypes,
                outputs=outputs,
                satellite=satellite,
                policy=policy,
                pipeline=pipeline,
                parameters=parameters,
                request_id=request_id,
            )
        except ValueError as exc:
            raise _invalid(str(exc), station, satellite) from exc
        start = time.perf_counter()
        async with _mapped_async(station, satellite):
            response = await stubs.inference.ModelInfer(request, timeout=timeout_s)
        return _result(station, response, _ms_since(start))

    async def _cached_metadata(
        self, stubs: _Stubs, station: str, model: str, timeout_s: float | None
    ) -> Any:
        key = (station, model)
        cached = self._metadata.get(key)
        if cached is not None:
            return cached
        # Concurrent first calls share one fetch; shielded, so that one caller giving up
        # does not cancel it for the others.
        fetch = self._fetching.get(key)
        if fetch is None:
            fetch = asyncio.ensure_future(self._fetch_metadata(stubs, station, model, timeout_s))
            self._fetching[key] = fetch
            fetch.add_done_callback(lambda done: self._fetched(key, done))
        return await asyncio.shield(fetch)

    def _fetched(self, key: tuple[str, str], fetch: asyncio.Future[Any]) -> None:
        self._fetching.pop(key, None)
        if not fetch.cancelled():
            fetch.exception()  # retrieved here, in case every caller gave up waiting

    async def _fetch_metadata(
        self, stubs: _Stubs, station: str, model: str, timeout_s: float | None
    ) -> Any:
        async with _mapped_async(station):
            metadata = await stubs.inference.ModelMetadata(
                pb.ModelMetadataRequest(name=model), timeout=timeout_s
            )
        self._metadata[station, model] = metadata
        return metadata

    async def model_metadata(
        self, station: str, model: str, *, timeout_s: float | None = DEFAULT_TIMEOUT_S
    ) -> Any:
        """The model's ``ModelMetadataResponse`` (fetched anew; refreshes the cache)."""
        return await self._fetch_metadata(self._stubs(station), station, model, timeout_s)

    async def server_live(
        self, station: str, *, timeout_s: float | None = DEFAULT_TIMEOUT_S
    ) -> bool:
        """Whether the gateway says it is live; an unreachable one raises ``Unavailable``."""
        stubs = self._stubs(station)
        async with _mapped_async(station):
            reply = await stubs.inference.ServerLive(pb.ServerLiveRequest(), timeout=timeout_s)
        return bool(reply.live)

    # ------------------------------------------------------------------ the station

    async def station_info(
        self, station: str, *, timeout_s: float | None = DEFAULT_TIMEOUT_S
    ) -> Any:
        """``StationInfo``: the station's name, position and elevation mask."""
        stubs = self._stubs(station)
        async with _mapped_async(station):
            return await stubs.station.Info(gs.InfoRequest(), timeout=timeout_s)

    async def visible(self, station: str, *, timeout_s: float | None = DEFAULT_TIMEOUT_S) -> Any:
        """``VisibleSatellites``: the satellites above the station's mask now."""
        stubs = self._stubs(station)
        async with _mapped_async(station):
            return await stubs.station.Visible(gs.VisibleRequest(), timeout=timeout_s)

    async def routes(self, station: str, *, timeout_s: float | None = DEFAULT_TIMEOUT_S) -> Any:
        """``RouteTable``: current paths from the station to every reachable compute node."""
        stubs = self._stubs(station)
        async with _mapped_async(station):
            return await stubs.station.Routes(gs.RoutesRequest(), timeout=timeout_s)

    async def link_stats(self, station: str, *, timeout_s: float | None = DEFAULT_TIMEOUT_S) -> Any:
        """``LinkStatsReply``: the gateway's traffic counters since it started."""
        stubs = self._stubs(station)
        async with _mapped_async(station):
            return await stubs.station.LinkStats(gs.LinkStatsRequest(), timeout=timeout_s)
