"""Prometheus metrics: the pure conversion, the naming rules, and real scrapes of a
running emulation checked against independent reads (client results, gRPC Status and
LinkStats, the orchestrator's own counters)."""

from __future__ import annotations

import itertools
import json
import re
import socket
import subprocess
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from conftest import ORBITMESH, REPO, orbitmesh_up, small_shell_scenario
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from orbitmesh.ground.client import Client
from orbitmesh.ground.errors import NoContact
from orbitmesh.ground.metrics import (
    METRICS,
    EmulationReading,
    SatelliteReading,
    Scrape,
    StationReading,
    metric_families,
)
from orbitmesh.histogram import Histogram
from orbitmesh.links.linkstate import Route
from orbitmesh.links.model import LinkModel
from orbitmesh.node.ephemeris import Ephemeris
from orbitmesh.node.models import load_digits_split
from orbitmesh.node.power import PowerParams
from orbitmesh.node.state import NodeState
from orbitmesh.node.thermal import ThermalParams
from orbitmesh.orchestrator.actor import Orchestrator
from orbitmesh.orchestrator.emulation import EmulationOptions
from orbitmesh.orchestrator.metrics import EmulationCollector, MetricsServer, serve_metrics
from orbitmesh.protos.contract import Cause
from orbitmesh.protos.orbitmesh.v1 import ground_station_pb2, satellite_pb2, types_pb2
from orbitmesh.protos.orbitmesh.v1.satellite_pb2_grpc import SatelliteStub

X = load_digits_split().x_test[:4].astype(np.float32)

#: A series: sample name and its labels.
Key = tuple[str, frozenset[tuple[str, str]]]


def key(name: str, **labels: str) -> Key:
    return name, frozenset(labels.items())


def parse(text: str) -> dict[Key, float]:
    return {
        key(sample.name, **sample.labels): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        return str(response.read().decode())


def exposition(scrape: Scrape) -> str:
    """What a scrape of ``scrape`` would serve, in the Prometheus text format."""

    class Fixed:
        def collect(self) -> Any:
            return metric_families(scrape)

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Fixed())
    return generate_latest(registry).decode()


# ------------------------------------------------------------------ naming rules

#: Suffixes naming a base unit (https://prometheus.io/docs/practices/naming/).
UNITS = ("_seconds", "_bytes", "_joules", "_celsius", "_ratio")
#: Endings of gauges that are dimensionless: booleans and state sets, counts of things.
UNITLESS = (
    "_up",
    "_sunlit",
    "_state",
    "_contact",
    "_depth",
    "_capacity",
    "_inferences",
    "_satellites",
    "_in_flight",
    "_limit",
    "_factor",
    "_faults",
)
#: Units that are not base units, anywhere in a name.
NOT_BASE = re.compile(
    r"_(ms|milliseconds|minutes|hours|wh|watt_hours|kb|kilobytes|mb|megabytes|percent|"
    r"fahrenheit|kelvin|mbps)(_|$)"
)
UNIT_WORDS = {"_seconds": "seconds", "_bytes": "bytes", "_joules": "joules", "_celsius": "celsius"}


def naming_problems(text: str) -> list[str]:
    """Every breach of the naming conventions in an exposition's HELP/TYPE lines and
    label names."""
    problems: list[str] = []
    helps = dict(re.findall(r"^# HELP (\S+) (.*)$", text, flags=re.MULTILINE))
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", text, flags=re.MULTILINE):
        if not re.fullmatch(r"orbitmesh_[a-z][a-z0-9_]*", name):
            problems.append(f"{name}: not lower snake case with the orbitmesh_ prefix")
        if (kind == "counter") != name.endswith("_total"):
            problems.append(f"{name}: only counters, and every counter, end in _total")
        base = name.removesuffix("_total")
        if NOT_BASE.search(base):
            problems.append(f"{name}: not a base unit")
        if kind == "histogram" and not base.endswith(("_seconds", "_bytes")):
            problems.append(f"{name}: a histogram of what unit?")
        if kind == "gauge" and not base.endswith(UNITS + UNITLESS):
            problems.append(f"{name}: no unit in the name")
        help_text = helps.get(name, "")
        if len(help_text) < 20:
            problems.append(f"{name}: no help text")
        for suffix, word in UNIT_WORDS.items():
            if base.endswith(suffix) and word not in help_text.lower():
                problems.append(f"{name}: help does not say {word}")
        if base.endswith("_ratio") and "0 to 1" not in help_text:
            problems.append(f"{name}: help does not give the 0 to 1 range")
    for labels in re.findall(r"\{([^}]*)\}", text):
        for label in re.findall(r'(\w+)="', labels):
            if not re.fullmatch(r"[a-z][a-z0-9_]*", label) or label.startswith("__"):
                problems.append(f"label {label}: not lower snake case")
    return problems


