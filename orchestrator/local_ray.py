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

#: Ray records every actor method call as task events and keeps the last 100,000 in
#: gcs_server for its dashboard and state API (``task_events_max_num_task_in_gcs``),
#: which orbitmesh does not use. The orchestrator's polls of every host are such calls,
#: several a second: about 3 KiB each in gcs_server, which grew by 1.5-3 MiB a minute,
#: for about four hours before Ray's bound. An interval of 0 turns recording off in
#: every process (ray_config_def.h, https://github.com/ray-project/ray/pull/30829; Ray
#: Serve turns task events off for its own actors for the same reason,
#: ray-project/ray#43613). Measured in docs/performance.md ("Soak"). A ``ray start``
#: cluster needs ``RAY_task_events_report_interval_ms=0`` in its environment (deploy/).
TASK_EVENTS_REPORT_INTERVAL_MS = 0


def ray_address(address: str | None, environ: Mapping[str, str] = os.environ) -> str | None:
    """The cluster to join: ``address`` (``--address``), else ``RAY_ADDRESS`` (what ``ray
    job submit`` and KubeRay's RayJob give their entrypoints), else None: a private local
    Ray."""
    return address or environ.get("RAY_ADDRESS") or None


def start_ray(
    address: str | None = None,
    *,
    num_cpus: int | None = None,
    object_store_bytes: int = OBJECT_STORE_BYTES,
) -> None:
    """Join the Ray cluster at ``address`` or ``RAY_ADDRESS``, or start a private local one
    (with ``object_store_bytes`` of object store: preflight.object_store_bytes).

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
    # A private Ray binds loopback: Ray takes the machine's outward address for its node
    # (and every server then listens on all interfaces) unless clusters are off, the mode
    # Ray keeps for laptops (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, read at import: set for
    # this process's Ray, and in the environment Ray's own processes start with, for the
    # start only: a `ray start` of a real cluster from this process must not inherit it).
    # docs/security.md shows it with `ss -ltnp`.
    from ray._private import ray_constants

    variable = ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR
    previous = ray_constants.ENABLE_RAY_CLUSTER, os.environ.get(variable)
    os.environ[variable] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        ray.init(
            address="local",
            num_cpus=num_cpus,
            include_dashboard=False,
            log_to_driver=False,
            object_store_memory=object_store_bytes,
            # Satellites are processes with num_cpus=0: let Ray start several at once
            # (its default is one per CPU, which makes 100 satellites take minutes).
            _system_config={
                "worker_maximum_startup_concurrency": max(4, os.cpu_count() or 2),
                "worker_niceness": HOST_NICENESS,
                "task_events_report_interval_ms": TASK_EVENTS_REPORT_INTERVAL_MS,
            },
        )
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = previous[0]
        if previous[1] is None:
            os.environ.pop(variable, None)
        else:
            os.environ[variable] = previous[1]
