"""The layer rule (docs/architecture.md, "Layers"): no module imports a layer above its own.

From the bottom: the base modules of the ``orbitmesh`` namespace (clock, checking,
geodesy, ...), the wire contract (``orbitmesh.protos``), the link emulation
(``orbitmesh.links``), then satellites (``orbitmesh.node``) and ground stations
(``orbitmesh.ground``) side by side and independent of each other, load testing
(``orbitmesh.ground.load``) above the ground stations, and the orchestrator on top. Every
import counts, deferred ones inside functions and ``TYPE_CHECKING`` blocks included: a
deferred import still ties the code together.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "orbitmesh"

#: Layer of each part, by module prefix (the longest prefix decides). Equal layers may
#: not import each other unless they are the same part.
LAYERS: dict[str, int] = {
    "orbitmesh": 0,  # the base modules in orbitmesh/ itself
    "orbitmesh.protos": 1,
    "orbitmesh.links": 2,
    "orbitmesh.node": 3,
    "orbitmesh.ground": 3,
    "orbitmesh.ground.load": 4,
    "orbitmesh.orchestrator": 5,
    "orbitmesh.__main__": 6,  # `python -m orbitmesh`: the command line's entry point
}


def part_of(module: str) -> str:
    return max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len)


def modules() -> dict[str, Path]:
    """Every module of the namespace by its dotted name (through the symlinks)."""
    found: dict[str, Path] = {}
    paths = [
        Path(folder) / name
        for folder, _dirs, names in os.walk(PACKAGE, followlinks=True)
        for name in names
        if name.endswith(".py")
    ]
    for path in sorted(paths):
        if path.name.endswith(("_pb2.py", "_pb2_grpc.py")):
            continue
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports_of(module: str, path: Path) -> list[tuple[int, str]]:
    """(line, imported module) for every import of an orbitmesh module, relative ones
    resolved."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.startswith("orbitmesh")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("orbitmesh"):
                out.append((node.lineno, target))
    return out


def violations(found: dict[str, Path]) -> list[str]:
    bad = []
    for module, path in found.items():
        mine = part_of(module)
        for line, target in imports_of(module, path):
            theirs = part_of(target)
            if theirs == mine or target == "orbitmesh":
                continue
            if LAYERS[theirs] >= LAYERS[mine] and not mine.startswith(theirs + "."):
                shown = path.relative_to(REPO) if path.is_relative_to(REPO) else path
                bad.append(f"{shown}:{line}: {mine} imports {target}")
    return bad


def test_no_layer_imports_upward_and_node_and_ground_stay_apart() -> None:
    found = modules()
    assert {"orbitmesh.node.actor", "orbitmesh.ground.gateway", "orbitmesh.links.routes"} <= set(
        found
    ), "the namespace's symlinks are missing"
    assert violations(found) == []


@pytest.mark.parametrize(
    ("module", "source", "why"),
    [
        ("orbitmesh.node.x", "from orbitmesh.ground.client import Client\n", "sideways"),
        ("orbitmesh.links.x", "from orbitmesh.node.state import NodeState\n", "upward"),
        ("orbitmesh.protos.x", "def f():\n    from orbitmesh.links import routes\n", "deferred"),
        ("orbitmesh.ground.x", "from .load import loadgen\n", "into load testing"),
        ("orbitmesh.clock", "from orbitmesh.protos import contract\n", "base upward"),
    ],
)
def test_the_rule_catches(module: str, source: str, why: str, tmp_path: Path) -> None:
    path = tmp_path / "x.py"
    path.write_text(source)
    assert len(violations({module: path})) == 1, why


def test_the_rule_allows_downward_and_own_part(tmp_path: Path) -> None:
    path = tmp_path / "x.py"
    path.write_text(
        "from orbitmesh.links.routes import RouteFinder\n"
        "from orbitmesh.protos.contract import Cause\n"
        "from orbitmesh.clock import SimClock\n"
        "from .state import NodeState\n"
    )
    assert violations({"orbitmesh.node.x": path}) == []
    load = tmp_path / "y.py"
    load.write_text("from orbitmesh.ground.client import Client\n")
    assert violations({"orbitmesh.ground.load.y": load}) == []