def test_naming_check_catches_each_kind_of_breach() -> None:
    bad = "\n".join(
        [
            "# HELP orbitmesh_Queue Requests waiting on the satellite now.",
            "# TYPE orbitmesh_Queue gauge",
            "# HELP orbitmesh_requests Requests that were answered by the satellite.",
            "# TYPE orbitmesh_requests counter",
            "# HELP orbitmesh_latency_ms_total Latency in milliseconds of everything.",
            "# TYPE orbitmesh_latency_ms_total counter",
            "# HELP orbitmesh_battery Energy stored in the battery of the satellite.",
            "# TYPE orbitmesh_battery gauge",
            "# HELP orbitmesh_wait_seconds Time spent somewhere doing something.",
            "# TYPE orbitmesh_wait_seconds gauge",
            "# HELP orbitmesh_load_ratio How loaded the link is, as a fraction.",
            "# TYPE orbitmesh_load_ratio gauge",
            "# TYPE orbitmesh_nohelp_seconds gauge",
            'orbitmesh_wait_seconds{Station="x"} 1',
        ]
    )
    problems = "\n".join(naming_problems(bad))
    for expected in (
        "orbitmesh_Queue: not lower snake case",
        "orbitmesh_requests: only counters, and every counter, end in _total",
        "orbitmesh_latency_ms_total: not a base unit",
        "orbitmesh_battery: no unit in the name",
        "orbitmesh_wait_seconds: help does not say seconds",
        "orbitmesh_load_ratio: help does not give the 0 to 1 range",
        "orbitmesh_nohelp_seconds: no help text",
        "label Station: not lower snake case",
    ):
        assert expected in problems


# ------------------------------------------------------------------ pure parts


def test_histogram_buckets_are_cumulative_and_include_their_bound() -> None:
    histogram = Histogram((0.01, 0.1, 1.0))
    for value in (0.005, 0.01, 0.05, 0.1, 0.5, 7.0):
        histogram.observe(value)
    snap = histogram.snapshot()
    # le is "less than or equal": 0.01 counts in the 0.01 bucket, 0.1 in the 0.1 bucket.
    assert snap.cumulative_counts == (2, 4, 5)
    assert snap.count == 6 and histogram.count == 6
    assert snap.sum_s == pytest.approx(7.665)
    with pytest.raises(ValueError, match="increase"):
        Histogram((0.1, 0.1))


def test_satellite_histogram_counts_exactly_the_served_requests() -> None:
    now = [0.0]
    track = np.tile([[7000.0, 0.0, 0.0]], (400, 1))
    state = NodeState(
        "s",
        power=PowerParams(),
        thermal=ThermalParams(),
        ephemeris=Ephemeris("s", 0.0, 10.0, track, True, ()),
        clock=lambda: now[0],
        queue_depth=4,
        max_concurrency=1,
        radio_rate_mbps=1.0,
    )
    for latency_s in (0.002, 0.2):
        assert state.admit() is None
        state.start()
        state.finish(latency_s=latency_s)
    assert state.admit() is None
    state.start()
    state.finish(served=False)  # failed: neither served nor observed
    assert state.admit() is None
    state.leave(served=True, latency_s=3.0)  # a user app's request
    snap = state.snapshot()
    assert snap.served == snap.latency.count == 3
    assert snap.latency.sum_s == pytest.approx(3.202)
    bounds = snap.latency.upper_bounds_s
    assert snap.latency.cumulative_counts[bounds.index(0.0025)] == 1
    assert snap.latency.cumulative_counts[bounds.index(0.25)] == 2


