"""Counters servers keep, and the protocol messages that report them: per-model counters
for Triton's ModelStatistics (satellites and ground stations), latency histograms.

Model durations are simulated seconds (what the emulated satellite spent: equal to wall
time at speed 1), kept as integer nanoseconds the way Triton reports them. No clock of
its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orbitmesh.histogram import HistogramSnapshot
from orbitmesh.protos.contract import MODEL_VERSION
from orbitmesh.protos.inference import grpc_service_pb2 as pb
from orbitmesh.protos.orbitmesh.v1 import types_pb2

__all__ = ["Duration", "ModelCounters", "ModelStats", "histogram_message", "statistics_message"]


@dataclass
class Duration:
    """How many, and their total duration."""

    count: int = 0
    ns: int = 0

    def add(self, seconds: float) -> None:
        self.count += 1
        self.ns += max(0, round(seconds * 1e9))


@dataclass
class ModelCounters:
    success: Duration = field(default_factory=Duration)
    fail: Duration = field(default_factory=Duration)
    queue: Duration = field(default_factory=Duration)
    compute_infer: Duration = field(default_factory=Duration)
    #: Batch items of the model's executions.
    inference_count: int = 0
    execution_count: int = 0
    #: Simulated time of the last successful request (ms since the Unix epoch); 0: none.
    last_inference_ms: int = 0


class ModelStats:
    """Counters per model name, for the models one server holds."""

    def __init__(self) -> None:
        self._models: dict[str, ModelCounters] = {}

    def of(self, model: str) -> ModelCounters:
        counters = self._models.get(model)
        if counters is None:
            counters = self._models[model] = ModelCounters()
        return counters

    def executed(self, model: str, *, batch: int, queue_s: float, compute_s: float) -> None:
        """One run of the model: its wait for a slot and its execution."""
        counters = self.of(model)
        counters.queue.add(queue_s)
        counters.compute_infer.add(compute_s)
        counters.execution_count += 1
        counters.inference_count += batch

    def answered(self, model: str, *, took_s: float, at_ms: int) -> None:
        counters = self.of(model)
        counters.success.add(took_s)
        counters.last_inference_ms = max(counters.last_inference_ms, at_ms)

    def failed(self, model: str, *, took_s: float) -> None:
        self.of(model).fail.add(took_s)


def statistics_message(name: str, counters: ModelCounters) -> Any:
    """One model's counters as Triton's ``ModelStatistics``."""

    def duration(d: Any) -> Any:
        return pb.StatisticDuration(count=d.count, ns=d.ns)

    return pb.ModelStatistics(
        name=name,
        version=MODEL_VERSION,
        last_inference=counters.last_inference_ms,
        inference_count=counters.inference_count,
        execution_count=counters.execution_count,
        inference_stats=pb.InferStatistics(
            success=duration(counters.success),
            fail=duration(counters.fail),
            queue=duration(counters.queue),
            compute_infer=duration(counters.compute_infer),
        ),
    )


def histogram_message(histogram: HistogramSnapshot) -> Any:
    """A histogram snapshot as an ``orbitmesh.v1.Histogram``."""
    return types_pb2.Histogram(
        upper_bounds_s=histogram.upper_bounds_s,
        cumulative_counts=histogram.cumulative_counts,
        count=histogram.count,
        sum_s=histogram.sum_s,
    )
