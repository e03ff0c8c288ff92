"""The private Ray an emulation starts (orchestrator/local_ray.py): what it is told to
keep, and what not."""

from __future__ import annotations

import time
from typing import Any

import ray


@ray.remote(num_cpus=0)
class _Polled:
    def poll(self) -> int:
        return 1


def test_actor_calls_leave_no_task_events_in_gcs(ray_local: Any) -> None:
    """Task events would grow gcs_server with every call the orchestrator makes
    (docs/performance.md, Soak): with Ray's defaults these 20 calls leave 20 or more."""
    actor = _Polled.remote()  # type: ignore[attr-defined]
    assert sum(ray.get([actor.poll.remote() for _ in range(20)])) == 20
    time.sleep(2.5)  # workers report task events every second by default
    # Each a TaskEvents message; a call's names the method ("_Polled.poll").
    events = ray._private.state.state._get_all_task_events()
    assert not [e for e in events if "_Polled.poll" in str(e)]
    ray.kill(actor)
