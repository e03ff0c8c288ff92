"""Starting Ray for an emulation: one set of settings for the CLI, tests and benchmarks."""

from __future__ import annotations

import os
from collections.abc import Mapping

__all__ = ["ray_address", "start_ray"]

#: Object store for a local emulation: actors exchange small messages over gRPC, not
#: through Ray's object store, so Ray's default (30% of memory) would only be reserved.
OBJECT_STORE_BYTES = 200 * 2**20


#: Ray starts its workers at nice 15 by default (``RAY_worker_niceness``), which would
#: leave every satellite and gateway host behind any ordinary process on the machine
#: (the load generator, the floor's probe server, Ray's own daemons): on a busy machine
#: their wake-ups wait, and that wait is emulation error. A cluster started with ``ray
#: start`` needs ``RAY_worker_niceness=0`` in its environment for the same (deploy/).
HOST_NICENESS = 0


def ray_address(address: str | None, environ: Mapping[str, str] = os.environ) -> str | None:
    """The cluster to join: ``address`` (``--address``), else ``RAY_ADDRESS`` (what ``ray
    job submit`` and KubeRay's RayJob give their entrypoints), else None: a private local
    Ray."""
    return address or environ.get("RAY_ADDRESS") or None


def start_ray(address: str | None = None, *, num_cpus: int | None = None) -> None:
    """Join the Ray cluster at ``address`` or ``RAY_ADDRESS``, or start a private local one.

    Always ``address="local"`` for the local case, so that a stale cluster file never
    makes this join (or hang on) a cluster that is not ours.
    """
    import ray

    from orbitmesh.orchestrator.bytecode import compile_packages

    compile_packages()
    joined = ray_address(address)
    if joined:
        ray.init(address=joined, log_to_driver=False)
        return
    ray.init(
        address="local",
        num_cpus=num_cpus,
        include_dashboard=False,
        log_to_driver=False,
        object_store_memory=OBJECT_STORE_BYTES,
        # Satellites are processes with num_cpus=0: let Ray start several at once
        # (its default is one per CPU, which makes 100 satellites take minutes).
        _system_config={
            "worker_maximum_startup_concurrency": max(4, os.cpu_count() or 2),
            "worker_niceness": HOST_NICENESS,
        },
    )