def test_link_model_books_bytes_busy_time_and_recent_utilisation_per_directed_link() -> None:
    model = LinkModel(usage_window_s=10.0)
    route = Route(("gs", "a", "b"), (2.0, 10.0), (1000.0, 10_000.0))
    for start_s in (0.0, 1.0, 15.0):
        model.transfer(route, 125_000, start_s)  # 1 ms on the ground link, 0.1 ms on a->b
    model.transfer(route.reversed(), 250_000, 15.5)
    usage = {u.link: u for u in model.usage(20.0)}
    assert set(usage) == {("gs", "a"), ("a", "b"), ("b", "a"), ("a", "gs")}
    up = usage["gs", "a"]
    assert up.booked_bytes == 375_000
    assert up.booked_busy_s == pytest.approx(3e-3)
    # Only the booking at 15 s lies within the 10 s ending at 20 s.
    assert up.recent_busy_s == pytest.approx(1e-3)
    assert usage["a", "b"].booked_busy_s == pytest.approx(3e-4)
    assert usage["a", "gs"].booked_bytes == 250_000
    # A window that cuts a booking counts only its part inside.
    assert {u.link: u for u in model.usage(15.0005)}["gs", "a"].recent_busy_s == pytest.approx(5e-4)
    # Idle links are forgotten; busy ones kept.
    assert model.forget_idle_usage(15.01) == 2
    assert {u.link for u in model.usage(20.0)} == {("b", "a"), ("a", "gs")}
    assert LinkModel().usage(0.0) == []  # not tracked unless asked for


def status(sid: str = "s-1", **fields: Any) -> Any:
    message = satellite_pb2.SatelliteStatus(
        satellite_id=sid,
        sunlit=True,
        battery_wh=45.5,
        battery_capacity_wh=91.0,
        state_of_charge=0.5,
        temperature_c=31.25,
        power_state=types_pb2.POWER_STATE_RECOVERING,
        thermal_state=types_pb2.THERMAL_STATE_THROTTLED,
        queue_depth=3,
        queue_capacity=8,
        running=1,
        concurrency_limit=2,
        served_count=40,
        inference_latency=types_pb2.Histogram(
            upper_bounds_s=[0.001, 0.01], cumulative_counts=[10, 30], count=40, sum_s=0.5
        ),
        **fields,
    )
    message.refused.by_cause["power"] = 7
    return message


def station_replies() -> tuple[Any, Any, Any]:
    stats = ground_station_pb2.LinkStatsReply(
        uplink_bytes=9000,
        downlink_bytes=4000,
        succeeded_count=12,
        in_flight=2,
        handover_count=3,
        ticks_received=50,
        late_tick_lookups=1,
        link_window_s=10.0,
    )
    stats.failed_by_cause["no-contact"] = 4
    stats.failed_by_cause["brand-new-cause"] = 1
    stats.latency_by_outcome["ok"].CopyFrom(
        types_pb2.Histogram(upper_bounds_s=[0.05, 0.1], cumulative_counts=[2, 12], count=12)
    )
    stats.links.add(
        from_id="gs", to_id="s-1", booked_bytes=9000, booked_busy_s=0.25, recent_busy_s=2.5
    )
    visible = ground_station_pb2.VisibleSatellites(
        satellites=[ground_station_pb2.VisibleSatellite(satellite_id=s) for s in ("a", "b")]
    )
    routes = ground_station_pb2.RouteTable(routes=[types_pb2.Route(destination_id="s-1")])
    return stats, visible, routes


