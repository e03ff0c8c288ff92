"""Recording and replaying the tick stream (``orbitmesh up --record / --replay``).

A trace is an ``.npz`` file: a JSON header (scenario, stations, satellites, the
satellite faults of the run) and, for every tick, exactly the links that were published
(laser links with their delays, the links faults cut, every station's ground links, the
stations down, the weather and the faults active), stored as arrays concatenated over
the ticks with one count per tick, and where moving terminals were (with which of them
handed over by their own motion). Replaying publishes the same links at the same
simulated times and applies the same satellite faults, so a run sees the same links and
faults whatever the geometry code does (and without computing any).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from orbitmesh.links.linkstate import StationLinks, TerminalPlaces, TickLinks

__all__ = ["TraceError", "TraceReader", "TraceWriter"]

FORMAT = "orbitmesh-trace/3"
#: Older formats this reader still replays (without faults).
_READS = (FORMAT, "orbitmesh-trace/2")
_ISL = ("isl_a", "isl_b", "isl_delay_ms")
_CUT = ("cut_a", "cut_b", "cut_delay_ms")
_GROUND = ("station", "satellite", "elevation_deg", "azimuth_deg", "range_km", "delay_ms")
_PLACES = ("station", "lat_deg", "lon_deg", "alt_m", "handover_by_motion")


class TraceError(ValueError):
    """A trace that cannot be replayed for this scenario."""


class TraceWriter:
    def __init__(
        self, path: Path, scenario: str, stations: Sequence[str], satellites: Sequence[str]
    ) -> None:
        self.path = path
        self.header = {
            "format": FORMAT,
            "scenario": scenario,
            "stations": list(stations),
            "satellites": list(satellites),
        }
        self._ticks: list[TickLinks] = []
        #: Satellite faults applied during the run (``SatelliteFault.as_json``).
        self.satellite_faults: list[dict[str, Any]] = []

    def add(self, tick: TickLinks) -> None:
        if tick.tick != len(self._ticks):
            raise ValueError(
                f"ticks must be recorded in order: expected {len(self._ticks)}, got {tick.tick}"
            )
        self._ticks.append(tick)

    def update(self, tick: TickLinks) -> None:
        """Replace a recorded tick by its republished form (a fault added while it was
        still to come)."""
        if tick.tick < len(self._ticks):
            self._ticks[tick.tick] = tick

    def close(self) -> None:
        ticks = self._ticks
        header = self.header | {"satellite_faults": self.satellite_faults}
        arrays: dict[str, NDArray[Any]] = {
            "header": np.array(json.dumps(header)),
            "offset_s": np.array([t.offset_s for t in ticks], dtype=np.float64),
            "step_s": np.array([t.step_s for t in ticks], dtype=np.float64),
            "isl_count": np.array([len(t.isl_a) for t in ticks], dtype=np.int64),
            "ground_count": np.array([len(t.ground) for t in ticks], dtype=np.int64),
            "cut_count": np.array([len(t.cut_a) for t in ticks], dtype=np.int64),
            "places_count": np.array([len(t.places.station) for t in ticks], dtype=np.int64),
            "tick_faults": np.array([_tick_faults(t) for t in ticks]),
        }
        for name in (*_ISL, *_CUT):
            arrays[name] = _joined([getattr(t, name) for t in ticks])
        for name in _GROUND:
            arrays[f"ground_{name}"] = _joined([getattr(t.ground, name) for t in ticks])
        for name in _PLACES:
            arrays[f"places_{name}"] = _joined([getattr(t.places, name) for t in ticks])
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp.npz")
        np.savez_compressed(tmp, **arrays)  # type: ignore[arg-type]
        tmp.replace(self.path)


def _tick_faults(tick: TickLinks) -> str:
    """A tick's stations down, weather and fault labels, as one JSON string."""
    return json.dumps(
        [list(tick.stations_down), [list(w) for w in tick.weather], list(tick.faults)]
    )


def _joined(parts: list[NDArray[Any]]) -> NDArray[Any]:
    return np.concatenate(parts) if parts else np.empty(0)


