import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from orbitmesh.protos.orbitmesh.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WatchStatusRequest(_message.Message):
    __slots__ = ("min_interval_ms",)
    MIN_INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    min_interval_ms: int
    def __init__(self, min_interval_ms: _Optional[int] = ...) -> None: ...

class SatelliteStatus(_message.Message):
    __slots__ = ("satellite_id", "name", "sim_time", "position", "position_itrs", "sunlit", "battery_wh", "battery_capacity_wh", "state_of_charge", "temperature_c", "power_state", "queue_depth", "queue_capacity", "served_count", "refused", "energy", "models", "thermal_state", "running", "concurrency_limit", "inference_latency", "radiation", "accelerator", "late_inferences", "late_by")
    SATELLITE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SIM_TIME_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    POSITION_ITRS_FIELD_NUMBER: _ClassVar[int]
    SUNLIT_FIELD_NUMBER: _ClassVar[int]
    BATTERY_WH_FIELD_NUMBER: _ClassVar[int]
    BATTERY_CAPACITY_WH_FIELD_NUMBER: _ClassVar[int]
    STATE_OF_CHARGE_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_C_FIELD_NUMBER: _ClassVar[int]
    POWER_STATE_FIELD_NUMBER: _ClassVar[int]
    QUEUE_DEPTH_FIELD_NUMBER: _ClassVar[int]
    QUEUE_CAPACITY_FIELD_NUMBER: _ClassVar[int]
    SERVED_COUNT_FIELD_NUMBER: _ClassVar[int]
    REFUSED_FIELD_NUMBER: _ClassVar[int]
    ENERGY_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    THERMAL_STATE_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    CONCURRENCY_LIMIT_FIELD_NUMBER: _ClassVar[int]
    INFERENCE_LATENCY_FIELD_NUMBER: _ClassVar[int]
    RADIATION_FIELD_NUMBER: _ClassVar[int]
    ACCELERATOR_FIELD_NUMBER: _ClassVar[int]
    LATE_INFERENCES_FIELD_NUMBER: _ClassVar[int]
    LATE_BY_FIELD_NUMBER: _ClassVar[int]
    satellite_id: str
    name: str
    sim_time: _timestamp_pb2.Timestamp
    position: _types_pb2.GeodeticPosition
    position_itrs: _types_pb2.Vector3Km
    sunlit: bool
    battery_wh: float
    battery_capacity_wh: float
    state_of_charge: float
    temperature_c: float
    power_state: _types_pb2.PowerState
    queue_depth: int
    queue_capacity: int
    served_count: int
    refused: _types_pb2.RefusalCounts
    energy: _types_pb2.EnergyLedger
    models: _containers.RepeatedScalarFieldContainer[str]
    thermal_state: _types_pb2.ThermalState
    running: int
    concurrency_limit: int
    inference_latency: _types_pb2.Histogram
    radiation: _types_pb2.RadiationCounts
    accelerator: str
    late_inferences: int
    late_by: _types_pb2.Histogram
    def __init__(self, satellite_id: _Optional[str] = ..., name: _Optional[str] = ..., sim_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., position: _Optional[_Union[_types_pb2.GeodeticPosition, _Mapping]] = ..., position_itrs: _Optional[_Union[_types_pb2.Vector3Km, _Mapping]] = ..., sunlit: _Optional[bool] = ..., battery_wh: _Optional[float] = ..., battery_capacity_wh: _Optional[float] = ..., state_of_charge: _Optional[float] = ..., temperature_c: _Optional[float] = ..., power_state: _Optional[_Union[_types_pb2.PowerState, str]] = ..., queue_depth: _Optional[int] = ..., queue_capacity: _Optional[int] = ..., served_count: _Optional[int] = ..., refused: _Optional[_Union[_types_pb2.RefusalCounts, _Mapping]] = ..., energy: _Optional[_Union[_types_pb2.EnergyLedger, _Mapping]] = ..., models: _Optional[_Iterable[str]] = ..., thermal_state: _Optional[_Union[_types_pb2.ThermalState, str]] = ..., running: _Optional[int] = ..., concurrency_limit: _Optional[int] = ..., inference_latency: _Optional[_Union[_types_pb2.Histogram, _Mapping]] = ..., radiation: _Optional[_Union[_types_pb2.RadiationCounts, _Mapping]] = ..., accelerator: _Optional[str] = ..., late_inferences: _Optional[int] = ..., late_by: _Optional[_Union[_types_pb2.Histogram, _Mapping]] = ...) -> None: ...