def test_status_replies_become_metric_families() -> None:
    stats, visible, routes = station_replies()
    scrape = Scrape(
        stations=[StationReading("gs", stats, visible, len(routes.routes))],
        satellites=[SatelliteReading("s-1", status())],
        emulation=EmulationReading(
            sim_time_s=12.5,
            speed=2.0,
            ticks_published=20,
            ticks_late=1,
            publish_cost={"compute_ms": 150.0, "send_ms": 20.0, "mb": 32.0},
            restarts={"s-1": 2},
            faults_active={"reboot": 1, "weather": 0},
            faults_begun={"reboot": 3, "weather": 1},
        ),
        orchestrator_up=True,
        duration_s=0.01,
    )
    text = exposition(scrape)
    assert naming_problems(text) == []
    m = parse(text)
    sat, gs = {"satellite": "s-1"}, {"station": "gs"}
    assert m[key("orbitmesh_satellite_battery_state_of_charge_ratio", **sat)] == 0.5
    assert m[key("orbitmesh_satellite_battery_energy_joules", **sat)] == 45.5 * 3600
    assert m[key("orbitmesh_satellite_battery_capacity_joules", **sat)] == 91.0 * 3600
    assert m[key("orbitmesh_satellite_temperature_celsius", **sat)] == 31.25
    assert m[key("orbitmesh_satellite_sunlit", **sat)] == 1.0
    assert m[key("orbitmesh_satellite_queue_depth", **sat)] == 3
    assert m[key("orbitmesh_satellite_running_inferences", **sat)] == 1
    power = {
        state: m[key("orbitmesh_satellite_power_state", **sat, state=state)]
        for state in ("nominal", "reserve", "recovering")
    }
    assert power == {"nominal": 0, "reserve": 0, "recovering": 1}
    assert m[key("orbitmesh_satellite_thermal_state", **sat, state="throttled")] == 1
    assert m[key("orbitmesh_satellite_thermal_state", **sat, state="overheated")] == 0
    assert m[key("orbitmesh_satellite_inferences_total", **sat, outcome="ok")] == 40
    assert m[key("orbitmesh_satellite_inferences_total", **sat, outcome="power")] == 7
    # Causes that have not happened yet are there at 0, so rates exist from the start.
    assert m[key("orbitmesh_satellite_inferences_total", **sat, outcome="thermal")] == 0
    bucket = "orbitmesh_satellite_inference_duration_seconds_bucket"
    assert m[key(bucket, **sat, le="0.01")] == 30
    assert m[key(bucket, **sat, le="+Inf")] == 40
    assert m[key("orbitmesh_satellite_inference_duration_seconds_sum", **sat)] == 0.5

    assert m[key("orbitmesh_station_requests_total", **gs, outcome="ok")] == 12
    assert m[key("orbitmesh_station_requests_total", **gs, outcome="no-contact")] == 4
    assert m[key("orbitmesh_station_requests_total", **gs, outcome="deadline")] == 0
    assert m[key("orbitmesh_station_requests_total", **gs, outcome="brand-new-cause")] == 1
    assert m[key("orbitmesh_station_request_duration_seconds_count", **gs, outcome="ok")] == 12
    assert m[key("orbitmesh_station_visible_satellites", **gs)] == 2
    assert m[key("orbitmesh_station_reachable_compute_satellites", **gs)] == 1
    assert m[key("orbitmesh_station_compute_contact", **gs)] == 1
    assert m[key("orbitmesh_station_handovers_total", **gs)] == 3
    assert m[key("orbitmesh_station_bytes_total", **gs, direction="uplink")] == 9000
    assert m[key("orbitmesh_station_bytes_total", **gs, direction="downlink")] == 4000
    link = {"station": "gs", "src": "gs", "dst": "s-1"}
    assert m[key("orbitmesh_link_bytes_total", **link)] == 9000
    assert m[key("orbitmesh_link_busy_seconds_total", **link)] == 0.25
    assert m[key("orbitmesh_link_utilisation_ratio", **link)] == 0.25

    assert m[key("orbitmesh_emulation_up")] == 1
    assert m[key("orbitmesh_emulation_sim_time_seconds")] == 12.5
    assert m[key("orbitmesh_emulation_speed_factor")] == 2.0
    assert m[key("orbitmesh_emulation_ticks_published_total")] == 20
    assert m[key("orbitmesh_emulation_ticks_late_total")] == 1
    assert m[key("orbitmesh_emulation_tick_publish_seconds", phase="compute")] == 0.15
    assert m[key("orbitmesh_emulation_tick_publish_seconds", phase="send")] == 0.02
    assert m[key("orbitmesh_emulation_tick_publish_bytes")] == 32 * 2**20
    assert m[key("orbitmesh_satellite_restarts_total", **sat)] == 2
    assert m[key("orbitmesh_active_faults", kind="reboot")] == 1
    assert m[key("orbitmesh_active_faults", kind="weather")] == 0
    assert m[key("orbitmesh_faults_total", kind="reboot")] == 3
    # Every family in the exposition is declared once, with its help text, in METRICS.
    families = {f.name: f for f in text_string_to_metric_families(text)}
    for spec in METRICS.values():
        family = families[spec.name.removesuffix("_total")]
        assert family.documentation == spec.help
        assert family.type == spec.kind


