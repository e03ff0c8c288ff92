import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from orbitmesh.protos.orbitmesh.v1 import ground_station_pb2 as _ground_station_pb2
from orbitmesh.protos.orbitmesh.v1 import satellite_pb2 as _satellite_pb2
from orbitmesh.protos.orbitmesh.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MembersRequest(_message.Message):
    __slots__ = ("brief",)
    BRIEF_FIELD_NUMBER: _ClassVar[int]
    brief: bool
    def __init__(self, brief: _Optional[bool] = ...) -> None: ...

class HostMembers(_message.Message):
    __slots__ = ("host_id", "pid", "satellites", "stations", "vitals")
    HOST_ID_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    SATELLITES_FIELD_NUMBER: _ClassVar[int]
    STATIONS_FIELD_NUMBER: _ClassVar[int]
    VITALS_FIELD_NUMBER: _ClassVar[int]
    host_id: str
    pid: int
    satellites: _containers.RepeatedCompositeFieldContainer[_satellite_pb2.SatelliteStatus]
    stations: _containers.RepeatedCompositeFieldContainer[StationStatus]
    vitals: SatelliteVitals
    def __init__(self, host_id: _Optional[str] = ..., pid: _Optional[int] = ..., satellites: _Optional[_Iterable[_Union[_satellite_pb2.SatelliteStatus, _Mapping]]] = ..., stations: _Optional[_Iterable[_Union[StationStatus, _Mapping]]] = ..., vitals: _Optional[_Union[SatelliteVitals, _Mapping]] = ...) -> None: ...

class StationStatus(_message.Message):
    __slots__ = ("name", "address", "link_stats", "visible", "reachable_compute_satellites", "active_faults", "visible_count")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    LINK_STATS_FIELD_NUMBER: _ClassVar[int]
    VISIBLE_FIELD_NUMBER: _ClassVar[int]
    REACHABLE_COMPUTE_SATELLITES_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FAULTS_FIELD_NUMBER: _ClassVar[int]
    VISIBLE_COUNT_FIELD_NUMBER: _ClassVar[int]
    name: str
    address: str
    link_stats: _ground_station_pb2.LinkStatsReply
    visible: _ground_station_pb2.VisibleSatellites
    reachable_compute_satellites: int
    active_faults: _containers.RepeatedScalarFieldContainer[str]
    visible_count: int
    def __init__(self, name: _Optional[str] = ..., address: _Optional[str] = ..., link_stats: _Optional[_Union[_ground_station_pb2.LinkStatsReply, _Mapping]] = ..., visible: _Optional[_Union[_ground_station_pb2.VisibleSatellites, _Mapping]] = ..., reachable_compute_satellites: _Optional[int] = ..., active_faults: _Optional[_Iterable[str]] = ..., visible_count: _Optional[int] = ...) -> None: ...

class SatelliteVitals(_message.Message):
    __slots__ = ("sim_time", "satellite_ids", "sunlit", "battery_wh", "state_of_charge", "temperature_c", "power_state", "thermal_state", "queue_depth", "served_count", "refused_by_cause", "serving", "weight_upset_count", "output_upset_count", "latchup_count", "dose_rad")
    class RefusedByCauseEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: Counts
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Counts, _Mapping]] = ...) -> None: ...
    SIM_TIME_FIELD_NUMBER: _ClassVar[int]
    SATELLITE_IDS_FIELD_NUMBER: _ClassVar[int]
    SUNLIT_FIELD_NUMBER: _ClassVar[int]
    BATTERY_WH_FIELD_NUMBER: _ClassVar[int]
    STATE_OF_CHARGE_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_C_FIELD_NUMBER: _ClassVar[int]
    POWER_STATE_FIELD_NUMBER: _ClassVar[int]
    THERMAL_STATE_FIELD_NUMBER: _ClassVar[int]
    QUEUE_DEPTH_FIELD_NUMBER: _ClassVar[int]
    SERVED_COUNT_FIELD_NUMBER: _ClassVar[int]
    REFUSED_BY_CAUSE_FIELD_NUMBER: _ClassVar[int]
    SERVING_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_UPSET_COUNT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_UPSET_COUNT_FIELD_NUMBER: _ClassVar[int]
    LATCHUP_COUNT_FIELD_NUMBER: _ClassVar[int]
    DOSE_RAD_FIELD_NUMBER: _ClassVar[int]
    sim_time: _timestamp_pb2.Timestamp
    satellite_ids: _containers.RepeatedScalarFieldContainer[str]
    sunlit: _containers.RepeatedScalarFieldContainer[bool]
    battery_wh: _containers.RepeatedScalarFieldContainer[float]
    state_of_charge: _containers.RepeatedScalarFieldContainer[float]
    temperature_c: _containers.RepeatedScalarFieldContainer[float]
    power_state: _containers.RepeatedScalarFieldContainer[_types_pb2.PowerState]
    thermal_state: _containers.RepeatedScalarFieldContainer[_types_pb2.ThermalState]
    queue_depth: _containers.RepeatedScalarFieldContainer[int]
    served_count: _containers.RepeatedScalarFieldContainer[int]
    refused_by_cause: _containers.MessageMap[str, Counts]
    serving: _containers.RepeatedScalarFieldContainer[bool]
    weight_upset_count: _containers.RepeatedScalarFieldContainer[int]
    output_upset_count: _containers.RepeatedScalarFieldContainer[int]
    latchup_count: _containers.RepeatedScalarFieldContainer[int]
    dose_rad: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, sim_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., satellite_ids: _Optional[_Iterable[str]] = ..., sunlit: _Optional[_Iterable[bool]] = ..., battery_wh: _Optional[_Iterable[float]] = ..., state_of_charge: _Optional[_Iterable[float]] = ..., temperature_c: _Optional[_Iterable[float]] = ..., power_state: _Optional[_Iterable[_Union[_types_pb2.PowerState, str]]] = ..., thermal_state: _Optional[_Iterable[_Union[_types_pb2.ThermalState, str]]] = ..., queue_depth: _Optional[_Iterable[int]] = ..., served_count: _Optional[_Iterable[int]] = ..., refused_by_cause: _Optional[_Mapping[str, Counts]] = ..., serving: _Optional[_Iterable[bool]] = ..., weight_upset_count: _Optional[_Iterable[int]] = ..., output_upset_count: _Optional[_Iterable[int]] = ..., latchup_count: _Optional[_Iterable[int]] = ..., dose_rad: _Optional[_Iterable[float]] = ...) -> None: ...

class Counts(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, values: _Optional[_Iterable[int]] = ...) -> None: ...
