"""Prometheus metrics of a running emulation, made from status replies (pure).

What one scrape read is a :class:`Scrape`: each gateway's ``LinkStats``, ``Visible`` and
``Routes`` replies, each satellite's ``Status``, and the orchestrator's counters, any of
which may be missing because the component did not answer. :func:`metric_families`
turns it into Prometheus metric families; a component that did not answer shows as
``..._up 0`` and nothing else. Reading the replies over gRPC and serving them over HTTP
is done elsewhere (``orchestrator/metrics.py``), so this module needs neither gRPC nor
Ray and is tested with hand-made replies.

Every metric is declared once in :data:`METRICS`, with its type, labels and help text;
``docs/emulation.md`` lists the same table. Names follow the Prometheus conventions: the
``orbitmesh_`` prefix, base units in the name (seconds, bytes, joules, celsius, ratios in
0..1), ``_total`` on counters, and labels only with bounded values: station and
satellite names, links that carried traffic recently, outcomes from the cause table,
power and thermal state names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from orbitmesh.protos.contract import Cause
from orbitmesh.protos.orbitmesh.v1 import types_pb2

__all__ = [
    "METRICS",
    "OK",
    "EmulationReading",
    "MetricSpec",
    "SatelliteReading",
    "Scrape",
    "StationReading",
    "metric_families",
]

#: The ``outcome`` of a request that was answered.
OK: Final = "ok"
_JOULES_PER_WH: Final = 3600.0
#: rad is the CGS unit of absorbed dose: 1 rad = 0.01 Gy (100 erg/g).
_GRAYS_PER_RAD: Final = 0.01

#: Causes a satellite itself refuses with (the rest are decided by gateways); node-down
#: while a latch-up holds its compute module off.
_SATELLITE_CAUSES: Final = (
    Cause.NODE_DOWN,
    Cause.POWER,
    Cause.THERMAL,
    Cause.QUEUE,
    Cause.TOO_LARGE,
    Cause.NOT_FOUND,
    Cause.INVALID,
    Cause.INTERNAL,
)


@dataclass(frozen=True)
class MetricSpec:
    """One exposed metric: its name as scraped, type, labels and help text."""

    name: str
    kind: Literal["gauge", "counter", "histogram"]
    labels: tuple[str, ...]
    help: str


def _specs(*specs: MetricSpec) -> dict[str, MetricSpec]:
    return {spec.name: spec for spec in specs}


_S, _ST, _L = ("satellite",), ("station",), ("station", "src", "dst")

#: Every metric, keyed by its exposed name.
METRICS: Final[dict[str, MetricSpec]] = _specs(
    # ---- emulation-wide, from the orchestrator
    MetricSpec(
        "orbitmesh_emulation_up",
        "gauge",
        (),
        "1 if the orchestrator answered this scrape, 0 if not (its counters are then "
        "missing). Present only where an orchestrator is asked (orbitmesh up).",
    ),
    MetricSpec(
        "orbitmesh_emulation_sim_time_seconds",
        "gauge",
        (),
        "Simulated time: seconds since the scenario start (negative while starting).",
    ),
    MetricSpec(
        "orbitmesh_emulation_speed_factor",
        "gauge",
        (),
        "Speed of the simulated clock: simulated seconds per wall second.",
    ),
    MetricSpec(
        "orbitmesh_emulation_ticks_published_total",
        "counter",
        (),
        "Geometry ticks (link states) the orchestrator has published.",
    ),
    MetricSpec(
        "orbitmesh_emulation_ticks_late_total",
        "counter",
        (),
        "Geometry ticks published after their simulated time had begun.",
    ),
    MetricSpec(
        "orbitmesh_emulation_tick_publish_seconds",
        "gauge",
        ("phase",),
        "Orchestrator seconds per published tick, last batch: compute (geometry and faults, "
        "worker thread) or send (handing to Ray, event loop).",
    ),
    MetricSpec(
        "orbitmesh_emulation_tick_publish_bytes",
        "gauge",
        (),
        "Bytes of link state handed to Ray per published tick, all receivers, last batch.",
    ),
    MetricSpec(
        "orbitmesh_satellite_restarts_total",
        "counter",
        _S,
        "Times Ray restarted the satellite's actor (seen by the orchestrator).",
    ),
    MetricSpec(
        "orbitmesh_active_faults",
        "gauge",
        ("kind",),
        "Faults in effect now, by kind (reboot, fail, isl-down, station-down, weather).",
    ),
    MetricSpec(
        "orbitmesh_faults_total",
        "counter",
        ("kind",),
        "Faults begun since the scenario start, by kind (scheduled and injected).",
    ),
    # ---- per satellite, from its Status
    MetricSpec(
        "orbitmesh_satellite_up",
        "gauge",
        _S,
        "1 if the satellite answered its Status call this scrape, 0 if not.",
    ),
    MetricSpec(
        "orbitmesh_satellite_battery_state_of_charge_ratio",
        "gauge",
        _S,
        "Battery state of charge: stored energy over capacity, 0 to 1.",
    ),
    MetricSpec(
        "orbitmesh_satellite_battery_energy_joules",
        "gauge",
        _S,
        "Energy stored in the battery, joules (1 Wh = 3600 J).",
    ),
    MetricSpec(
        "orbitmesh_satellite_battery_capacity_joules",
        "gauge",
        _S,
        "Usable battery capacity, joules (1 Wh = 3600 J).",
    ),
    MetricSpec(
        "orbitmesh_satellite_temperature_celsius",
        "gauge",
        _S,
        "Temperature of the satellite's lumped thermal node, degrees Celsius.",
    ),
    MetricSpec(
        "orbitmesh_satellite_sunlit",
        "gauge",
        _S,
        "1 if the satellite is in sunlight now, 0 in eclipse.",
    ),
    MetricSpec(
        "orbitmesh_satellite_power_state",
        "gauge",
        (*_S, "state"),
        "Power state as a state set: 1 for the current state (nominal, reserve, "
        "recovering), 0 for the others.",
    ),
    MetricSpec(
        "orbitmesh_satellite_thermal_state",
        "gauge",
        (*_S, "state"),
        "Thermal state as a state set: 1 for the current state (nominal, throttled, "
        "overheated), 0 for the others.",
    ),
    MetricSpec(
        "orbitmesh_satellite_queue_depth",
        "gauge",
        _S,
        "Inference requests waiting or running on the satellite now.",
    ),
    MetricSpec(
        "orbitmesh_satellite_queue_capacity",
        "gauge",
        _S,
        "Most inference requests the satellite holds (waiting or running) before it "
        "refuses with cause queue.",
    ),
    MetricSpec(
        "orbitmesh_satellite_running_inferences",
        "gauge",
        _S,
        "Inferences running on the satellite's accelerator now.",
    ),
    MetricSpec(
        "orbitmesh_satellite_concurrency_limit",
        "gauge",
        _S,
        "Inferences allowed to run at once now (fewer while thermally throttled).",
    ),
    MetricSpec(
        "orbitmesh_satellite_inferences_total",
        "counter",
        (*_S, "outcome"),
        "Inference requests the satellite finished, by outcome: ok (served) or the "
        "refusal cause (node-down, power, thermal, queue, too-large, not-found, invalid, "
        "internal).",
    ),
    MetricSpec(
        "orbitmesh_satellite_inference_duration_seconds",
        "histogram",
        _S,
        "Time each served inference spent queued and running on the satellite, simulated seconds.",
    ),
    MetricSpec(
        "orbitmesh_satellite_late_inferences_total",
        "counter",
        _S,
        "Inferences whose outputs came after the emulated accelerator's modelled finish "
        "(the host was slower than the hardware emulated; always 0 without a profile).",
    ),
    MetricSpec(
        "orbitmesh_satellite_late_by_seconds",
        "histogram",
        _S,
        "How long after the emulated accelerator's modelled finish each late inference's "
        "outputs came, simulated seconds.",
    ),
    # ---- per satellite, radiation ([radiation]; 0 in a run without it)
    MetricSpec(
        "orbitmesh_satellite_weight_upsets_total",
        "counter",
        _S,
        "Single-event upsets in the satellite's model weights since the scenario start "
        "(each flips one bit until a reset or scrub).",
    ),
    MetricSpec(
        "orbitmesh_satellite_output_upsets_total",
        "counter",
        _S,
        "Single-event upsets in the satellite's output buffers since the scenario start "
        "(each flips a bit of the next output).",
    ),
    MetricSpec(
        "orbitmesh_satellite_latchups_total",
        "counter",
        _S,
        "Single-event latch-ups since the scenario start: power cycles of the compute "
        "module, which refuses inference (node-down) while off.",
    ),
    MetricSpec(
        "orbitmesh_satellite_latched_up",
        "gauge",
        _S,
        "1 while a latch-up holds the satellite's compute module off, 0 otherwise.",
    ),
    MetricSpec(
        "orbitmesh_satellite_dose_grays_total",
        "counter",
        _S,
        "Total ionising dose the satellite accumulated since the scenario start, grays "
        "in silicon (1 rad = 0.01 Gy).",
    ),
    # ---- per ground station, from its gateway
    MetricSpec(
        "orbitmesh_station_up",
        "gauge",
        _ST,
        "1 if the station's gateway answered this scrape (LinkStats, Visible and "
        "Routes), 0 if not.",
    ),
    MetricSpec(
        "orbitmesh_station_requests_total",
        "counter",
        (*_ST, "outcome"),
        "Inference requests the gateway finished, by outcome: ok or the failure cause "
        "(no-contact, link-lost, node-down, power, thermal, queue, deadline, ...).",
    ),
    MetricSpec(
        "orbitmesh_station_request_duration_seconds",
        "histogram",
        (*_ST, "outcome"),
        "Wall time the gateway spent on each finished request, from its arrival to the "
        "answer, by outcome; seconds.",
    ),
    MetricSpec(
        "orbitmesh_station_requests_in_flight",
        "gauge",
        _ST,
        "Inference requests the gateway is carrying now.",
    ),
    MetricSpec(
        "orbitmesh_station_visible_satellites",
        "gauge",
        _ST,
        "Satellites (compute or not) above the station's elevation mask now.",
    ),
    MetricSpec(
        "orbitmesh_station_reachable_compute_satellites",
        "gauge",
        _ST,
        "Compute satellites the station has a route to now (directly or over laser links).",
    ),
    MetricSpec(
        "orbitmesh_station_compute_contact",
        "gauge",
        _ST,
        "1 if the station can reach at least one compute satellite now, 0 if not.",
    ),
    MetricSpec(
        "orbitmesh_station_handovers_total",
        "counter",
        _ST,
        "Replies that came down through a different first satellite than their request "
        "went up through.",
    ),
    MetricSpec(
        "orbitmesh_station_bytes_total",
        "counter",
        (*_ST, "direction"),
        "Bytes the gateway carried, by direction: uplink (requests sent up) and downlink "
        "(answers delivered).",
    ),
    MetricSpec(
        "orbitmesh_station_ticks_received_total",
        "counter",
        _ST,
        "Link-state ticks the gateway received from the orchestrator.",
    ),
    MetricSpec(
        "orbitmesh_station_late_tick_lookups_total",
        "counter",
        _ST,
        "Lookups that found no link state for the current time (the last one was used).",
    ),
    # ---- per directed link of a gateway's link model
    MetricSpec(
        "orbitmesh_link_bytes_total",
        "counter",
        _L,
        "Bytes the station's link model booked on the directed link src -> dst. Only "
        "links that carried traffic; a link idle for 10 wall minutes is forgotten and "
        "starts again from 0.",
    ),
    MetricSpec(
        "orbitmesh_link_busy_seconds_total",
        "counter",
        _L,
        "Simulated seconds the directed link src -> dst was booked busy serializing the "
        "station's traffic.",
    ),
    MetricSpec(
        "orbitmesh_link_utilisation_ratio",
        "gauge",
        _L,
        "Busy fraction (0 to 1) of the directed link src -> dst over the last 10 "
        "simulated seconds, as the station's link model booked it.",
    ),
    # ---- the scrape itself
    MetricSpec(
        "orbitmesh_scrape_duration_seconds",
        "gauge",
        (),
        "Wall seconds this scrape spent asking the orchestrator, gateways and satellites.",
    ),
)


@dataclass(frozen=True)
class StationReading:
    """One gateway's replies; None where the gateway did not answer."""

    station: str
    stats: Any = None  # ground_station_pb2.LinkStatsReply
    visible: Any = None  # ground_station_pb2.VisibleSatellites
    #: Compute satellites the station has a route to.
    reachable: int | None = None

    @property
    def up(self) -> bool:
        return self.stats is not None and self.visible is not None and self.reachable is not None


