"""Compiled bytecode for the packages every actor process imports.

Ray starts a fresh interpreter for each satellite and gateway. When no ``.pyc`` files
sit beside our modules (an editable install, run with ``PYTHONDONTWRITEBYTECODE`` as
many containers and CI machines are), every one of those interpreters compiles the same
sources again: about 0.1 CPU seconds a process here, ten seconds of two cores for a
hundred satellites. Compiling once, before the actors start, removes that. Files that
are already current are only checked (a few milliseconds); a read-only install is left
as it is.
"""

from __future__ import annotations

import compileall
import importlib.util

__all__ = ["ACTOR_PACKAGES", "compile_packages"]

#: What satellite, gateway and orchestrator processes import from this project.
ACTOR_PACKAGES = (
    "orbitmesh",  # the base modules (compile_dir does not follow the symlinks below)
    "orbitmesh.links",
    "orbitmesh.node",
    "orbitmesh.ground",
    "orbitmesh.orchestrator",
    "orbitmesh.protos",
)


def compile_packages(packages: tuple[str, ...] = ACTOR_PACKAGES) -> bool:
    """Write missing or stale ``.pyc`` files for ``packages``; True when all are current.

    ``py_compile`` writes even when ``sys.dont_write_bytecode`` is set: that flag only
    stops the import system from writing, which is what leaves each actor compiling.
    """
    current = True
    for name in packages:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            continue
        for folder in spec.submodule_search_locations:
            # compile_dir reports unwritable folders (a read-only install) as False
            # rather than raising: the actors then compile in memory, as before.
            current &= bool(compileall.compile_dir(folder, quiet=2))
    return current
