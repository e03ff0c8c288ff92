"""Front doors that load a package's names on first use (PEP 562).

Satellite and gateway processes import a few light modules of several packages; a front
door that imported everything it exports would pull skyfield, scipy or the model
trainers into each of a hundred processes. Each package's ``__init__`` maps its public
names to the submodules that define them and lets this load them when asked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any

__all__ = ["lazy_getattr"]


def lazy_getattr(
    package: str, home: Mapping[str, str], namespace: dict[str, Any]
) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: ``home`` maps a name to its submodule;
    a loaded name is stored in ``namespace`` (the package's globals) so it loads once."""

    def load(name: str) -> Any:
        module = home.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(f".{module}", package), name)
        namespace[name] = value
        return value

    return load
