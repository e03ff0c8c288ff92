"""The live status of a running emulation, read over gRPC from its endpoints.

Used by ``orbitmesh up`` (its live table) and ``orbitmesh status`` (from any shell): the
gateways and satellites answer for themselves, so no Ray connection is needed.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc

from protos.orbitmesh.v1 import (
    ground_station_pb2,
    ground_station_pb2_grpc,
    satellite_pb2,
    satellite_pb2_grpc,
    types_pb2,
)

__all__ = ["collect_status", "render_status"]

_POWER = {
    types_pb2.POWER_STATE_NOMINAL: "nominal",
    types_pb2.POWER_STATE_RESERVE: "reserve",
    types_pb2.POWER_STATE_RECOVERING: "recovering",
}
_THERMAL = {
    types_pb2.THERMAL_STATE_NOMINAL: "nominal",
    types_pb2.THERMAL_STATE_THROTTLED: "throttled",
    types_pb2.THERMAL_STATE_OVERHEATED: "overheated",
}


def _station(name: str, address: str, timeout_s: float) -> dict[str, Any]:
    try:
        with grpc.insecure_channel(address) as channel:
            stub = ground_station_pb2_grpc.GroundStationStub(channel)
            stats = stub.LinkStats(ground_station_pb2.LinkStatsRequest(), timeout=timeout_s)
            visible = stub.Visible(ground_station_pb2.VisibleRequest(), timeout=timeout_s)
    except grpc.RpcError as exc:
        return {"name": name, "address": address, "up": False, "error": exc.code().name}
    return {
        "name": name,
        "address": address,
        "up": True,
        "sim_time": visible.sim_time.ToDatetime().isoformat() + "Z",
        "visible": [v.satellite_id for v in visible.satellites],
        "requests": stats.request_count,
        "succeeded": stats.succeeded_count,
        "failed": dict(stats.failed_by_cause),
        "in_flight": stats.in_flight,
        "handovers": stats.handover_count,
        "late_tick_lookups": stats.late_tick_lookups,
        "mean_uplink_ms": stats.mean_uplink_ms,
        "mean_downlink_ms": stats.mean_downlink_ms,
    }


def _satellite(sid: str, address: str, timeout_s: float) -> dict[str, Any]:
    try:
        with grpc.insecure_channel(address) as channel:
            status = satellite_pb2_grpc.SatelliteStub(channel).Status(
                satellite_pb2.StatusRequest(), timeout=timeout_s
            )
    except grpc.RpcError as exc:
        return {"id": sid, "address": address, "up": False, "error": exc.code().name}
    return {
        "id": sid,
        "address": address,
        "up": True,
        "sim_time": status.sim_time.ToDatetime().isoformat() + "Z",
        "sunlit": status.sunlit,
        "state_of_charge": status.state_of_charge,
        "battery_wh": status.battery_wh,
        "temperature_c": status.temperature_c,
        "power_state": _POWER.get(status.power_state, "unknown"),
        "thermal_state": _THERMAL.get(status.thermal_state, "unknown"),
        "queue_depth": status.queue_depth,
        "served": status.served_count,
        "refused": dict(status.refused.by_cause),
        "lat_deg": status.position.lat_deg,
        "lon_deg": status.position.lon_deg,
    }


def collect_status(endpoints: dict[str, Any], *, timeout_s: float = 2.0) -> dict[str, Any]:
    """Ask every gateway and satellite of an endpoints document how it is doing."""
    stations = endpoints.get("ground_stations", {})
    satellites = endpoints.get("satellites", {})
    with ThreadPoolExecutor(max_workers=16) as pool:
        st = list(pool.map(lambda kv: _station(kv[0], kv[1], timeout_s), stations.items()))
        sats = list(pool.map(lambda kv: _satellite(kv[0], kv[1], timeout_s), satellites.items()))
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
    lines.append("")
    header = (
        f"{'station':<16} {'in view':>7} {'requests':>9} {'ok':>9} {'failed':>24} "
        f"{'flying':>6} {'handovers':>9}"
    )
    lines.append(header)
    lines.append("-" * len(header))
    for st in status["stations"]:
        if not st.get("up"):
            lines.append(f"{st['name']:<16} down ({st.get('error')})")
            continue
        failed = _counts(Counter(st["failed"])) or "0"
        lines.append(
            f"{st['name']:<16} {len(st['visible']):>7} {st['requests']:>9,} {st['succeeded']:>9,} "
            f"{failed:>24} {st['in_flight']:>6} {st['handovers']:>9}"
        )
    return "\n".join(lines)


def _counts(counter: Counter[str]) -> str:
    return " ".join(f"{k} {v}" for k, v in sorted(counter.items()))
