from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PowerState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    POWER_STATE_UNSPECIFIED: _ClassVar[PowerState]
    POWER_STATE_NOMINAL: _ClassVar[PowerState]
    POWER_STATE_RESERVE: _ClassVar[PowerState]
    POWER_STATE_RECOVERING: _ClassVar[PowerState]

class ThermalState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    THERMAL_STATE_UNSPECIFIED: _ClassVar[ThermalState]
    THERMAL_STATE_NOMINAL: _ClassVar[ThermalState]
    THERMAL_STATE_THROTTLED: _ClassVar[ThermalState]
    THERMAL_STATE_OVERHEATED: _ClassVar[ThermalState]
POWER_STATE_UNSPECIFIED: PowerState
POWER_STATE_NOMINAL: PowerState
POWER_STATE_RESERVE: PowerState
POWER_STATE_RECOVERING: PowerState
THERMAL_STATE_UNSPECIFIED: ThermalState
THERMAL_STATE_NOMINAL: ThermalState
THERMAL_STATE_THROTTLED: ThermalState
THERMAL_STATE_OVERHEATED: ThermalState

class GeodeticPosition(_message.Message):
    __slots__ = ("lat_deg", "lon_deg", "alt_km")
    LAT_DEG_FIELD_NUMBER: _ClassVar[int]
    LON_DEG_FIELD_NUMBER: _ClassVar[int]
    ALT_KM_FIELD_NUMBER: _ClassVar[int]
    lat_deg: float
    lon_deg: float
    alt_km: float
    def __init__(self, lat_deg: _Optional[float] = ..., lon_deg: _Optional[float] = ..., alt_km: _Optional[float] = ...) -> None: ...

class Vector3Km(_message.Message):
    __slots__ = ("x_km", "y_km", "z_km")
    X_KM_FIELD_NUMBER: _ClassVar[int]
    Y_KM_FIELD_NUMBER: _ClassVar[int]
    Z_KM_FIELD_NUMBER: _ClassVar[int]
    x_km: float
    y_km: float
    z_km: float
    def __init__(self, x_km: _Optional[float] = ..., y_km: _Optional[float] = ..., z_km: _Optional[float] = ...) -> None: ...

class LinkHop(_message.Message):
    __slots__ = ("from_id", "to_id", "delay_ms", "rate_mbps")
    FROM_ID_FIELD_NUMBER: _ClassVar[int]
    TO_ID_FIELD_NUMBER: _ClassVar[int]
    DELAY_MS_FIELD_NUMBER: _ClassVar[int]
    RATE_MBPS_FIELD_NUMBER: _ClassVar[int]
    from_id: str
    to_id: str
    delay_ms: float
    rate_mbps: float
    def __init__(self, from_id: _Optional[str] = ..., to_id: _Optional[str] = ..., delay_ms: _Optional[float] = ..., rate_mbps: _Optional[float] = ...) -> None: ...

class Route(_message.Message):
    __slots__ = ("source_id", "destination_id", "hops", "delay_ms", "bottleneck_mbps")
    SOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_ID_FIELD_NUMBER: _ClassVar[int]
    HOPS_FIELD_NUMBER: _ClassVar[int]
    DELAY_MS_FIELD_NUMBER: _ClassVar[int]
    BOTTLENECK_MBPS_FIELD_NUMBER: _ClassVar[int]
    source_id: str
    destination_id: str
    hops: _containers.RepeatedCompositeFieldContainer[LinkHop]
    delay_ms: float
    bottleneck_mbps: float
    def __init__(self, source_id: _Optional[str] = ..., destination_id: _Optional[str] = ..., hops: _Optional[_Iterable[_Union[LinkHop, _Mapping]]] = ..., delay_ms: _Optional[float] = ..., bottleneck_mbps: _Optional[float] = ...) -> None: ...

class EnergyLedger(_message.Message):
    __slots__ = ("solar_in_wh", "base_load_wh", "compute_wh", "radio_wh", "clipped_wh", "stored_delta_wh", "unmet_wh")
    SOLAR_IN_WH_FIELD_NUMBER: _ClassVar[int]
    BASE_LOAD_WH_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_WH_FIELD_NUMBER: _ClassVar[int]
    RADIO_WH_FIELD_NUMBER: _ClassVar[int]
    CLIPPED_WH_FIELD_NUMBER: _ClassVar[int]
    STORED_DELTA_WH_FIELD_NUMBER: _ClassVar[int]
    UNMET_WH_FIELD_NUMBER: _ClassVar[int]
    solar_in_wh: float
    base_load_wh: float
    compute_wh: float
    radio_wh: float
    clipped_wh: float
    stored_delta_wh: float
    unmet_wh: float
    def __init__(self, solar_in_wh: _Optional[float] = ..., base_load_wh: _Optional[float] = ..., compute_wh: _Optional[float] = ..., radio_wh: _Optional[float] = ..., clipped_wh: _Optional[float] = ..., stored_delta_wh: _Optional[float] = ..., unmet_wh: _Optional[float] = ...) -> None: ...

class RefusalCounts(_message.Message):
    __slots__ = ("by_cause",)
    class ByCauseEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    BY_CAUSE_FIELD_NUMBER: _ClassVar[int]
    by_cause: _containers.ScalarMap[str, int]
    def __init__(self, by_cause: _Optional[_Mapping[str, int]] = ...) -> None: ...

class Histogram(_message.Message):
    __slots__ = ("upper_bounds_s", "cumulative_counts", "count", "sum_s")
    UPPER_BOUNDS_S_FIELD_NUMBER: _ClassVar[int]
    CUMULATIVE_COUNTS_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    SUM_S_FIELD_NUMBER: _ClassVar[int]
    upper_bounds_s: _containers.RepeatedScalarFieldContainer[float]
    cumulative_counts: _containers.RepeatedScalarFieldContainer[int]
    count: int
    sum_s: float
    def __init__(self, upper_bounds_s: _Optional[_Iterable[float]] = ..., cumulative_counts: _Optional[_Iterable[int]] = ..., count: _Optional[int] = ..., sum_s: _Optional[float] = ...) -> None: ...

class RadiationCounts(_message.Message):
    __slots__ = ("weight_upset_count", "output_upset_count", "latchup_count", "dose_rad", "weight_upsets_in_effect", "latched_up")
    WEIGHT_UPSET_COUNT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_UPSET_COUNT_FIELD_NUMBER: _ClassVar[int]
    LATCHUP_COUNT_FIELD_NUMBER: _ClassVar[int]
    DOSE_RAD_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_UPSETS_IN_EFFECT_FIELD_NUMBER: _ClassVar[int]
    LATCHED_UP_FIELD_NUMBER: _ClassVar[int]
    weight_upset_count: int
    output_upset_count: int
    latchup_count: int
    dose_rad: float
    weight_upsets_in_effect: int
    latched_up: bool
    def __init__(self, weight_upset_count: _Optional[int] = ..., output_upset_count: _Optional[int] = ..., latchup_count: _Optional[int] = ..., dose_rad: _Optional[float] = ..., weight_upsets_in_effect: _Optional[int] = ..., latched_up: _Optional[bool] = ...) -> None: ...
