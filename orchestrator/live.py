"""The live status of a running emulation, read over gRPC from its endpoints.

Used by ``orbitmesh up`` (its live table) and ``orbitmesh status`` (from any shell): the
hosts answer for their satellites and gateways (one call per host process; an endpoints
document without hosts is read node by node), so no Ray connection is needed. Secured
servers (docs/security.md) are read with the ``credentials`` given: TLS and the token.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc

from orbitmesh.ground.vitals import POWER_STATE_NAMES, THERMAL_STATE_NAMES, VitalsRow, vitals_rows
from orbitmesh.protos.orbitmesh.v1 import (
    ground_station_pb2,
    ground_station_pb2_grpc,
    host_pb2,
    host_pb2_grpc,
    satellite_pb2,
    satellite_pb2_grpc,
)
from orbitmesh.protos.serving import Credentials, channel_to

__all__ = ["collect_status", "render_status"]

#: A station whose replies leave this much later than modelled (p99, wall ms, over the
#: gateway's lag window) is shown as not keeping up: the machine is too busy for the load.
LAG_BOUND_P99_MS = 5.0


def _station(
    name: str, address: str, timeout_s: float, credentials: Credentials | None
) -> dict[str, Any]:
    try:
        with channel_to(address, credentials) as channel:
            stub = ground_station_pb2_grpc.GroundStationStub(channel)
            stats = stub.LinkStats(ground_station_pb2.LinkStatsRequest(), timeout=timeout_s)
            visible = stub.Visible(ground_station_pb2.VisibleRequest(), timeout=timeout_s)
    except grpc.RpcError as exc:
        return {"name": name, "address": address, "up": False, "error": exc.code().name}
    return _station_row(name, address, stats, visible)


def _station_row(
    name: str, address: str, stats: Any, visible: Any, in_view: int | None = None
) -> dict[str, Any]:
    """``visible`` may list only the highest satellites; ``in_view`` counts them all
    (default: as many as listed)."""
    ids = [v.satellite_id for v in visible.satellites]
    return {
        "name": name,
        "address": address,
        "up": True,
        "sim_time": visible.sim_time.ToDatetime().isoformat() + "Z",
        "visible": ids,
        "in_view": len(ids) if in_view is None else in_view,
        "requests": stats.request_count,
        "succeeded": stats.succeeded_count,
        "failed": dict(stats.failed_by_cause),
        "in_flight": stats.in_flight,
        "handovers": stats.handover_count,
        "late_tick_lookups": stats.late_tick_lookups,
        "mean_uplink_ms": stats.mean_uplink_ms,
        "mean_downlink_ms": stats.mean_downlink_ms,
        "lag_p50_ms": stats.lag_p50_ms,
        "lag_p99_ms": stats.lag_p99_ms,
        "lag_max_ms": stats.lag_max_ms,
        "lag_samples": stats.lag_samples,
        "lag_window_s": stats.lag_window_s,
    }


def _satellite(
    sid: str, address: str, timeout_s: float, credentials: Credentials | None
) -> dict[str, Any]:
    try:
        with channel_to(address, credentials) as channel:
            status = satellite_pb2_grpc.SatelliteStub(channel).Status(
                satellite_pb2.StatusRequest(), timeout=timeout_s
            )
    except grpc.RpcError as exc:
        return {"id": sid, "address": address, "up": False, "error": exc.code().name}
    return _satellite_row(sid, address, status)


def _satellite_row(sid: str, address: str, status: Any) -> dict[str, Any]:
    return {
        "id": sid,
        "address": address,
        "up": True,
        "sim_time": status.sim_time.ToDatetime().isoformat() + "Z",
        "sunlit": status.sunlit,
        "state_of_charge": status.state_of_charge,
        "battery_wh": status.battery_wh,
        "temperature_c": status.temperature_c,
        "power_state": POWER_STATE_NAMES.get(status.power_state, "unknown"),
        "thermal_state": THERMAL_STATE_NAMES.get(status.thermal_state, "unknown"),
        "queue_depth": status.queue_depth,
        "served": status.served_count,
        "refused": dict(status.refused.by_cause),
        "lat_deg": status.position.lat_deg,
        "lon_deg": status.position.lon_deg,
    }


def _vitals_row(row: VitalsRow, address: str) -> dict[str, Any]:
    """A satellite's row from its host's brief reply (no position in it)."""
    return {
        "id": row.satellite_id,
        "address": address,
        "up": True,
        "sim_time": row.sim_time.replace(tzinfo=None).isoformat() + "Z",
        "sunlit": row.sunlit,
        "state_of_charge": row.state_of_charge,
        "battery_wh": row.battery_wh,
        "temperature_c": row.temperature_c,
        "power_state": row.power_state,
        "thermal_state": row.thermal_state,
        "queue_depth": row.queue_depth,
        "served": row.served,
        "refused": row.refused,
        "lat_deg": None,
        "lon_deg": None,
    }


def _host(address: str, timeout_s: float, credentials: Credentials | None) -> Any:
    try:
        with channel_to(address, credentials) as channel:
            return host_pb2_grpc.HostStub(channel).Members(
                host_pb2.MembersRequest(brief=True), timeout=timeout_s
            )
    except grpc.RpcError as exc:
        return exc.code().name


def _by_host(
    hosts: dict[str, Any],
    stations: dict[str, str],
    satellites: dict[str, str],
    timeout_s: float,
    credentials: Credentials | None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    with ThreadPoolExecutor(max_workers=16) as pool:
        replies = list(
            pool.map(lambda h: _host(str(h["address"]), timeout_s, credentials), hosts.values())
        )
    st: dict[str, dict[str, Any]] = {}
    sats: dict[str, dict[str, Any]] = {}
    for host, reply in zip(hosts.values(), replies, strict=True):
        if isinstance(reply, str):  # the host did not answer: none of its members did
            for name in host.get("stations", ()):
                st[name] = {
                    "name": name,
                    "address": stations.get(name),
                    "up": False,
                    "error": reply,
                }
            for sid in host.get("satellites", ()):
                sats[sid] = {"id": sid, "address": satellites.get(sid), "up": False, "error": reply}
            continue
        for station in reply.stations:
            st[station.name] = _station_row(
                station.name,
                station.address,
                station.link_stats,
                station.visible,
                station.visible_count,
            ) | {"faults": list(station.active_faults)}
        for row in vitals_rows(reply.vitals):
            if row.serving:
                sats[row.satellite_id] = _vitals_row(row, satellites.get(row.satellite_id, ""))
    down = {"up": False, "error": "STOPPED"}
    return (
        [st.get(name) or {"name": name, "address": a, **down} for name, a in stations.items()],
        [sats.get(sid) or {"id": sid, "address": a, **down} for sid, a in satellites.items()],
    )


def collect_status(
    endpoints: dict[str, Any], *, timeout_s: float = 2.0, credentials: Credentials | None = None
) -> dict[str, Any]:
    """Ask every host (or, without hosts, every gateway and satellite) of an endpoints
    document how its members are doing (``credentials``: for secured servers)."""
    stations = endpoints.get("ground_stations", {})
    satellites = endpoints.get("satellites", {})
    hosts = endpoints.get("hosts") or {}
    if hosts and all(h.get("address") for h in hosts.values()):
        st, sats = _by_host(hosts, stations, satellites, timeout_s, credentials)
    else:
        with ThreadPoolExecutor(max_workers=16) as pool:
            st = list(
                pool.map(
                    lambda kv: _station(kv[0], kv[1], timeout_s, credentials), stations.items()
                )
            )
            sats = list(
                pool.map(
                    lambda kv: _satellite(kv[0], kv[1], timeout_s, credentials),
                    satellites.items(),
                )
            )
    times = [s["sim_time"] for s in (*st, *sats) if s.get("up")]
    return {
        "scenario": endpoints.get("scenario"),
        "speed": endpoints.get("speed"),
        "sim_time": max(times) if times else None,
        "stations": st,
        "satellites": sats,
    }


def render_status(status: dict[str, Any], extra: dict[str, Any] | None = None) -> str:
    """A compact table: the clock, the satellites in aggregate, one line per station."""
    sats = [s for s in status["satellites"] if s.get("up")]
    down = len(status["satellites"]) - len(sats)
    power = Counter(s["power_state"] for s in sats)
    thermal = Counter(s["thermal_state"] for s in sats)
    refused: Counter[str] = Counter()
    for s in sats:
        refused.update(s["refused"])
    served = sum(s["served"] for s in sats)
    soc = [s["state_of_charge"] for s in sats]
    lines = [
        f"{status.get('scenario')}  sim {status.get('sim_time') or '-'}  "
        f"speed {status.get('speed')}x",
        f"satellites  {len(sats)} up, {down} down | sunlit {sum(s['sunlit'] for s in sats)} | "
        f"power {_counts(power)} | thermal {_counts(thermal)} | "
        f"charge {min(soc, default=0):.0%}..{max(soc, default=0):.0%}",
        f"inference   served {served:,} | refused {_counts(refused) or 0}",
    ]
    if extra:
        lines.append(
            "ticks       "
            + " | ".join(f"{k} {v}" for k, v in extra.items() if not isinstance(v, dict | list))
        )
    faults = sorted({f for st in status["stations"] for f in st.get("faults", ())})
    if faults:
        shown = ", ".join(faults[:4]) + (f", and {len(faults) - 4} more" if len(faults) > 4 else "")
        lines.append(f"faults      {len(faults)} active: {shown}")
    lines.append(_fidelity_line(status["stations"]))
    lines.append("")
    header = (
        f"{'station':<16} {'in view':>7} {'requests':>9} {'ok':>9} {'failed':>24} "
        f"{'flying':>6} {'handovers':>9} {'lag p50/p99 ms':>15}"
    )
    lines.append(header)
    lines.append("-" * len(header))
    for st in status["stations"]:
        if not st.get("up"):
            lines.append(f"{st['name']:<16} down ({st.get('error')})")
            continue
        failed = _counts(Counter(st["failed"])) or "0"
        lag = f"{st['lag_p50_ms']:.1f}/{st['lag_p99_ms']:.1f}" if st.get("lag_samples") else "-"
        lines.append(
            f"{st['name']:<16} {st['in_view']:>7,} {st['requests']:>9,} {st['succeeded']:>9,} "
            f"{failed:>24} {st['in_flight']:>6} {st['handovers']:>9} {lag:>15}"
        )
    return "\n".join(lines)


def _fidelity_line(stations: list[dict[str, Any]]) -> str:
    """How late the gateways answer (last seconds) and whether geometry kept up."""
    up = [s for s in stations if s.get("up")]
    samples = sum(s.get("lag_samples", 0) for s in up)
    late = sum(s.get("late_tick_lookups", 0) for s in up)
    worst = max((s["lag_p99_ms"] for s in up if s.get("lag_samples")), default=0.0)
    worst_max = max((s["lag_max_ms"] for s in up if s.get("lag_samples")), default=0.0)
    behind = []
    if samples and worst > LAG_BOUND_P99_MS:
        behind.append(f"replies late by up to {worst:.1f} ms at p99 (bound {LAG_BOUND_P99_MS:g})")
    verdict = "keeping up" if not behind else "NOT KEEPING UP: " + "; ".join(behind)
    window = next((s.get("lag_window_s") for s in up if s.get("lag_window_s")), None)
    over = f"last {window:g} s" if window else "recent"
    return (
        f"fidelity    lag p99 {worst:.1f} ms, max {worst_max:.1f} ms over {samples:,} replies "
        f"({over}) | late tick lookups {late:,} since start | {verdict}"
    )


def _counts(counter: Counter[str]) -> str:
    return " ".join(f"{k} {v}" for k, v in sorted(counter.items()))
