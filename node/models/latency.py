"""Per-inference latency of an ONNX Runtime session, for reports (never for assertions)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["p50_latency_ms"]


def p50_latency_ms(
    session: Any, feed: dict[str, NDArray[Any]], runs: int = 200, warmup: int = 20
) -> float:
    """Median wall time of ``session.run(None, feed)`` in milliseconds."""
    for _ in range(warmup):
        session.run(None, feed)
    samples_ns = np.empty(runs, np.int64)
    for i in range(runs):
        start = time.perf_counter_ns()
        session.run(None, feed)
        samples_ns[i] = time.perf_counter_ns() - start
    return float(np.median(samples_ns)) / 1e6