@dataclass(frozen=True)
class SatelliteReading:
    """One satellite's Status reply; None when it did not answer."""

    satellite_id: str
    status: Any = None  # satellite_pb2.SatelliteStatus


@dataclass(frozen=True)
class EmulationReading:
    """Emulation-wide figures: the clock always; counters when the orchestrator answered."""

    sim_time_s: float
    speed: float
    ticks_published: int | None = None
    ticks_late: int | None = None
    #: Per published tick, last batch: compute_ms, send_ms, mb (see Emulation).
    publish_cost: Mapping[str, float] | None = None
    restarts: Mapping[str, int] | None = None
    #: Faults in effect now and begun so far, by kind.
    faults_active: Mapping[str, int] | None = None
    faults_begun: Mapping[str, int] | None = None


@dataclass(frozen=True)
class Scrape:
    stations: Sequence[StationReading] = ()
    satellites: Sequence[SatelliteReading] = ()
    emulation: EmulationReading | None = None
    #: None where no orchestrator is asked (a scrape from an endpoints file alone).
    orchestrator_up: bool | None = None
    duration_s: float | None = None


def _state_names(enum: Any, prefix: str) -> dict[int, str]:
    return {
        number: name.removeprefix(prefix).lower()
        for name, number in enum.items()
        if not name.endswith("_UNSPECIFIED")
    }


