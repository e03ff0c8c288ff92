"""Packing satellites and stations into hosts: the auto rule, explicit sizes, reservations."""

from __future__ import annotations

import pytest

from orbitmesh.ground.lag import LagWindow
from orbitmesh.orchestrator.placement import Placement, PlacementSpec, parse_per_host


def test_auto_makes_two_satellite_hosts_and_one_gateway_host_per_cpu() -> None:
    # 1,584 satellites over 2 CPUs: 4 hosts of ceil(1584 / 4) = 396; 100 stations: 2 of 50.
    p = Placement.resolve(
        PlacementSpec(), satellites=1584, stations=100, cluster_cpus=2, available_cpus=2
    )
    assert (p.satellite_hosts, p.satellites_per_host) == (4, 396)
    assert (p.station_hosts, p.stations_per_host) == (2, 50)
    # Six hosts share the two available CPUs: 0.333 each (rounded down to thousandths).
    assert p.cpus_per_host == 0.333


def test_auto_never_makes_more_hosts_than_nodes() -> None:
    p = Placement.resolve(
        PlacementSpec(), satellites=3, stations=1, cluster_cpus=16, available_cpus=0
    )
    assert (p.satellite_hosts, p.satellites_per_host, p.station_hosts) == (3, 1, 1)
    assert p.cpus_per_host == 0.0  # nothing available: reserve nothing rather than wait


def test_a_cluster_gets_hosts_in_proportion_to_its_cpus() -> None:
    # 64 CPUs: up to 128 satellite hosts; 10,000 satellites in hosts of ceil(10000/128) = 79,
    # which makes ceil(10000 / 79) = 127 hosts.
    p = Placement.resolve(
        PlacementSpec(), satellites=10_000, stations=100, cluster_cpus=64, available_cpus=60
    )
    assert (p.satellites_per_host, p.satellite_hosts) == (79, 127)
    assert (p.stations_per_host, p.station_hosts) == (2, 50)
    assert p.cpus_per_host == pytest.approx(60 / 177, abs=1e-3)


def test_explicit_sizes_and_reservation_win() -> None:
    spec = PlacementSpec(satellites_per_host=1, stations_per_host=10, cpus_per_host=0.0)
    p = Placement.resolve(spec, satellites=12, stations=6, cluster_cpus=2, available_cpus=2)
    assert (p.satellite_hosts, p.station_hosts, p.cpus_per_host) == (12, 1, 0.0)
    overridden = spec.with_overrides(satellites_per_host=4, stations_per_host=None)
    assert overridden == PlacementSpec(4, 10, 0.0)


@pytest.mark.parametrize(("text", "value"), [("auto", None), ("AUTO", None), ("7", 7)])
def test_per_host_option_values(text: str, value: int | None) -> None:
    assert parse_per_host(text) == value


@pytest.mark.parametrize("text", ["0", "-2", "1.5", "many", ""])
def test_bad_per_host_option_values(text: str) -> None:
    with pytest.raises(ValueError, match='positive integer or "auto"'):
        parse_per_host(text)


def test_lag_window_keeps_recent_replies_and_counts_early_ones_as_on_time() -> None:
    window = LagWindow(window_s=10.0)
    # Replies due at t and answered 1, 2, ... 100 ms later, at t = 0..99 s.
    for k in range(100):
        window.observe(answered_wall=float(k) + (k + 1) / 1e3, due_wall=float(k))
    window.observe(answered_wall=99.5, due_wall=100.0)  # early: lag 0
    lag = window.summary(now_wall=100.0)
    # Kept: answered at or after 90 s: lags 91..100 ms and the early one (0 ms).
    assert lag.samples == 11
    assert lag.max_ms == pytest.approx(100.0)
    assert lag.p50_ms == pytest.approx(95.0)
    assert window.summary(now_wall=1000.0).samples == 0
