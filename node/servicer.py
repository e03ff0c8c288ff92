"""gRPC servicers of a compute satellite: Open Inference Protocol and telemetry.

Thin shells: they parse, ask :class:`~node.state.NodeState` for admission, run the
model off the event loop, and map every refusal to a status code with its cause in the
``orbitmesh-cause`` trailing metadata.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NoReturn

import grpc
from google.protobuf.message import DecodeError

from orchestrator.causes import CAUSE_METADATA_KEY, CODE_OF_CAUSE, Cause
from protos.inference import grpc_service_pb2 as pb
from protos.orbitmesh.v1 import satellite_pb2, types_pb2

from .power import PowerState
from .runtime import ModelRuntime
from .state import NodeSnapshot, NodeState
from .tensors import TensorError, decode_inputs, encode_outputs
from .thermal import ThermalState

__all__ = ["INFERENCE_SERVICE", "InferenceServicer", "TelemetryServicer", "abort_with_cause"]

INFERENCE_SERVICE = "inference.GRPCInferenceService"
SERVER_NAME = "orbitmesh-satellite"
SERVER_VERSION = "0.1.0"
#: The only model version a satellite serves.
MODEL_VERSION = "1"

_POWER_STATES = {
    PowerState.NOMINAL: types_pb2.POWER_STATE_NOMINAL,
    PowerState.RESERVE: types_pb2.POWER_STATE_RESERVE,
    PowerState.RECOVERING: types_pb2.POWER_STATE_RECOVERING,
}
_THERMAL_STATES = {
    ThermalState.NOMINAL: types_pb2.THERMAL_STATE_NOMINAL,
    ThermalState.THROTTLED: types_pb2.THERMAL_STATE_THROTTLED,
    ThermalState.OVERHEATED: types_pb2.THERMAL_STATE_OVERHEATED,
}


async def abort_with_cause(
    context: grpc.aio.ServicerContext[Any, Any], cause: Cause, message: str
) -> NoReturn:
    """End the call with the cause's status code and the cause in trailing metadata."""
    await context.abort(
        grpc.StatusCode[CODE_OF_CAUSE[cause]],
        message,
        trailing_metadata=((CAUSE_METADATA_KEY, cause.value),),
    )
    raise AssertionError("unreachable: abort raises")  # pragma: no cover


#: Inferences expected to take less than this run on the event loop itself.
INLINE_LIMIT_S = 0.5e-3


class _CostModel:
    """Per-model seconds per batch item, a moving average of what inferences took.

    Unknown models are assumed expensive until measured, so a first huge request never
    blocks the loop.
    """

    def __init__(self, weight: float = 0.2) -> None:
        self.weight = weight
        self._per_item_s: dict[str, float] = {}

    def expected_s(self, model: str, batch: int) -> float:
        per_item = self._per_item_s.get(model)
        return float("inf") if per_item is None else per_item * batch

    def observe(self, model: str, batch: int, seconds: float) -> None:
        per_item = seconds / max(1, batch)
        old = self._per_item_s.get(model)
        self._per_item_s[model] = per_item if old is None else old + self.weight * (per_item - old)


def _batch_size(feeds: dict[str, Any]) -> int:
    first = next(iter(feeds.values()), None)
    return int(first.shape[0]) if first is not None and first.ndim > 0 else 1


@dataclass(frozen=True)
class _Unparsed:
    """A ModelInfer request the deserializer refused to parse (too big or malformed)."""

    size_bytes: int
    cause: Cause
    message: str