_POWER_STATES: Final = _state_names(types_pb2.PowerState, "POWER_STATE_")
_THERMAL_STATES: Final = _state_names(types_pb2.ThermalState, "THERMAL_STATE_")


class _Families:
    """The families of one scrape, created as first used, exposed in catalogue order."""

    def __init__(self) -> None:
        self._made: dict[str, Metric] = {}

    def _get(self, name: str) -> Metric:
        family = self._made.get(name)
        if family is None:
            spec = METRICS[name]
            if spec.kind == "counter":
                family = CounterMetricFamily(name, spec.help, labels=spec.labels)
            elif spec.kind == "histogram":
                family = HistogramMetricFamily(name, spec.help, labels=spec.labels)
            else:
                family = GaugeMetricFamily(name, spec.help, labels=spec.labels)
            self._made[name] = family
        return family

    def add(self, name: str, labels: Sequence[str], value: float) -> None:
        family = self._get(name)
        assert isinstance(family, GaugeMetricFamily | CounterMetricFamily)
        family.add_metric(list(labels), value)

    def histogram(self, name: str, labels: Sequence[str], message: Any) -> None:
        """Add an ``orbitmesh.v1.Histogram`` message as one labelled histogram."""
        family = self._get(name)
        assert isinstance(family, HistogramMetricFamily)
        buckets = [
            (repr(float(bound)), float(count))
            for bound, count in zip(message.upper_bounds_s, message.cumulative_counts, strict=True)
        ]
        buckets.append(("+Inf", float(message.count)))
        family.add_metric(list(labels), buckets, message.sum_s)

    def in_order(self) -> list[Metric]:
        return [self._made[name] for name in METRICS if name in self._made]