def test_components_that_did_not_answer_are_down_and_nothing_else() -> None:
    stats, visible, _ = station_replies()
    text = exposition(
        Scrape(
            stations=[StationReading("gs", stats, visible, None)],  # Routes timed out
            satellites=[SatelliteReading("s-1", None), SatelliteReading("s-2", status("s-2"))],
            orchestrator_up=False,
        )
    )
    m = parse(text)
    assert m[key("orbitmesh_station_up", station="gs")] == 0
    assert m[key("orbitmesh_satellite_up", satellite="s-1")] == 0
    assert m[key("orbitmesh_satellite_up", satellite="s-2")] == 1
    assert m[key("orbitmesh_emulation_up")] == 0
    # No stale or made-up values for what did not answer.
    assert not [k for k in m if dict(k[1]).get("station") == "gs" and "_up" not in k[0]]
    assert not [k for k in m if dict(k[1]).get("satellite") == "s-1" and "_up" not in k[0]]
    assert key("orbitmesh_emulation_sim_time_seconds") not in m


def test_docs_list_every_metric_with_its_type() -> None:
    docs = (REPO / "docs" / "emulation.md").read_text()
    section = docs.split("## Metrics", 1)[1]
    for spec in METRICS.values():
        row = re.search(rf"^\| `{spec.name}` \| {spec.kind} \|.*$", section, flags=re.MULTILINE)
        assert row is not None, f"docs/emulation.md does not list {spec.name} ({spec.kind})"
        for label in spec.labels:
            assert f"`{label}`" in row.group(0), f"{spec.name}: label {label} not documented"


class Unreachable:
    def counters(self, timeout_s: float = 1.0) -> dict[str, Any]:
        raise TimeoutError("the orchestrator does not answer")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_scrape_survives_components_that_do_not_answer() -> None:
    dead = f"127.0.0.1:{closed_port()}"
    endpoints = {"ground_stations": {"ghost": dead}, "satellites": {"ghost-1": dead}}
    with serve_metrics(endpoints, orchestrator=Unreachable(), timeout_s=0.5) as server:
        assert server.url == f"http://127.0.0.1:{server.port}/metrics"
        started = time.monotonic()
        m = parse(fetch(server.url))
        assert time.monotonic() - started < 5.0
    assert m[key("orbitmesh_station_up", station="ghost")] == 0
    assert m[key("orbitmesh_satellite_up", satellite="ghost-1")] == 0
    assert m[key("orbitmesh_emulation_up")] == 0


def test_a_collector_without_an_emulation_yet_serves_an_empty_page() -> None:
    collector = EmulationCollector()
    try:
        assert list(collector.collect()) == []
    finally:
        collector.close()


# ------------------------------------------------------------------ a running emulation

SCENARIO = small_shell_scenario(
    "metrics-small",
    900,
    """
[links]
isl = "plus-grid"
isl_range_km = 5000
isl_bandwidth_mbps = 10000
gsl_bandwidth_mbps = 1000
[compute]
satellites = { every = 36 }
[node]
builtin_models = ["digits"]
""",
)


@pytest.fixture(scope="module")
def emulation(
    ray_local: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Orchestrator, MetricsServer]]:
    """Four compute satellites and two stations at speed 1, with its metrics served."""
    path = tmp_path_factory.mktemp("metrics") / "metrics.toml"
    path.write_text(SCENARIO)
    orchestrator = Orchestrator.launch(str(path), EmulationOptions(), name=None)
    try:
        with serve_metrics(orchestrator.endpoints, orchestrator=orchestrator) as server:
            yield orchestrator, server
    finally:
        orchestrator.stop()


def delta(after: Mapping[Key, float], before: Mapping[Key, float], k: Key) -> float:
    return after[k] - before.get(k, 0.0)


