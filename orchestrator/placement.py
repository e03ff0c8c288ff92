"""How satellites and ground stations are packed into host processes (``[placement]``).

A Ray actor is a process: about 40 MiB and 1.2% of a core while idle here, and 0.8 CPU
seconds to start. One process per satellite therefore caps a two-core machine near a
hundred satellites, and its idle load alone makes emulated latencies wrong. Satellites
and stations are dealt into hosts instead, a few per available CPU, each an actor
running many independent nodes on one event loop.

``"auto"`` (the default) makes ``SATELLITE_HOSTS_PER_CPU`` satellite hosts and
``STATION_HOSTS_PER_CPU`` gateway hosts per CPU of the Ray cluster (never more hosts
than nodes), and has each host reserve an equal share of the CPUs available when the
emulation starts, so that on a cluster Ray places hosts where there is room. A number
fixes the size of every host instead: 1 is the one-process-per-satellite layout.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, TypeVar

from orbitmesh.checking import Checker, describe, exact_number

if TYPE_CHECKING:
    from orbitmesh.node.host import HostConfig
    from orbitmesh.node.server import NodeConfig

__all__ = [
    "SATELLITE_HOSTS_PER_CPU",
    "STATION_HOSTS_PER_CPU",
    "Placement",
    "PlacementSpec",
    "deal",
    "describe_placement",
    "host_configs",
    "parse_per_host",
    "parse_placement",
    "placement_json",
]

#: Satellite hosts per CPU under "auto": two keep both cores busy when one host waits
#: on another's gRPC call, while every extra process costs idle CPU and memory.
SATELLITE_HOSTS_PER_CPU: Final = 2.0
#: Gateway hosts per CPU under "auto": a gateway spends several times a satellite's CPU
#: per request (two gRPC calls), so stations spread over one host per core.
STATION_HOSTS_PER_CPU: Final = 1.0
_KEYS = ("satellites_per_host", "stations_per_host", "cpus_per_host")
T = TypeVar("T")


@dataclass(frozen=True)
class PlacementSpec:
    """``[placement]``: None means "auto" for each setting."""

    satellites_per_host: int | None = None
    stations_per_host: int | None = None
    #: CPUs each host reserves from Ray (None: an equal share of those available).
    cpus_per_host: float | None = None

    def with_overrides(
        self, satellites_per_host: int | None, stations_per_host: int | None
    ) -> PlacementSpec:
        """Command-line settings over the scenario's (None: keep the scenario's)."""
        return PlacementSpec(
            satellites_per_host if satellites_per_host is not None else self.satellites_per_host,
            stations_per_host if stations_per_host is not None else self.stations_per_host,
            self.cpus_per_host,
        )


@dataclass(frozen=True)
class Placement:
    """A placement resolved for one emulation on one cluster."""

    satellites_per_host: int
    stations_per_host: int
    satellite_hosts: int
    station_hosts: int
    cpus_per_host: float

    @classmethod
    def resolve(
        cls,
        spec: PlacementSpec,
        *,
        satellites: int,
        stations: int,
        cluster_cpus: float,
        available_cpus: float,
    ) -> Placement:
        cpus = max(1.0, cluster_cpus)
        sat_per = spec.satellites_per_host or _per_host(satellites, SATELLITE_HOSTS_PER_CPU * cpus)
        gw_per = spec.stations_per_host or _per_host(stations, STATION_HOSTS_PER_CPU * cpus)
        sat_hosts = -(-satellites // sat_per) if satellites else 0
        gw_hosts = -(-stations // gw_per) if stations else 0
        reserve = spec.cpus_per_host
        if reserve is None:
            # Thousandths: Ray's resolution is 1e-4, and a share rounded up could
            # leave the last host without room.
            share = max(0.0, available_cpus) / max(1, sat_hosts + gw_hosts)
            reserve = math.floor(share * 1000) / 1000
        return cls(sat_per, gw_per, sat_hosts, gw_hosts, reserve)


def deal(items: Sequence[T], per_host: int) -> list[tuple[T, ...]]:
    """``items`` dealt into groups of at most ``per_host``, in turn (group k takes items
    k, k + H, k + 2H, ...): neighbours in the catalog are neighbours in orbit, so dealing
    spreads the satellites over a busy region of the sky across every host."""
    if per_host < 1:
        raise ValueError(f"per_host must be at least 1, got {per_host}")
    count = -(-len(items) // per_host)
    return [tuple(items[k::count]) for k in range(count)]


def _per_host(count: int, hosts: float) -> int:
    return max(1, math.ceil(count / max(1, math.floor(hosts))))


def parse_per_host(text: str) -> int | None:
    """A command-line ``--...-per-host`` value: a positive integer or "auto" (None)."""
    if text.strip().lower() == "auto":
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f'must be a positive integer or "auto", got {text!r}')
    return value


def parse_placement(raw: Any, chk: Checker) -> PlacementSpec | None:
    table = chk.table(raw, "placement")
    if table is None:
        return None
    chk.unknown_keys(table, _KEYS, "placement")
    ok = True
    sizes: dict[str, int | None] = {}
    for key in ("satellites_per_host", "stations_per_host"):
        value = table.get(key, "auto")
        if value == "auto":
            sizes[key] = None
        elif isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            sizes[key] = value
        else:
            shown = value if isinstance(value, int) and not isinstance(value, bool) else None
            got = describe(value) if shown is None else str(shown)
            chk.problem(f"placement.{key}", f'must be a positive integer or "auto", got {got}')
            ok = False
    cpus: float | None = None
    raw_cpus = table.get("cpus_per_host", "auto")
    if raw_cpus != "auto":
        number = chk.number(raw_cpus, "placement.cpus_per_host")
        if number is None:
            ok = False
        elif number < 0:
            chk.problem("placement.cpus_per_host", f"must be >= 0, got {exact_number(number)}")
            ok = False
        else:
            cpus = number
    if not ok:
        return None
    return PlacementSpec(sizes["satellites_per_host"], sizes["stations_per_host"], cpus)


def describe_placement(doc: Mapping[str, Any]) -> str:
    """One line from :func:`placement_json`'s document."""
    return (
        f"{doc['satellite_hosts']} satellite host(s) of up to {doc['satellites_per_host']}, "
        f"{doc['station_hosts']} gateway host(s) of up to {doc['stations_per_host']}, "
        f"{exact_number(doc['cpus_per_host'])} CPU reserved each"
    )


def placement_json(placement: Placement) -> Mapping[str, Any]:
    return {
        "satellites_per_host": placement.satellites_per_host,
        "stations_per_host": placement.stations_per_host,
        "satellite_hosts": placement.satellite_hosts,
        "station_hosts": placement.station_hosts,
        "cpus_per_host": placement.cpus_per_host,
    }


def host_configs(
    configs: Sequence[NodeConfig], per_host: int, *, topology: Any = None
) -> list[HostConfig]:
    """Satellites dealt into hosts of at most ``per_host`` (:func:`deal`)."""
    # Here, not at the top: scenario parsing imports this module and needs no host code.
    from orbitmesh.node.host import HostConfig

    return [
        HostConfig(f"sat-host-{k}", members, topology)
        for k, members in enumerate(deal(configs, per_host))
    ]