def metric_families(scrape: Scrape) -> list[Metric]:
    """Every metric family of one scrape, in the order of :data:`METRICS`."""
    out = _Families()
    _emulation(out, scrape)
    for satellite in scrape.satellites:
        _satellite(out, satellite)
    for station in scrape.stations:
        _station(out, station)
    if scrape.duration_s is not None:
        out.add("orbitmesh_scrape_duration_seconds", (), scrape.duration_s)
    return out.in_order()


def _emulation(out: _Families, scrape: Scrape) -> None:
    if scrape.orchestrator_up is not None:
        out.add("orbitmesh_emulation_up", (), float(scrape.orchestrator_up))
    reading = scrape.emulation
    if reading is None:
        return
    out.add("orbitmesh_emulation_sim_time_seconds", (), reading.sim_time_s)
    out.add("orbitmesh_emulation_speed_factor", (), reading.speed)
    if reading.ticks_published is not None:
        out.add("orbitmesh_emulation_ticks_published_total", (), reading.ticks_published)
    if reading.ticks_late is not None:
        out.add("orbitmesh_emulation_ticks_late_total", (), reading.ticks_late)
    if reading.publish_cost is not None:
        cost = reading.publish_cost
        for phase in ("compute", "send"):
            out.add("orbitmesh_emulation_tick_publish_seconds", (phase,), cost[f"{phase}_ms"] / 1e3)
        out.add("orbitmesh_emulation_tick_publish_bytes", (), cost["mb"] * 2**20)
    for sid, count in sorted((reading.restarts or {}).items()):
        out.add("orbitmesh_satellite_restarts_total", (sid,), count)
    for kind, count in sorted((reading.faults_active or {}).items()):
        out.add("orbitmesh_active_faults", (kind,), count)
    for kind, count in sorted((reading.faults_begun or {}).items()):
        out.add("orbitmesh_faults_total", (kind,), count)