def test_requests_through_a_station_count_exactly_once_everywhere(
    emulation: tuple[Orchestrator, MetricsServer],
) -> None:
    orchestrator, server = emulation
    n = 6
    with Client.connect(orchestrator.endpoints["ground_stations"]) as client:
        target = min(client.routes("frankfurt").routes, key=lambda r: r.delay_ms).destination_id
        stats_before = client.link_stats("frankfurt")
        before = parse(fetch(server.url))
        results = [client.infer("frankfurt", "digits", X, satellite=target) for _ in range(n)]
        after = parse(fetch(server.url))
        stats_after = client.link_stats("frankfurt")
    gs = {"station": "frankfurt"}
    sat = {"satellite": target}
    assert delta(after, before, key("orbitmesh_station_requests_total", **gs, outcome="ok")) == n
    ok_count = key("orbitmesh_station_request_duration_seconds_count", **gs, outcome="ok")
    assert delta(after, before, ok_count) == n
    # The gateway's own time per request lies between what it modelled (less its RPC
    # credit) and what the client waited in all.
    gateway_s = delta(
        after, before, key("orbitmesh_station_request_duration_seconds_sum", **gs, outcome="ok")
    )
    client_s = sum(r.latency_ms for r in results) / 1e3
    modelled_s = (
        sum(
            sum(
                float(part or 0.0)
                for part in (r.uplink_ms, r.downlink_ms, r.queue_ms, r.inference_ms)
            )
            for r in results
        )
        / 1e3
    )
    assert modelled_s - n * 5e-3 <= gateway_s <= client_s

    ok = key("orbitmesh_satellite_inferences_total", **sat, outcome="ok")
    assert delta(after, before, ok) == n
    sat_count = key("orbitmesh_satellite_inference_duration_seconds_count", **sat)
    assert delta(after, before, sat_count) == n
    # Exactly the queue and inference times each reply reported.
    reported_s = sum(float(r.queue_ms or 0) + float(r.inference_ms or 0) for r in results) / 1e3
    sat_sum = key("orbitmesh_satellite_inference_duration_seconds_sum", **sat)
    assert delta(after, before, sat_sum) == pytest.approx(reported_s, rel=1e-9, abs=1e-12)

    # Links: the gateway's own count of bytes sent up (LinkStats) ...
    uplink = stats_after.uplink_bytes - stats_before.uplink_bytes
    up_key = key("orbitmesh_station_bytes_total", **gs, direction="uplink")
    assert uplink > 0 and uplink % n == 0 and delta(after, before, up_key) == uplink
    # ... is what the link model booked on every link of every request's uplink route.
    crossings: Counter[tuple[str, str]] = Counter()
    for r in results:
        path = ("frankfurt", *r.hops)
        crossings.update(itertools.pairwise(path))
    for (src, dst), times in crossings.items():
        labels = {"station": "frankfurt", "src": src, "dst": dst}
        carried = delta(after, before, key("orbitmesh_link_bytes_total", **labels))
        assert carried == times * uplink // n, labels
        if src == "frankfurt":
            # The ground link runs at 1000 Mbit/s: busy for bytes * 8 / 1e9 seconds.
            busy = key("orbitmesh_link_busy_seconds_total", **labels)
            assert delta(after, before, busy) == pytest.approx(carried * 8 / 1e9)
            utilisation = after[key("orbitmesh_link_utilisation_ratio", **labels)]
            assert 0 < utilisation <= after[busy] / 10.0 + 1e-12
    links = [dict(k[1]) for k in after if k[0] == "orbitmesh_link_bytes_total"]
    assert {link["station"] for link in links} == {"frankfurt"}  # the pole carried nothing


def test_pinned_request_out_of_contact_counts_as_no_contact(
    emulation: tuple[Orchestrator, MetricsServer],
) -> None:
    orchestrator, server = emulation
    pole = {"station": "south-pole"}
    target = sorted(orchestrator.endpoints["satellites"])[0]
    before = parse(fetch(server.url))
    with (
        Client.connect(orchestrator.endpoints["ground_stations"]) as client,
        pytest.raises(NoContact) as info,
    ):
        client.infer("south-pole", "digits", X, satellite=target)
    assert info.value.cause == Cause.NO_CONTACT
    after = parse(fetch(server.url))
    no_contact = key("orbitmesh_station_requests_total", **pole, outcome="no-contact")
    assert delta(after, before, no_contact) == 1
    assert delta(after, before, key("orbitmesh_station_requests_total", **pole, outcome="ok")) == 0
    count = key("orbitmesh_station_request_duration_seconds_count", **pole, outcome="no-contact")
    assert delta(after, before, count) == 1
    assert after[key("orbitmesh_station_compute_contact", **pole)] == 0
    assert after[key("orbitmesh_station_visible_satellites", **pole)] == 0
    assert after[key("orbitmesh_station_compute_contact", station="frankfurt")] == 1


