"""Per-model counters a satellite (or a ground station) keeps for Triton's ModelStatistics.

Durations are simulated seconds (what the emulated satellite spent: equal to wall time
at speed 1), kept as integer nanoseconds the way Triton reports them. Pure bookkeeping:
no gRPC, no clock of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Duration", "ModelCounters", "ModelStats"]


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
