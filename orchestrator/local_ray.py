"""Starting Ray for an emulation: one set of settings for the CLI, tests and benchmarks."""

from __future__ import annotations

import os

__all__ = ["start_ray"]

#: Object store for a local emulation: actors exchange small messages over gRPC, not
#: through Ray's object store, so Ray's default (30% of memory) would only be reserved.
OBJECT_STORE_BYTES = 200 * 2**20


def start_ray(address: str | None = None, *, num_cpus: int | None = None) -> None:
    """Join the Ray cluster at ``address``, or start a private local one.

    Always ``address="local"`` for the local case, so that a stale cluster file never
    makes this join (or hang on) a cluster that is not ours.
    """
    import ray

    from .bytecode import compile_packages

    compile_packages()
    if address:
        ray.init(address=address, log_to_driver=False)
        return
    ray.init(
        address="local",
        num_cpus=num_cpus,
        include_dashboard=False,
        log_to_driver=False,
        object_store_memory=OBJECT_STORE_BYTES,
        # Satellites are processes with num_cpus=0: let Ray start several at once
        # (its default is one per CPU, which makes 100 satellites take minutes).
        _system_config={"worker_maximum_startup_concurrency": max(4, os.cpu_count() or 2)},
    )
