"""orbitmesh orchestrator: scenarios, orbital geometry, links, routes and contacts.

The front door; import from here rather than from the modules::

    from orbitmesh.orchestrator import load_scenario, GeometryEngine
    engine = GeometryEngine(load_scenario("demo"))
    tick = engine.tick(engine.start)

Names load on first use, so that light modules (``orbitmesh.constants``,
``orbitmesh.orchestrator.causes``) can be imported by satellite actors without pulling in
skyfield and scipy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orbitmesh.lazy_exports import lazy_getattr

if TYPE_CHECKING:
    from orbitmesh.orchestrator.catalog import SatelliteCatalog, build_catalog
    from orbitmesh.orchestrator.contacts import Contact, find_contacts
    from orbitmesh.orchestrator.geometry import GeometryEngine, Tick
    from orbitmesh.orchestrator.isl import IslLinks
    from orbitmesh.orchestrator.routing import RouteTable
    from orbitmesh.orchestrator.scenario import (
        BUILTIN_SCENARIOS,
        GroundStationSpec,
        LinksSpec,
        Scenario,
        ScenarioError,
        ShellSpec,
        TimeSpec,
        load_scenario,
        parse_scenario,
    )
    from orbitmesh.orchestrator.tle import TleError, TleRecord, parse_tle_text, read_tle_file
    from orbitmesh.orchestrator.visibility import GroundLinks, StationSet

_HOME = {
    "SatelliteCatalog": "catalog",
    "build_catalog": "catalog",
    "Contact": "contacts",
    "find_contacts": "contacts",
    "GeometryEngine": "geometry",
    "Tick": "geometry",
    "IslLinks": "isl",
    "RouteTable": "routing",
    "BUILTIN_SCENARIOS": "scenario",
    "GroundStationSpec": "scenario",
    "LinksSpec": "scenario",
    "Scenario": "scenario",
    "ScenarioError": "scenario",
    "ShellSpec": "scenario",
    "TimeSpec": "scenario",
    "load_scenario": "scenario",
    "parse_scenario": "scenario",
    "TleError": "tle",
    "TleRecord": "tle",
    "parse_tle_text": "tle",
    "read_tle_file": "tle",
    "GroundLinks": "visibility",
    "StationSet": "visibility",
}

__all__ = [
    "BUILTIN_SCENARIOS",
    "Contact",
    "GeometryEngine",
    "GroundLinks",
    "GroundStationSpec",
    "IslLinks",
    "LinksSpec",
    "RouteTable",
    "SatelliteCatalog",
    "Scenario",
    "ScenarioError",
    "ShellSpec",
    "StationSet",
    "Tick",
    "TimeSpec",
    "TleError",
    "TleRecord",
    "build_catalog",
    "find_contacts",
    "load_scenario",
    "parse_scenario",
    "parse_tle_text",
    "read_tle_file",
]


__getattr__ = lazy_getattr(__name__, _HOME, globals())
