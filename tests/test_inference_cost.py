"""The inline-or-thread choice rests on compute time, not on waits around it."""

from __future__ import annotations

import time
from typing import Any, cast

import numpy as np

from orbitmesh.node.inference import INLINE_LIMIT_S, _CostModel, _run_timed
from orbitmesh.node.runtime import LoadedModel


class _WaitingModel:
    """Spends its wall time waiting, as a cheap model does behind a contended GIL."""

    def run(self, feeds: dict[str, Any], outputs: Any) -> dict[str, Any]:
        time.sleep(0.02)
        return {"y": feeds["x"] + 1}


def test_compute_time_excludes_waiting() -> None:
    model = cast(LoadedModel, _WaitingModel())
    wall_start = time.monotonic()
    outputs, compute_s = _run_timed(model, {"x": np.zeros(3)}, None)
    wall_s = time.monotonic() - wall_start
    assert wall_s >= 0.02
    assert compute_s < INLINE_LIMIT_S
    np.testing.assert_array_equal(outputs["y"], np.ones(3))


def test_cost_model_moves_towards_observations() -> None:
    cost = _CostModel(weight=0.5)
    assert cost.expected_s("m", 1) == float("inf")  # unknown: assume expensive
    cost.observe("m", 4, 4e-3)
    assert cost.expected_s("m", 2) == 2e-3
    cost.observe("m", 1, 3e-3)
    assert cost.expected_s("m", 1) == 2e-3  # halfway from 1 ms to 3 ms