def test_satellite_gauges_match_what_each_satellite_says_itself(
    emulation: tuple[Orchestrator, MetricsServer],
) -> None:
    orchestrator, server = emulation
    m = parse(fetch(server.url))
    for sid, address in orchestrator.endpoints["satellites"].items():
        with grpc.insecure_channel(address) as channel:
            own = SatelliteStub(channel).Status(satellite_pb2.StatusRequest(), timeout=5)
        sat = {"satellite": sid}
        assert m[key("orbitmesh_satellite_up", **sat)] == 1
        # Read a few milliseconds apart: the battery and heat move a little in between.
        soc = m[key("orbitmesh_satellite_battery_state_of_charge_ratio", **sat)]
        assert soc == pytest.approx(own.state_of_charge, abs=1e-4)
        joules = m[key("orbitmesh_satellite_battery_energy_joules", **sat)]
        assert joules == pytest.approx(own.battery_wh * 3600, abs=50.0)
        celsius = m[key("orbitmesh_satellite_temperature_celsius", **sat)]
        assert celsius == pytest.approx(own.temperature_c, abs=0.05)
        assert m[key("orbitmesh_satellite_sunlit", **sat)] == float(own.sunlit)
        assert m[key("orbitmesh_satellite_queue_capacity", **sat)] == own.queue_capacity
        state = types_pb2.PowerState.Name(own.power_state).removeprefix("POWER_STATE_").lower()
        assert m[key("orbitmesh_satellite_power_state", **sat, state=state)] == 1
        served = m[key("orbitmesh_satellite_inferences_total", **sat, outcome="ok")]
        assert served == own.served_count == own.inference_latency.count


def test_emulation_wide_metrics_match_the_orchestrator(
    emulation: tuple[Orchestrator, MetricsServer],
) -> None:
    orchestrator, server = emulation
    first = orchestrator.counters()
    text = fetch(server.url)
    last = orchestrator.counters()
    m = parse(text)
    assert m[key("orbitmesh_emulation_up")] == 1
    published = m[key("orbitmesh_emulation_ticks_published_total")]
    assert first["ticks_published"] <= published <= last["ticks_published"]
    assert first["sim_offset_s"] <= m[key("orbitmesh_emulation_sim_time_seconds")]
    assert m[key("orbitmesh_emulation_sim_time_seconds")] <= last["sim_offset_s"]
    assert m[key("orbitmesh_emulation_speed_factor")] == orchestrator.endpoints["speed"]
    for sid in orchestrator.endpoints["satellites"]:
        assert m[key("orbitmesh_satellite_restarts_total", satellite=sid)] == 0
    for station in orchestrator.endpoints["ground_stations"]:
        assert m[key("orbitmesh_station_up", station=station)] == 1
    # The live exposition obeys the naming rules too, links and histograms included.
    assert "orbitmesh_link_bytes_total" in text
    assert naming_problems(text) == []


# ------------------------------------------------------------------ the command line


def test_up_refuses_a_bad_or_busy_metrics_port_before_starting(tmp_path: Path) -> None:
    endpoints = tmp_path / "endpoints.json"
    bad = subprocess.run(
        [*ORBITMESH, "up", "demo", "--metrics-port", "70000", "--endpoints", str(endpoints)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2 and "not a port number" in bad.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        taken = subprocess.run(
            [*ORBITMESH, "up", "demo", "--metrics-port", str(port), "--endpoints", str(endpoints)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert taken.returncode == 2, taken.stderr
    assert "cannot serve metrics" in taken.stderr
    assert "starting" not in taken.stdout  # Ray never started
    assert not endpoints.exists()


@pytest.mark.slow
def test_up_serves_metrics_on_a_free_port(tmp_path: Path) -> None:
    endpoints = tmp_path / "endpoints.json"
    with orbitmesh_up(
        "demo", "--metrics-port", "0", "--duration", "600", endpoints=endpoints
    ) as up:
        assert up.stdout is not None
        first = up.stdout.readline()
        match = re.match(r"metrics on (http://127\.0\.0\.1:(\d+)/metrics)$", first.strip())
        assert match is not None and int(match.group(2)) > 0, first
        doc = json.loads(endpoints.read_text())
        assert doc["metrics"] == match.group(1)
        text = fetch(match.group(1))
        m = parse(text)
        assert naming_problems(text) == []
        assert sum(v for k, v in m.items() if k[0] == "orbitmesh_satellite_up") == 12
        assert sum(v for k, v in m.items() if k[0] == "orbitmesh_station_up") == 6
        assert m[key("orbitmesh_emulation_up")] == 1
    assert up.returncode == 0
    assert not endpoints.exists()