class InferenceServicer:
    """``inference.GRPCInferenceService`` for one satellite."""

    def __init__(
        self,
        runtime: ModelRuntime,
        state: NodeState,
        *,
        satellite_id: str,
        max_message_bytes: int,
        max_concurrency: int,
    ) -> None:
        self.runtime = runtime
        self.state = state
        self.satellite_id = satellite_id
        self.max_message_bytes = max_message_bytes
        self._executor = ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix="infer")
        self._slots = asyncio.Condition()
        self._cost = _CostModel()

    # ------------------------------------------------------------------ wiring

    def _parse_infer(self, data: bytes) -> Any:
        # Parsing happens before any handler runs; returning a marker instead of raising
        # lets the handler answer with a status code and a cause.
        if len(data) > self.max_message_bytes:
            return _Unparsed(
                len(data),
                Cause.TOO_LARGE,
                f"request of {len(data):,} bytes exceeds this satellite's limit of "
                f"{self.max_message_bytes:,} bytes",
            )
        try:
            return pb.ModelInferRequest.FromString(data)
        except DecodeError as exc:
            return _Unparsed(len(data), Cause.INVALID, f"malformed ModelInferRequest: {exc}")

    def handler(self) -> grpc.GenericRpcHandler:
        def unary(
            behaviour: Callable[..., Any], request: Any, response: Any, parse: Any = None
        ) -> Any:
            return grpc.unary_unary_rpc_method_handler(
                behaviour,
                request_deserializer=parse or request.FromString,
                response_serializer=response.SerializeToString,
            )

        return grpc.method_handlers_generic_handler(
            INFERENCE_SERVICE,
            {
                "ServerLive": unary(self.ServerLive, pb.ServerLiveRequest, pb.ServerLiveResponse),
                "ServerReady": unary(
                    self.ServerReady, pb.ServerReadyRequest, pb.ServerReadyResponse
                ),
                "ModelReady": unary(self.ModelReady, pb.ModelReadyRequest, pb.ModelReadyResponse),
                "ServerMetadata": unary(
                    self.ServerMetadata, pb.ServerMetadataRequest, pb.ServerMetadataResponse
                ),
                "ModelMetadata": unary(
                    self.ModelMetadata, pb.ModelMetadataRequest, pb.ModelMetadataResponse
                ),
                "ModelInfer": unary(
                    self.ModelInfer, pb.ModelInferRequest, pb.ModelInferResponse, self._parse_infer
                ),
            },
        )

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------------ health and metadata

    async def ServerLive(self, request: Any, context: Any) -> Any:  # noqa: N802 (protocol names)
        return pb.ServerLiveResponse(live=True)

    async def ServerReady(self, request: Any, context: Any) -> Any:  # noqa: N802
        return pb.ServerReadyResponse(ready=True)

    async def ModelReady(self, request: Any, context: Any) -> Any:  # noqa: N802
        ready = self.runtime.get(request.name) is not None and request.version in (
            "",
            MODEL_VERSION,
        )
        return pb.ModelReadyResponse(ready=ready)

    async def ServerMetadata(self, request: Any, context: Any) -> Any:  # noqa: N802
        return pb.ServerMetadataResponse(name=SERVER_NAME, version=SERVER_VERSION, extensions=[])

    async def ModelMetadata(self, request: Any, context: Any) -> Any:  # noqa: N802
        model = await self._model(request.name, request.version, context)
        return pb.ModelMetadataResponse(
            name=model.name,
            versions=[MODEL_VERSION],
            platform="onnxruntime_onnx",
            inputs=[spec.metadata() for spec in model.inputs.values()],
            outputs=[spec.metadata() for spec in model.outputs.values()],
        )

    async def _model(self, name: str, version: str, context: Any) -> Any:
        model = self.runtime.get(name)
        if model is None:
            self.state.refuse(Cause.NOT_FOUND)
            served = ", ".join(self.runtime.names) or "none"
            await abort_with_cause(
                context,
                Cause.NOT_FOUND,
                f"unknown model {name!r} on satellite {self.satellite_id} (serves: {served})",
            )
        if version not in ("", MODEL_VERSION):
            self.state.refuse(Cause.NOT_FOUND)
            await abort_with_cause(
                context,
                Cause.NOT_FOUND,
                f"model {name!r} has no version {version!r} (only {MODEL_VERSION!r})",
            )
        return model

    # ------------------------------------------------------------------ inference

    async def ModelInfer(self, request: Any, context: Any) -> Any:  # noqa: N802
        arrived = time.monotonic()
        if isinstance(request, _Unparsed):
            self.state.refuse(request.cause)
            await abort_with_cause(context, request.cause, request.message)
        model = await self._model(request.model_name, request.model_version, context)
        try:
            feeds = decode_inputs(request, model.inputs)
            requested = [o.name for o in request.outputs]
            unknown = [n for n in requested if n not in model.outputs]
            if unknown:
                known = ", ".join(model.outputs)
                raise TensorError(
                    f'model {model.name!r} has no output "{unknown[0]}" (outputs: {known})',
                    unknown[0],
                )
        except TensorError as exc:
            self.state.refuse(Cause.INVALID)
            await abort_with_cause(context, Cause.INVALID, str(exc))

        cause = self.state.admit()
        if cause is not None:
            await abort_with_cause(context, cause, self._refusal_message(cause))

        try:
            async with self._slots:
                await self._slots.wait_for(self.state.can_run)
                self.state.start()
        except asyncio.CancelledError:
            self.state.abandon()
            raise
        started = time.monotonic()
        try:
            batch = _batch_size(feeds)
            if self._cost.expected_s(model.name, batch) < INLINE_LIMIT_S:
                # Handing work to a thread and back costs ~0.2 ms; a cheaper inference
                # runs inline, which keeps the loop *more* responsive, not less.
                outputs = model.run(feeds, requested or None)
            else:
                outputs = await asyncio.get_running_loop().run_in_executor(
                    self._executor, model.run, feeds, requested or None
                )
            ran_s = time.monotonic() - started
            self._cost.observe(model.name, batch, ran_s)
            factor = self.state.throttle_factor()
            if factor > 1.0:
                # A hot accelerator runs slower: the satellite stays busy (and spends
                # energy) for the extra time.
                await asyncio.sleep((factor - 1.0) * ran_s)
            tensors, raws = encode_outputs(outputs, requested or None)
        except (Exception, asyncio.CancelledError) as exc:
            self.state.finish(0, served=False)
            await self._release()
            if isinstance(exc, asyncio.CancelledError):
                raise
            self.state.refuse(Cause.INTERNAL)
            await abort_with_cause(context, Cause.INTERNAL, f"inference failed: {exc}")
        busy_s = time.monotonic() - started
        response = pb.ModelInferResponse(
            model_name=model.name,
            model_version=MODEL_VERSION,
            id=request.id,
            outputs=tensors,
            raw_output_contents=raws,
        )
        speed = self.state.clock_speed
        params = response.parameters
        params["orbitmesh.satellite"].string_param = self.satellite_id
        params["orbitmesh.queue_ms"].double_param = (started - arrived) * 1e3 * speed
        params["orbitmesh.inference_ms"].double_param = busy_s * 1e3 * speed
        params["orbitmesh.compute_energy_wh"].double_param = (
            self.state.battery.params.compute_w * busy_s * speed / 3600.0
        )
        self.state.finish(response.ByteSize())
        await self._release()
        return response

    async def _release(self) -> None:
        async with self._slots:
            self._slots.notify_all()

    def _refusal_message(self, cause: Cause) -> str:
        snap = self.state
        if cause is Cause.POWER:
            return (
                f"satellite {self.satellite_id} is saving power: battery at "
                f"{snap.battery.soc:.1%}, below its reserve"
            )
        if cause is Cause.THERMAL:
            return f"satellite {self.satellite_id} is too hot: {snap.heat.temperature_c:.1f} degC"
        return f"satellite {self.satellite_id} queue is full ({snap.queue_depth} requests)"


