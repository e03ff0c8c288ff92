"""gRPC servicers of a compute satellite: Open Inference Protocol and telemetry.

Thin shells: they parse, ask :class:`~orbitmesh.node.state.NodeState` for admission, run the
model off the event loop, and map every refusal to a status code with its cause in the
``orbitmesh-cause`` trailing metadata.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import grpc

from orbitmesh.links.datapath import RemoteError
from orbitmesh.node.accelerator import HOST
from orbitmesh.node.app import SatelliteApp
from orbitmesh.node.forwarding import Forwarder
from orbitmesh.node.inference import InferenceCore, Timing
from orbitmesh.node.power import PowerState
from orbitmesh.node.runtime import ModelRuntime
from orbitmesh.node.state import NodeSnapshot, NodeState, VitalsTable
from orbitmesh.node.thermal import ThermalState
from orbitmesh.node.upsets import OutputFlip, UpsetCounts
from orbitmesh.protos.contract import (
    CODE_OF_CAUSE,
    MODEL_VERSION,
    Cause,
    Param,
    Refused,
    Stage,
    abort_with,
    abort_with_cause,
    bool_param,
    cause_for_code,
    parse_pipeline,
    string_param,
)
from orbitmesh.protos.inference import grpc_service_pb2 as pb
from orbitmesh.protos.orbitmesh.v1 import host_pb2, satellite_pb2, types_pb2
from orbitmesh.protos.statistics import histogram_message, statistics_message
from orbitmesh.protos.tensors import (
    TensorError,
    TensorSpec,
    decode_inputs,
    encode_inputs,
    encode_outputs,
    model_config,
    parse_infer_request,
)

__all__ = [
    "InferenceServicer",
    "TelemetryServicer",
    "status_message",
    "vitals_message",
]

_log = logging.getLogger(__name__)

SERVER_NAME = "orbitmesh-satellite"
SERVER_VERSION = "0.1.0"

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


#: Causes NodeState.admit decides and counts itself (a latch-up refuses node-down).
_ADMISSION_CAUSES = frozenset({Cause.POWER, Cause.THERMAL, Cause.QUEUE, Cause.NODE_DOWN})


@dataclass(frozen=True)
class _Unparsed:
    """A ModelInfer request the deserializer refused to parse (too big or malformed)."""

    size_bytes: int
    cause: Cause
    message: str


class InferenceServicer:
    """``inference.GRPCInferenceService`` for one satellite.

    A request may carry ``orbitmesh.pipeline``, the stages still to run after this one
    (JSON list of ``{"model", "satellite" | "policy", "inputs"}``): this satellite then
    sends its outputs on to the next stage over the emulated laser links and answers
    with what the last stage returns. A scenario's user app is served as one more model.
    """

    def __init__(
        self,
        runtime: ModelRuntime,
        core: InferenceCore,
        *,
        satellite_id: str,
        max_message_bytes: int,
        start: datetime,
        forwarder: Forwarder | None = None,
        app: SatelliteApp | None = None,
    ) -> None:
        self.runtime = runtime
        self._start_unix_s = start.timestamp()  # simulated time 0, for last_inference
        self.core = core
        self.state = core.state
        self.satellite_id = satellite_id
        self.max_message_bytes = max_message_bytes
        self.forwarder = forwarder
        self.app = app

    # ------------------------------------------------------------------ wiring

    def _parse_infer(self, data: bytes) -> pb.ModelInferRequest | _Unparsed:
        # Parsing happens before the handler runs; returning a marker instead of raising
        # lets the handler count the refusal and answer with its cause.
        try:
            return parse_infer_request(
                data, max_message_bytes=self.max_message_bytes, server="this satellite"
            )
        except Refused as refusal:
            return _Unparsed(len(data), refusal.cause, str(refusal))

    def handlers(self) -> dict[str, grpc.RpcMethodHandler]:
        """The service's method handlers, by method name (for protos.serving.ServerGuard)."""

        def unary(
            behaviour: Callable[..., Any], request: Any, response: Any, parse: Any = None
        ) -> Any:
            return grpc.unary_unary_rpc_method_handler(
                behaviour,
                request_deserializer=parse or request.FromString,
                response_serializer=response.SerializeToString,
            )

        return {
            "ServerLive": unary(self.ServerLive, pb.ServerLiveRequest, pb.ServerLiveResponse),
            "ServerReady": unary(self.ServerReady, pb.ServerReadyRequest, pb.ServerReadyResponse),
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
            "ModelConfig": unary(self.ModelConfig, pb.ModelConfigRequest, pb.ModelConfigResponse),
            "ModelStatistics": unary(
                self.ModelStatistics, pb.ModelStatisticsRequest, pb.ModelStatisticsResponse
            ),
        }

    def close(self) -> None:
        self.core.close()

    @property
    def model_names(self) -> list[str]:
        return [*self.runtime.names, *([self.app.name] if self.app is not None else [])]

    # ------------------------------------------------------------------ health and metadata

    async def ServerLive(  # noqa: N802 (protocol names)
        self, request: pb.ServerLiveRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=True)

    async def ServerReady(  # noqa: N802
        self, request: pb.ServerReadyRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=True)

    async def ModelReady(  # noqa: N802
        self, request: pb.ModelReadyRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ModelReadyResponse:
        ready = request.name in self.model_names and request.version in ("", MODEL_VERSION)
        return pb.ModelReadyResponse(ready=ready)

    async def ServerMetadata(  # noqa: N802
        self, request: pb.ServerMetadataRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ServerMetadataResponse:
        return pb.ServerMetadataResponse(name=SERVER_NAME, version=SERVER_VERSION, extensions=[])

    async def ModelMetadata(  # noqa: N802
        self, request: pb.ModelMetadataRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ModelMetadataResponse:
        inputs, outputs = await self._signature_or_abort(request, context)
        return pb.ModelMetadataResponse(
            name=request.name,
            versions=[MODEL_VERSION],
            platform=self._platform(request.name),
            inputs=[spec.metadata() for spec in inputs.values()],
            outputs=[spec.metadata() for spec in outputs.values()],
        )

    async def ModelConfig(  # noqa: N802
        self, request: pb.ModelConfigRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ModelConfigResponse:
        inputs, outputs = await self._signature_or_abort(request, context)
        config = model_config(
            request.name,
            self._platform(request.name),
            inputs.values(),
            outputs.values(),
            max_message_bytes=self.max_message_bytes,
            instances=self.state.concurrency_limit(),
        )
        return pb.ModelConfigResponse(config=config)

    async def ModelStatistics(  # noqa: N802
        self, request: pb.ModelStatisticsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ModelStatisticsResponse:
        if request.name:
            await self._signature_or_abort(request, context)
        names = [request.name] if request.name else self.model_names
        return pb.ModelStatisticsResponse(
            model_stats=[statistics_message(name, self.core.stats.of(name)) for name in names]
        )

    async def _signature_or_abort(
        self, request: Any, context: Any
    ) -> tuple[dict[str, TensorSpec], dict[str, TensorSpec]]:
        """The named model's signature, or the call ends with the refusal's cause."""
        try:
            return self._signature(request.name, request.version)
        except Refused as refusal:
            self.state.refuse(refusal.cause)
            await abort_with_cause(context, refusal.cause, str(refusal))

    def _platform(self, name: str) -> str:
        return "orbitmesh_app" if self._is_app(name) else "onnxruntime_onnx"

    def _is_app(self, name: str) -> bool:
        return self.app is not None and name == self.app.name

    def _signature(
        self, name: str, version: str
    ) -> tuple[dict[str, TensorSpec], dict[str, TensorSpec]]:
        if version not in ("", MODEL_VERSION):
            raise Refused(
                Cause.NOT_FOUND,
                f"model {name!r} has no version {version!r} (only {MODEL_VERSION!r})",
            )
        if self.app is not None and name == self.app.name:
            return {s.name: s for s in self.app.inputs}, {s.name: s for s in self.app.outputs}
        model = self.runtime.get(name)
        if model is None:
            served = ", ".join(self.model_names) or "none"
            raise Refused(
                Cause.NOT_FOUND,
                f"unknown model {name!r} on satellite {self.satellite_id} (serves: {served})",
            )
        return model.inputs, model.outputs

    # ------------------------------------------------------------------ inference

    async def ModelInfer(  # noqa: N802
        self, request: pb.ModelInferRequest | _Unparsed, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ModelInferResponse:
        try:
            return await self.infer(request, context.time_remaining())
        except RemoteError as failed:
            await abort_with(context, failed.code, failed.details, failed.cause)

    async def infer(
        self, request: pb.ModelInferRequest | _Unparsed, time_remaining_s: float | None
    ) -> pb.ModelInferResponse:
        """One ModelInfer, whatever carried it (the gRPC endpoint or the hosts' data
        path): the response, or RemoteError with the status code and cause to answer
        (always a cause, whatever went wrong)."""
        if isinstance(request, _Unparsed):
            self.state.refuse(request.cause)
            raise _failure(request.cause, request.message)
        arrived = time.monotonic()
        answered = False
        try:
            response = await self._serve(request, time_remaining_s)
            answered = True
            return response
        except Refused as refusal:
            if refusal.cause not in _ADMISSION_CAUSES:
                self.state.refuse(refusal.cause)  # admission counts its own refusals
            raise _failure(refusal.cause, str(refusal)) from None
        except TensorError as exc:
            self.state.refuse(Cause.INVALID)
            raise _failure(Cause.INVALID, str(exc)) from None
        except RemoteError as failed:  # a later stage's failure, passed on with a cause
            cause = cause_for_code(failed.code, failed.cause)
            raise RemoteError(failed.code, failed.details, cause) from None
        except Exception:
            # A bug: logged here, answered with a cause (never the exception's name).
            _log.exception("satellite %s: ModelInfer failed", self.satellite_id)
            self.state.refuse(Cause.INTERNAL)
            raise _failure(
                Cause.INTERNAL, f"internal error on satellite {self.satellite_id} (logged)"
            ) from None
        finally:
            self._book(request.model_name, arrived, answered)

    def _book(self, model: str, arrived: float, answered: bool) -> None:
        """ModelStatistics' success and fail counts, for the models this satellite holds."""
        if self.runtime.get(model) is None and not self._is_app(model):
            return
        took_s = (time.monotonic() - arrived) * self.state.clock_speed
        if answered:
            at_s = self._start_unix_s + self.state.clock()
            self.core.stats.answered(model, took_s=took_s, at_ms=round(at_s * 1e3))
        else:
            self.core.stats.failed(model, took_s=took_s)

    def parse_infer(self, data: bytes) -> pb.ModelInferRequest | _Unparsed:
        """A request's bytes as the gRPC endpoint parses them (a marker when refused)."""
        return self._parse_infer(data)

    async def _serve(
        self, request: pb.ModelInferRequest, time_remaining_s: float | None
    ) -> pb.ModelInferResponse:
        pipeline = string_param(request.parameters, Param.PIPELINE)
        stages = parse_pipeline(pipeline) if pipeline is not None else []
        report = bool_param(request.parameters, Param.REPORT_UPSETS)
        inputs, outputs_spec = self._signature(request.model_name, request.model_version)
        feeds = decode_inputs(request, inputs)
        requested = [o.name for o in request.outputs]
        unknown = [n for n in requested if n not in outputs_spec]
        if unknown:
            known = ", ".join(outputs_spec)
            raise TensorError(
                f'model {request.model_name!r} has no output "{unknown[0]}" (outputs: {known})',
                unknown[0],
            )
        if self._is_app(request.model_name):
            outputs, timing = await self._run_app(feeds, request)
        else:
            model = self.runtime.get(request.model_name)
            assert model is not None  # _signature checked it
            try:
                outputs, timing = await self.core.run(model, feeds, requested or None)
            except Refused:
                raise
            except Exception as exc:
                raise Refused(Cause.INTERNAL, f"inference failed: {exc}") from exc
        if stages:
            return await self._next_stage(
                outputs, stages, request, timing, time_remaining_s, report=report
            )
        tensors, raws = encode_outputs(outputs, requested or None)
        response = pb.ModelInferResponse(
            model_name=request.model_name,
            model_version=MODEL_VERSION,
            id=request.id,
            outputs=tensors,
            raw_output_contents=raws,
        )
        params = response.parameters
        params[Param.SATELLITE].string_param = self.satellite_id
        params[Param.REPLY_FROM].string_param = self.satellite_id
        params[Param.QUEUE_MS].double_param = timing.queue_s * 1e3
        params[Param.INFERENCE_MS].double_param = timing.busy_s * 1e3
        params[Param.COMPUTE_ENERGY_WH].double_param = timing.compute_energy_wh
        if timing.late_s > 0.0:
            params[Param.LATE_MS].double_param = timing.late_s * 1e3
        params[Param.STAGES].string_param = f"{self.satellite_id}:{request.model_name}"
        if report and not self._is_app(request.model_name):
            # An app's own outputs are not a model's: what its inferences carried is
            # not said (docs/faults.md).
            params[Param.UPSETS].string_param = json.dumps(self._flips_json(timing.output_flips))
            params[Param.WEIGHT_UPSETS].int64_param = timing.weight_upsets
        self.state.transmit(response.ByteSize())
        return response

    def _flips_json(self, flips: Sequence[OutputFlip]) -> list[dict[str, object]]:
        return [{**flip.as_json(), "satellite": self.satellite_id} for flip in flips]

    async def _run_app(
        self, feeds: dict[str, Any], request: pb.ModelInferRequest
    ) -> tuple[dict[str, Any], Timing]:
        assert self.app is not None
        self.core.admit()
        started = time.monotonic()
        ok = False
        try:
            parameters = {k: _parameter_value(v) for k, v in request.parameters.items()}
            outputs = await self.app.infer(feeds, parameters)
            ok = True
        except (Refused, TensorError, RemoteError):
            raise
        except Exception as exc:
            raise Refused(Cause.INTERNAL, f"app {self.app.name!r} failed: {exc!r}") from exc
        finally:
            took_s = (time.monotonic() - started) * self.state.clock_speed
            self.state.leave(served=ok, latency_s=took_s)
        return dict(outputs), Timing(queue_s=0.0, busy_s=took_s, compute_energy_wh=0.0)

    async def _next_stage(
        self,
        outputs: dict[str, Any],
        stages: list[Stage],
        request: pb.ModelInferRequest,
        timing: Timing,
        time_remaining_s: float | None,
        *,
        report: bool = False,
    ) -> pb.ModelInferResponse:
        if self.forwarder is None:
            raise Refused(Cause.INVALID, "this satellite cannot forward pipeline stages")
        stage, rest = stages[0], stages[1:]
        mapping = stage.inputs
        missing = sorted(set(mapping.values()) - set(outputs)) if mapping else []
        if missing:
            raise Refused(
                Cause.INVALID,
                f"{Param.PIPELINE}: stage {stage.model!r} takes output {missing[0]!r}, which "
                f"model {request.model_name!r} does not give (outputs: {', '.join(outputs)})",
            )
        feeds = {name: outputs[source] for name, source in mapping.items()} if mapping else outputs
        target, route = self.forwarder.pick(
            stage.model, satellite=stage.satellite, policy=stage.policy
        )
        onward = pb.ModelInferRequest(model_name=stage.model, id=request.id)
        encode_inputs(onward, feeds)
        if rest:
            onward.parameters[Param.PIPELINE].string_param = json.dumps(
                [later.as_json() for later in rest]
            )
        if report:
            onward.parameters[Param.REPORT_UPSETS].bool_param = True
        reply, transfer = await self.forwarder.call(
            target, route, onward.SerializeToString(), time_remaining_s
        )
        response: pb.ModelInferResponse = pb.ModelInferResponse.FromString(reply)
        params = response.parameters
        done = f"{self.satellite_id}:{request.model_name}"
        params[Param.STAGES].string_param = f"{done},{params[Param.STAGES].string_param}"
        params[Param.ISL_MS].double_param += transfer.total_ms
        params[Param.INFERENCE_MS].double_param += timing.busy_s * 1e3
        params[Param.COMPUTE_ENERGY_WH].double_param += timing.compute_energy_wh
        if timing.late_s > 0.0:
            params[Param.LATE_MS].double_param += timing.late_s * 1e3
        params[Param.SATELLITE].string_param = self.satellite_id
        if report:
            # This stage's flips first: the list follows the stages' order.
            later = json.loads(params[Param.UPSETS].string_param or "[]")
            mine = self._flips_json(timing.output_flips)
            params[Param.UPSETS].string_param = json.dumps([*mine, *later])
            params[Param.WEIGHT_UPSETS].int64_param += timing.weight_upsets
        return response


def _failure(cause: Cause, message: str) -> RemoteError:
    return RemoteError(grpc.StatusCode[CODE_OF_CAUSE[cause]], message, cause.value)


def _parameter_value(parameter: Any) -> object:
    which = parameter.WhichOneof("parameter_choice")
    return None if which is None else getattr(parameter, which)


class TelemetryServicer:
    """``orbitmesh.v1.Satellite``: status now, or a stream of it."""

    def __init__(
        self,
        state: NodeState,
        *,
        name: str,
        start: datetime,
        models: Sequence[str],
        accelerator: str = HOST,
    ) -> None:
        self.state = state
        self.name = name
        self.start = start
        self.models = list(models)
        self.accelerator = accelerator

    def status(self) -> satellite_pb2.SatelliteStatus:
        return status_message(
            self.state.snapshot(),
            name=self.name,
            start=self.start,
            models=self.models,
            accelerator=self.accelerator,
        )

    async def Status(  # noqa: N802
        self, request: satellite_pb2.StatusRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> satellite_pb2.SatelliteStatus:
        return self.status()

    async def WatchStatus(  # noqa: N802
        self, request: satellite_pb2.WatchStatusRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[satellite_pb2.SatelliteStatus]:
        interval_s = max(request.min_interval_ms, 50) / 1000.0 if request.min_interval_ms else 1.0
        while True:
            yield self.status()
            await asyncio.sleep(interval_s)


def vitals_message(
    satellite_ids: Sequence[str], vitals: VitalsTable, serving: Sequence[bool], start: datetime
) -> host_pb2.SatelliteVitals:
    """Many satellites' vitals as one ``SatelliteVitals`` (parallel arrays)."""
    powers = [_POWER_STATES[p] for p in PowerState]
    thermals = [_THERMAL_STATES[t] for t in ThermalState]
    message = host_pb2.SatelliteVitals(
        satellite_ids=list(satellite_ids),
        sunlit=vitals.sunlit.tolist(),
        battery_wh=vitals.battery_wh.tolist(),
        state_of_charge=vitals.state_of_charge.tolist(),
        temperature_c=vitals.temperature_c.tolist(),
        power_state=[powers[i] for i in vitals.power_state.tolist()],
        thermal_state=[thermals[i] for i in vitals.thermal_state.tolist()],
        queue_depth=vitals.queue_depth.tolist(),
        served_count=vitals.served.tolist(),
        serving=list(serving),
        weight_upset_count=vitals.weight_upsets.tolist(),
        output_upset_count=vitals.output_upsets.tolist(),
        latchup_count=vitals.latchups.tolist(),
        dose_rad=vitals.dose_rad.tolist(),
    )
    for cause, counts in vitals.refused.items():
        message.refused_by_cause[cause].values.extend(counts.tolist())
    offset_s = float(vitals.offset_s.max()) if len(vitals) else 0.0
    message.sim_time.FromDatetime(start + timedelta(seconds=offset_s))
    return message


def status_message(
    snap: NodeSnapshot,
    *,
    name: str,
    start: datetime,
    models: Sequence[str],
    accelerator: str = HOST,
) -> satellite_pb2.SatelliteStatus:
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
        accelerator=accelerator,
        late_inferences=snap.late,
    )
    status.late_by.CopyFrom(histogram_message(snap.late_by))
    status.sim_time.FromDatetime(start + timedelta(seconds=snap.offset_s))
    for cause, count in snap.refused.items():
        status.refused.by_cause[cause] = count
    status.inference_latency.CopyFrom(histogram_message(snap.latency))
    if snap.radiation is not None:
        status.radiation.CopyFrom(_radiation_message(snap.radiation))
    return status


def _radiation_message(counts: UpsetCounts) -> types_pb2.RadiationCounts:
    return types_pb2.RadiationCounts(
        weight_upset_count=counts.weight_upsets,
        output_upset_count=counts.output_upsets,
        latchup_count=counts.latchups,
        dose_rad=counts.dose_rad,
        weight_upsets_in_effect=counts.weight_upsets_now,
        latched_up=counts.latched_up,
    )