class TraceReader:
    def __init__(self, path: Path) -> None:
        try:
            with np.load(path, allow_pickle=False) as data:
                self.header = json.loads(str(data["header"]))
                if self.header.get("format") not in _READS:
                    raise TraceError(
                        f"{path}: unknown trace format {self.header.get('format')!r} "
                        f"(this orbitmesh reads {FORMAT})"
                    )
                self._data = {k: data[k] for k in data.files if k != "header"}
        except (OSError, KeyError, ValueError) as exc:
            if isinstance(exc, TraceError):
                raise
            raise TraceError(f"{path}: not an orbitmesh trace ({exc})") from None
        self.path = path
        self._isl_at = np.concatenate([[0], np.cumsum(self._data["isl_count"])])
        self._cut_at = np.concatenate([[0], np.cumsum(self._data.get("cut_count", []))])
        #: Satellite faults the recorded run applied (empty for older traces).
        self.satellite_faults: list[dict[str, Any]] = list(self.header.get("satellite_faults", []))
        self._ground_at = np.concatenate([[0], np.cumsum(self._data["ground_count"])])
        self._places_at = np.concatenate([[0], np.cumsum(self._data.get("places_count", []))])

    def check(self, scenario: str, stations: Sequence[str], satellites: Sequence[str]) -> None:
        """Refuse a trace recorded for another scenario (names, stations, satellites)."""
        for key, ours in (
            ("scenario", scenario),
            ("stations", list(stations)),
            ("satellites", list(satellites)),
        ):
            if self.header[key] != ours:
                raise TraceError(
                    f"{self.path}: recorded for a different {key} than this scenario's"
                )

    def tick(self, index: int) -> TickLinks:
        if index >= len(self):
            raise TraceError(f"{self.path}: has {len(self)} ticks, tick {index} was asked for")
        d = self._data
        isl = slice(int(self._isl_at[index]), int(self._isl_at[index + 1]))
        gr = slice(int(self._ground_at[index]), int(self._ground_at[index + 1]))
        faults: dict[str, Any] = {}
        if "cut_count" in d:
            cut = slice(int(self._cut_at[index]), int(self._cut_at[index + 1]))
            down, weather, labels = json.loads(str(d["tick_faults"][index]))
            faults = {
                "cut_a": d["cut_a"][cut].astype(np.int32),
                "cut_b": d["cut_b"][cut].astype(np.int32),
                "cut_delay_ms": d["cut_delay_ms"][cut].astype(np.float64),
                "stations_down": tuple(int(s) for s in down),
                "weather": tuple((int(n), float(r), float(x)) for n, r, x in weather),
                "faults": tuple(str(label) for label in labels),
            }
        if "places_count" in d:
            pl = slice(int(self._places_at[index]), int(self._places_at[index + 1]))
            faults["places"] = TerminalPlaces(
                station=d["places_station"][pl].astype(np.int32),
                lat_deg=d["places_lat_deg"][pl].astype(np.float64),
                lon_deg=d["places_lon_deg"][pl].astype(np.float64),
                alt_m=d["places_alt_m"][pl].astype(np.float64),
                handover_by_motion=d["places_handover_by_motion"][pl].astype(bool),
            )
        return TickLinks(
            tick=index,
            offset_s=float(d["offset_s"][index]),
            step_s=float(d["step_s"][index]),
            isl_a=d["isl_a"][isl].astype(np.int32),
            isl_b=d["isl_b"][isl].astype(np.int32),
            isl_delay_ms=d["isl_delay_ms"][isl].astype(np.float64),
            ground=StationLinks(
                station=d["ground_station"][gr].astype(np.int32),
                satellite=d["ground_satellite"][gr].astype(np.int32),
                elevation_deg=d["ground_elevation_deg"][gr].astype(np.float64),
                azimuth_deg=d["ground_azimuth_deg"][gr].astype(np.float64),
                range_km=d["ground_range_km"][gr].astype(np.float64),
                delay_ms=d["ground_delay_ms"][gr].astype(np.float64),
            ),
            **faults,
        )

    def __len__(self) -> int:
        return len(self._data["offset_s"])
