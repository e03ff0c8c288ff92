"""orbitmesh orchestrator: scenarios, orbital geometry, links, routes and contacts.

The front door; import from here rather than from the modules::

    from orchestrator import load_scenario, GeometryEngine
    engine = GeometryEngine(load_scenario("demo"))
    tick = engine.tick(engine.start)
"""

from .catalog import SatelliteCatalog, build_catalog
from .contacts import Contact, find_contacts
from .geometry import GeometryEngine, Tick
from .isl import IslLinks
from .routing import RouteTable
from .scenario import (
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
from .tle import TleError, TleRecord, parse_tle_text, read_tle_file
from .visibility import GroundLinks, StationSet

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