def _satellite(out: _Families, reading: SatelliteReading) -> None:
    sid = reading.satellite_id
    status = reading.status
    out.add("orbitmesh_satellite_up", (sid,), float(status is not None))
    if status is None:
        return
    gauges: Iterable[tuple[str, float]] = (
        ("orbitmesh_satellite_battery_state_of_charge_ratio", status.state_of_charge),
        ("orbitmesh_satellite_battery_energy_joules", status.battery_wh * _JOULES_PER_WH),
        (
            "orbitmesh_satellite_battery_capacity_joules",
            status.battery_capacity_wh * _JOULES_PER_WH,
        ),
        ("orbitmesh_satellite_temperature_celsius", status.temperature_c),
        ("orbitmesh_satellite_sunlit", float(status.sunlit)),
        ("orbitmesh_satellite_queue_depth", status.queue_depth),
        ("orbitmesh_satellite_queue_capacity", status.queue_capacity),
        ("orbitmesh_satellite_running_inferences", status.running),
        ("orbitmesh_satellite_concurrency_limit", status.concurrency_limit),
    )
    for name, value in gauges:
        out.add(name, (sid,), value)
    for number, state in _POWER_STATES.items():
        out.add(
            "orbitmesh_satellite_power_state", (sid, state), float(status.power_state == number)
        )
    for number, state in _THERMAL_STATES.items():
        out.add(
            "orbitmesh_satellite_thermal_state", (sid, state), float(status.thermal_state == number)
        )
    outcomes = _outcomes(status.served_count, status.refused.by_cause, _SATELLITE_CAUSES)
    for outcome, count in outcomes.items():
        out.add("orbitmesh_satellite_inferences_total", (sid, outcome), count)
    if status.HasField("inference_latency"):
        out.histogram(
            "orbitmesh_satellite_inference_duration_seconds", (sid,), status.inference_latency
        )
    out.add("orbitmesh_satellite_late_inferences_total", (sid,), status.late_inferences)
    # Present (empty) while nothing was late, like the counters below.
    out.histogram("orbitmesh_satellite_late_by_seconds", (sid,), status.late_by)
    # Present (at 0) in a run without radiation too, like the causes: rates exist from
    # the first scrape, and dashboards need no second query shape.
    radiation = status.radiation
    for name, value in (
        ("orbitmesh_satellite_weight_upsets_total", radiation.weight_upset_count),
        ("orbitmesh_satellite_output_upsets_total", radiation.output_upset_count),
        ("orbitmesh_satellite_latchups_total", radiation.latchup_count),
        ("orbitmesh_satellite_latched_up", float(radiation.latched_up)),
        ("orbitmesh_satellite_dose_grays_total", radiation.dose_rad * _GRAYS_PER_RAD),
    ):
        out.add(name, (sid,), value)


def _outcomes(ok: int, failed: Mapping[str, int], known: Iterable[str]) -> dict[str, int]:
    """Counts by outcome, every known cause present (0 until it happens) so that rates
    exist from the first scrape on; causes outside the table are kept as they came."""
    counts = {OK: ok} | {str(cause): 0 for cause in known}
    for cause, count in failed.items():
        counts[cause] = counts.get(cause, 0) + count
    return counts


def _station(out: _Families, reading: StationReading) -> None:
    name = reading.station
    out.add("orbitmesh_station_up", (name,), float(reading.up))
    if not reading.up:
        return
    stats, visible = reading.stats, reading.visible
    for outcome, count in _outcomes(stats.succeeded_count, stats.failed_by_cause, Cause).items():
        out.add("orbitmesh_station_requests_total", (name, outcome), count)
    for outcome in sorted(stats.latency_by_outcome):
        out.histogram(
            "orbitmesh_station_request_duration_seconds",
            (name, outcome),
            stats.latency_by_outcome[outcome],
        )
    reachable = reading.reachable or 0
    for metric, value in (
        ("orbitmesh_station_requests_in_flight", stats.in_flight),
        ("orbitmesh_station_visible_satellites", len(visible.satellites)),
        ("orbitmesh_station_reachable_compute_satellites", reachable),
        ("orbitmesh_station_compute_contact", float(reachable > 0)),
        ("orbitmesh_station_handovers_total", stats.handover_count),
        ("orbitmesh_station_ticks_received_total", stats.ticks_received),
        ("orbitmesh_station_late_tick_lookups_total", stats.late_tick_lookups),
    ):
        out.add(metric, (name,), value)
    out.add("orbitmesh_station_bytes_total", (name, "uplink"), stats.uplink_bytes)
    out.add("orbitmesh_station_bytes_total", (name, "downlink"), stats.downlink_bytes)
    window_s = stats.link_window_s
    for link in sorted(stats.links, key=lambda u: (u.from_id, u.to_id)):
        labels = (name, link.from_id, link.to_id)
        out.add("orbitmesh_link_bytes_total", labels, link.booked_bytes)
        out.add("orbitmesh_link_busy_seconds_total", labels, link.booked_busy_s)
        if window_s > 0:
            out.add(
                "orbitmesh_link_utilisation_ratio",
                labels,
                min(1.0, max(0.0, link.recent_busy_s / window_s)),
            )
