import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from orbitmesh.protos.orbitmesh.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ContactKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONTACT_KIND_UNSPECIFIED: _ClassVar[ContactKind]
    CONTACT_KIND_RISE: _ClassVar[ContactKind]
    CONTACT_KIND_SET: _ClassVar[ContactKind]
    CONTACT_KIND_HANDOVER: _ClassVar[ContactKind]
CONTACT_KIND_UNSPECIFIED: ContactKind
CONTACT_KIND_RISE: ContactKind
CONTACT_KIND_SET: ContactKind
CONTACT_KIND_HANDOVER: ContactKind

class InfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StationInfo(_message.Message):
    __slots__ = ("name", "position", "min_elevation_deg")
    NAME_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    MIN_ELEVATION_DEG_FIELD_NUMBER: _ClassVar[int]
    name: str
    position: _types_pb2.GeodeticPosition
    min_elevation_deg: float
    def __init__(self, name: _Optional[str] = ..., position: _Optional[_Union[_types_pb2.GeodeticPosition, _Mapping]] = ..., min_elevation_deg: _Optional[float] = ...) -> None: ...

class VisibleRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class VisibleSatellite(_message.Message):
    __slots__ = ("satellite_id", "elevation_deg", "azimuth_deg", "range_km", "delay_ms")
    SATELLITE_ID_FIELD_NUMBER: _ClassVar[int]
    ELEVATION_DEG_FIELD_NUMBER: _ClassVar[int]
    AZIMUTH_DEG_FIELD_NUMBER: _ClassVar[int]
    RANGE_KM_FIELD_NUMBER: _ClassVar[int]
    DELAY_MS_FIELD_NUMBER: _ClassVar[int]
    satellite_id: str
    elevation_deg: float
    azimuth_deg: float
    range_km: float
    delay_ms: float
    def __init__(self, satellite_id: _Optional[str] = ..., elevation_deg: _Optional[float] = ..., azimuth_deg: _Optional[float] = ..., range_km: _Optional[float] = ..., delay_ms: _Optional[float] = ...) -> None: ...

class VisibleSatellites(_message.Message):
    __slots__ = ("sim_time", "satellites", "position", "handover_by_motion")
    SIM_TIME_FIELD_NUMBER: _ClassVar[int]
    SATELLITES_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    HANDOVER_BY_MOTION_FIELD_NUMBER: _ClassVar[int]
    sim_time: _timestamp_pb2.Timestamp
    satellites: _containers.RepeatedCompositeFieldContainer[VisibleSatellite]
    position: _types_pb2.GeodeticPosition
    handover_by_motion: bool
    def __init__(self, sim_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., satellites: _Optional[_Iterable[_Union[VisibleSatellite, _Mapping]]] = ..., position: _Optional[_Union[_types_pb2.GeodeticPosition, _Mapping]] = ..., handover_by_motion: _Optional[bool] = ...) -> None: ...

class RoutesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RouteTable(_message.Message):
    __slots__ = ("sim_time", "routes")
    SIM_TIME_FIELD_NUMBER: _ClassVar[int]
    ROUTES_FIELD_NUMBER: _ClassVar[int]
    sim_time: _timestamp_pb2.Timestamp
    routes: _containers.RepeatedCompositeFieldContainer[_types_pb2.Route]
    def __init__(self, sim_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., routes: _Optional[_Iterable[_Union[_types_pb2.Route, _Mapping]]] = ...) -> None: ...

class LinkStatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class LinkStatsReply(_message.Message):
    __slots__ = ("sim_time", "uplink_bytes", "downlink_bytes", "request_count", "handover_count", "failed_by_cause", "succeeded_count", "in_flight", "ticks_received", "late_tick_lookups", "mean_uplink_ms", "mean_downlink_ms", "latency_by_outcome", "links", "link_window_s", "lag_p50_ms", "lag_p99_ms", "lag_max_ms", "lag_samples", "lag_window_s")
    class FailedByCauseEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class LatencyByOutcomeEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _types_pb2.Histogram
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_types_pb2.Histogram, _Mapping]] = ...) -> None: ...
    SIM_TIME_FIELD_NUMBER: _ClassVar[int]
    UPLINK_BYTES_FIELD_NUMBER: _ClassVar[int]
    DOWNLINK_BYTES_FIELD_NUMBER: _ClassVar[int]
    REQUEST_COUNT_FIELD_NUMBER: _ClassVar[int]
    HANDOVER_COUNT_FIELD_NUMBER: _ClassVar[int]
    FAILED_BY_CAUSE_FIELD_NUMBER: _ClassVar[int]
    SUCCEEDED_COUNT_FIELD_NUMBER: _ClassVar[int]
    IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    TICKS_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    LATE_TICK_LOOKUPS_FIELD_NUMBER: _ClassVar[int]
    MEAN_UPLINK_MS_FIELD_NUMBER: _ClassVar[int]
    MEAN_DOWNLINK_MS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_BY_OUTCOME_FIELD_NUMBER: _ClassVar[int]
    LINKS_FIELD_NUMBER: _ClassVar[int]
    LINK_WINDOW_S_FIELD_NUMBER: _ClassVar[int]
    LAG_P50_MS_FIELD_NUMBER: _ClassVar[int]
    LAG_P99_MS_FIELD_NUMBER: _ClassVar[int]
    LAG_MAX_MS_FIELD_NUMBER: _ClassVar[int]
    LAG_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    LAG_WINDOW_S_FIELD_NUMBER: _ClassVar[int]
    sim_time: _timestamp_pb2.Timestamp
    uplink_bytes: int
    downlink_bytes: int
    request_count: int
    handover_count: int
    failed_by_cause: _containers.ScalarMap[str, int]
    succeeded_count: int
    in_flight: int
    ticks_received: int
    late_tick_lookups: int
    mean_uplink_ms: float
    mean_downlink_ms: float
    latency_by_outcome: _containers.MessageMap[str, _types_pb2.Histogram]
    links: _containers.RepeatedCompositeFieldContainer[LinkUsage]
    link_window_s: float
    lag_p50_ms: float
    lag_p99_ms: float
    lag_max_ms: float
    lag_samples: int
    lag_window_s: float
    def __init__(self, sim_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., uplink_bytes: _Optional[int] = ..., downlink_bytes: _Optional[int] = ..., request_count: _Optional[int] = ..., handover_count: _Optional[int] = ..., failed_by_cause: _Optional[_Mapping[str, int]] = ..., succeeded_count: _Optional[int] = ..., in_flight: _Optional[int] = ..., ticks_received: _Optional[int] = ..., late_tick_lookups: _Optional[int] = ..., mean_uplink_ms: _Optional[float] = ..., mean_downlink_ms: _Optional[float] = ..., latency_by_outcome: _Optional[_Mapping[str, _types_pb2.Histogram]] = ..., links: _Optional[_Iterable[_Union[LinkUsage, _Mapping]]] = ..., link_window_s: _Optional[float] = ..., lag_p50_ms: _Optional[float] = ..., lag_p99_ms: _Optional[float] = ..., lag_max_ms: _Optional[float] = ..., lag_samples: _Optional[int] = ..., lag_window_s: _Optional[float] = ...) -> None: ...

class LinkUsage(_message.Message):
    __slots__ = ("from_id", "to_id", "booked_bytes", "booked_busy_s", "recent_busy_s")
    FROM_ID_FIELD_NUMBER: _ClassVar[int]
    TO_ID_FIELD_NUMBER: _ClassVar[int]
    BOOKED_BYTES_FIELD_NUMBER: _ClassVar[int]
    BOOKED_BUSY_S_FIELD_NUMBER: _ClassVar[int]
    RECENT_BUSY_S_FIELD_NUMBER: _ClassVar[int]
    from_id: str
    to_id: str
    booked_bytes: int
    booked_busy_s: float
    recent_busy_s: float
    def __init__(self, from_id: _Optional[str] = ..., to_id: _Optional[str] = ..., booked_bytes: _Optional[int] = ..., booked_busy_s: _Optional[float] = ..., recent_busy_s: _Optional[float] = ...) -> None: ...

class WatchContactsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ContactEvent(_message.Message):
    __slots__ = ("sim_time", "satellite_id", "kind", "previous_satellite_id", "by_own_motion")
    SIM_TIME_FIELD_NUMBER: _ClassVar[int]
    SATELLITE_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_SATELLITE_ID_FIELD_NUMBER: _ClassVar[int]
    BY_OWN_MOTION_FIELD_NUMBER: _ClassVar[int]
    sim_time: _timestamp_pb2.Timestamp
    satellite_id: str
    kind: ContactKind
    previous_satellite_id: str
    by_own_motion: bool
    def __init__(self, sim_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., satellite_id: _Optional[str] = ..., kind: _Optional[_Union[ContactKind, str]] = ..., previous_satellite_id: _Optional[str] = ..., by_own_motion: _Optional[bool] = ...) -> None: ...