class TelemetryServicer:
    """``orbitmesh.v1.Satellite``: status now, or a stream of it."""

    def __init__(
        self, state: NodeState, *, name: str, start: datetime, models: Sequence[str]
    ) -> None:
        self.state = state
        self.name = name
        self.start = start
        self.models = list(models)

    def status(self) -> Any:
        return status_message(
            self.state.snapshot(), name=self.name, start=self.start, models=self.models
        )

    async def Status(self, request: Any, context: Any) -> Any:  # noqa: N802
        return self.status()

    async def WatchStatus(self, request: Any, context: Any) -> AsyncIterator[Any]:  # noqa: N802
        interval_s = max(request.min_interval_ms, 50) / 1000.0 if request.min_interval_ms else 1.0
        while True:
            yield self.status()
            await asyncio.sleep(interval_s)


def status_message(snap: NodeSnapshot, *, name: str, start: datetime, models: Sequence[str]) -> Any:
    ledger = snap.ledger
    status = satellite_pb2.SatelliteStatus(
        satellite_id=snap.satellite_id,
        name=name,
        position=types_pb2.GeodeticPosition(
            lat_deg=snap.lat_deg, lon_deg=snap.lon_deg, alt_km=snap.alt_km
        ),
        position_itrs=types_pb2.Vector3Km(
            x_km=snap.itrs_km[0], y_km=snap.itrs_km[1], z_km=snap.itrs_km[2]
        ),
        sunlit=snap.sunlit,
        battery_wh=snap.battery_wh,
        battery_capacity_wh=snap.battery_capacity_wh,
        state_of_charge=snap.state_of_charge,
        temperature_c=snap.temperature_c,
        power_state=_POWER_STATES[snap.power_state],
        thermal_state=_THERMAL_STATES[snap.thermal_state],
        queue_depth=snap.queue_depth,
        queue_capacity=snap.queue_capacity,
        served_count=snap.served,
        running=snap.running,
        concurrency_limit=snap.concurrency_limit,
        energy=types_pb2.EnergyLedger(
            solar_in_wh=ledger.solar_in_wh,
            base_load_wh=ledger.base_load_wh,
            compute_wh=ledger.compute_wh,
            radio_wh=ledger.radio_wh,
            clipped_wh=ledger.clipped_wh,
            stored_delta_wh=ledger.stored_delta_wh,
            unmet_wh=ledger.unmet_wh,
        ),
        models=list(models),
    )
    status.sim_time.FromDatetime(start + timedelta(seconds=snap.offset_s))
    for cause, count in snap.refused.items():
        status.refused.by_cause[cause] = count
    return status
