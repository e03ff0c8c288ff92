from protos.orbitmesh.v1 import ground_station_pb2 as _ground_station_pb2
from protos.orbitmesh.v1 import satellite_pb2 as _satellite_pb2
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
    __slots__ = ("host_id", "pid", "satellites", "stations")
    HOST_ID_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    SATELLITES_FIELD_NUMBER: _ClassVar[int]
    STATIONS_FIELD_NUMBER: _ClassVar[int]
    host_id: str
    pid: int
    satellites: _containers.RepeatedCompositeFieldContainer[_satellite_pb2.SatelliteStatus]
    stations: _containers.RepeatedCompositeFieldContainer[StationStatus]
    def __init__(self, host_id: _Optional[str] = ..., pid: _Optional[int] = ..., satellites: _Optional[_Iterable[_Union[_satellite_pb2.SatelliteStatus, _Mapping]]] = ..., stations: _Optional[_Iterable[_Union[StationStatus, _Mapping]]] = ...) -> None: ...

class StationStatus(_message.Message):
    __slots__ = ("name", "address", "link_stats", "visible", "reachable_compute_satellites")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    LINK_STATS_FIELD_NUMBER: _ClassVar[int]
    VISIBLE_FIELD_NUMBER: _ClassVar[int]
    REACHABLE_COMPUTE_SATELLITES_FIELD_NUMBER: _ClassVar[int]
    name: str
    address: str
    link_stats: _ground_station_pb2.LinkStatsReply
    visible: _ground_station_pb2.VisibleSatellites
    reachable_compute_satellites: int
    def __init__(self, name: _Optional[str] = ..., address: _Optional[str] = ..., link_stats: _Optional[_Union[_ground_station_pb2.LinkStatsReply, _Mapping]] = ..., visible: _Optional[_Union[_ground_station_pb2.VisibleSatellites, _Mapping]] = ..., reachable_compute_satellites: _Optional[int] = ...) -> None: ...
