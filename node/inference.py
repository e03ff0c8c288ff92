"""Running one model on one satellite: admission, the queue, the accelerator, the books.

Shared by the inference servicer, pipeline stages and user apps, so that every
inference on a satellite waits in the same queue, is slowed by the same heat, spends
the same battery and suffers the same radiation: a model whose weights are upset runs
in the satellite's own copy of it, and an output upset flips a bit of the next output.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy.typing as npt

from orbitmesh.links.timing import sleep_until
from orbitmesh.node.accelerator import Accelerator
from orbitmesh.node.runtime import LoadedModel, with_upset_weights
from orbitmesh.node.state import NodeState
from orbitmesh.node.upsets import OutputFlip, WeightUpset, flip_outputs
from orbitmesh.protos.contract import Cause, Refused
from orbitmesh.protos.statistics import ModelStats

__all__ = ["INLINE_LIMIT_S", "InferenceCore", "Timing"]

#: Inferences expected to take less than this run on the event loop itself.
INLINE_LIMIT_S = 0.5e-3
#: Outputs later than an emulated accelerator's modelled finish by no more than this are
#: on time: the event loop's own waits end up to ~0.1 ms late (benchmarks/machine.py's
#: timer lateness), and a few Python calls between taking the accelerator and running the
#: model cost tens of microseconds, which no real accelerator's tiny models would show.
LATE_AFTER_S = 0.1e-3


@dataclass(frozen=True)
class Timing:
    """Simulated seconds spent waiting for the accelerator and running on it, and what
    radiation did to the inference."""

    queue_s: float
    busy_s: float
    compute_energy_wh: float
    #: Bits flipped in the outputs by output upsets.
    output_flips: tuple[OutputFlip, ...] = ()
    #: Weight upsets in effect in the model it ran (0: clean weights).
    weight_upsets: int = 0
    #: Simulated seconds the outputs came after the emulated accelerator's modelled
    #: finish (the host was slower than the hardware emulated; 0: on time, or no profile).
    late_s: float = 0.0


class _CostModel:
    """Per-model seconds per batch item, a moving average of what inferences took.

    Unknown models are assumed expensive until measured, so a first huge request never
    blocks the loop.
    """

    def __init__(self, weight: float = 0.2) -> None:
        self.weight = weight
        self._per_item_s: dict[str, float] = {}

    def expected_s(self, model: str, batch: int) -> float:
        per_item = self._per_item_s.get(model)
        return float("inf") if per_item is None else per_item * batch

    def observe(self, model: str, batch: int, seconds: float) -> None:
        per_item = seconds / max(1, batch)
        old = self._per_item_s.get(model)
        self._per_item_s[model] = per_item if old is None else old + self.weight * (per_item - old)


def _run_timed(
    model: LoadedModel, feeds: dict[str, npt.NDArray[Any]], requested: list[str] | None
) -> tuple[dict[str, npt.NDArray[Any]], float]:
    """``model.run`` and the CPU seconds the calling thread spent in it (ONNX Runtime
    runs single-threaded here, so that is the whole of its compute)."""
    start = time.thread_time()
    outputs = model.run(feeds, requested)
    return outputs, time.thread_time() - start


@functools.cache
def _flops_per_item(path: str) -> float | None:
    """The model's FLOPs per batch item, counted once per file per process (None: its
    graph holds an operation the count does not know)."""
    from orbitmesh.node.models.opcount import flops_per_item

    try:
        return flops_per_item(path)
    except ValueError:
        return None


def _batch_size(feeds: dict[str, npt.NDArray[Any]]) -> int:
    first = next(iter(feeds.values()), None)
    return int(first.shape[0]) if first is not None and first.ndim > 0 else 1


class InferenceCore:
    def __init__(
        self,
        state: NodeState,
        *,
        satellite_id: str,
        max_concurrency: int,
        accelerator: Accelerator | None = None,
    ) -> None:
        self.state = state
        self.satellite_id = satellite_id
        #: The hardware emulated (None: the host's own time, node/accelerator.py).
        self.accelerator = accelerator
        self._executor = ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix="infer")
        self._slots = asyncio.Condition()
        self._cost = _CostModel()
        self.stats = ModelStats()
        #: This satellite's own copies of models whose weights are upset, by name, with
        #: the upsets each was built with.
        self._upset_models: dict[str, tuple[tuple[WeightUpset, ...], LoadedModel]] = {}
        self._building = asyncio.Lock()

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    def admit(self) -> None:
        """Join the queue or raise :class:`Refused` (power, heat, a full queue)."""
        cause = self.state.admit()
        if cause is not None:
            raise Refused(cause, self._refusal_message(cause))

    async def run(
        self,
        model: LoadedModel,
        feeds: dict[str, npt.NDArray[Any]],
        requested: list[str] | None,
        *,
        admitted: bool = False,
    ) -> tuple[dict[str, npt.NDArray[Any]], Timing]:
        """One inference. ``admitted``: the caller already holds a queue place (an app
        running several models for one request)."""
        # Weights as they are when the request arrives; built before it takes a queue
        # place, so that a failed build leaves the queue as it was.
        weight_upsets = 0
        if self.state.radiation is not None:
            model, weight_upsets = await self._with_weights(model)
        if not admitted:
            self.admit()
        arrived = time.monotonic()
        try:
            async with self._slots:
                await self._slots.wait_for(self.state.can_run)
                self.state.start()
        except asyncio.CancelledError:
            self.state.abandon()
            raise
        started = time.monotonic()
        if self.accelerator is not None:
            return await self._run_modelled(
                self.accelerator, model, feeds, requested, arrived, started, admitted, weight_upsets
            )
        try:
            batch = _batch_size(feeds)
            if self._cost.expected_s(model.name, batch) < INLINE_LIMIT_S:
                # Handing work to a thread and back costs ~0.2 ms; a cheaper inference
                # runs inline, which keeps the loop *more* responsive, not less.
                outputs, compute_s = _run_timed(model, feeds, requested)
            else:
                outputs, compute_s = await asyncio.get_running_loop().run_in_executor(
                    self._executor, _run_timed, model, feeds, requested
                )
            ran_s = time.monotonic() - started
            # The choice above rests on compute alone: wall time in the executor also
            # holds the hand-off and waits for the GIL, which under load would keep a
            # cheap model off the loop for good.
            self._cost.observe(model.name, batch, compute_s)
            factor = self.state.throttle_factor()
            if factor > 1.0:
                # A hot accelerator runs slower: the satellite stays busy (and spends
                # energy) for the extra time.
                await asyncio.sleep((factor - 1.0) * ran_s)
        except BaseException:
            await self._abandon(admitted)
            raise
        busy_s = time.monotonic() - started
        flips: list[OutputFlip] = []
        if self.state.radiation is not None:
            outputs, flips = self._with_output_upsets(outputs)
        speed = self.state.clock_speed
        timing = Timing(
            queue_s=(started - arrived) * speed,
            busy_s=busy_s * speed,
            compute_energy_wh=self.state.battery.params.compute_w * busy_s * speed / 3600.0,
            output_flips=tuple(flips),
            weight_upsets=weight_upsets,
        )
        self.state.finish(served=not admitted, latency_s=timing.queue_s + timing.busy_s)
        self.stats.executed(
            model.name, batch=batch, queue_s=timing.queue_s, compute_s=timing.busy_s
        )
        await self._release()
        if admitted:
            self.state.rejoin()
        return outputs, timing

    def prepare(self, models: Iterable[LoadedModel]) -> None:
        """Count, now, the operations of every model the accelerator has no latency for:
        at the first request it would cost an ONNX import and a shape inference (seconds
        for minilm) on the event loop. Counted once per model file and process."""
        if self.accelerator is None:
            return
        for model in models:
            if model.name not in self.accelerator.latency_ms:
                _flops_per_item(str(model.path))

    def modelled_s(self, accelerator: Accelerator, model: LoadedModel, batch: int) -> float:
        """Simulated seconds ``batch`` items of ``model`` take on ``accelerator``."""
        flops = None
        if model.name not in accelerator.latency_ms:
            flops = _flops_per_item(str(model.path))
        return accelerator.inference_s(model.name, batch, flops)

    async def _run_modelled(
        self,
        accelerator: Accelerator,
        model: LoadedModel,
        feeds: dict[str, npt.NDArray[Any]],
        requested: list[str] | None,
        arrived: float,
        started: float,
        admitted: bool,
        weight_upsets: int,
    ) -> tuple[dict[str, npt.NDArray[Any]], Timing]:
        """One inference timed by the emulated accelerator: the host computes the outputs
        meanwhile; the accelerator is busy (energy, heat, its concurrency slot) for the
        modelled time alone, and the outputs leave at the modelled finish or, when the
        host is slower than the hardware emulated, when the host is done: late, and
        counted so."""
        speed = self.state.clock_speed
        batch = _batch_size(feeds)
        try:
            # A hot accelerator runs slower, as in the host's own timing.
            busy_s = self.modelled_s(accelerator, model, batch) * self.state.throttle_factor()
        except BaseException:
            await self._abandon(admitted)
            raise
        wall_start = time.time() - (time.monotonic() - started)
        finish_wall = wall_start + busy_s / speed

        def work() -> tuple[dict[str, npt.NDArray[Any]], float, float]:
            # When the outputs existed, not when the loop saw them: that is what is late.
            outputs, compute_s = _run_timed(model, feeds, requested)
            return outputs, compute_s, time.time()

        host: asyncio.Future[tuple[dict[str, npt.NDArray[Any]], float, float]]
        if self._cost.expected_s(model.name, batch) < INLINE_LIMIT_S:
            # As in the host's own timing: cheaper inline than through a thread.
            host = asyncio.get_running_loop().create_future()
            try:
                host.set_result(work())
            except Exception as exc:  # delivered where the outputs are awaited
                host.set_exception(exc)
        else:
            host = asyncio.get_running_loop().run_in_executor(self._executor, work)
        queue_s = (started - arrived) * speed
        done = False
        late_s = 0.0
        try:
            try:
                await sleep_until(finish_wall)
            finally:
                # The accelerator is free at its modelled finish; the request keeps its
                # queue place until its outputs exist.
                self.state.finish(served=False, hold=True)
                await self._release()
            outputs, compute_s, ready_wall = await host
            self._cost.observe(model.name, batch, compute_s)
            behind_s = ready_wall - finish_wall
            late_s = behind_s * speed if behind_s > LATE_AFTER_S else 0.0
            done = True
        finally:
            self.state.release(
                served=done and not admitted, latency_s=queue_s + busy_s, late_s=late_s
            )
            if admitted:
                self.state.rejoin()
        flips: list[OutputFlip] = []
        if self.state.radiation is not None:
            outputs, flips = self._with_output_upsets(outputs)
        timing = Timing(
            queue_s=queue_s,
            busy_s=busy_s,
            compute_energy_wh=self.state.battery.params.compute_w * busy_s / 3600.0,
            output_flips=tuple(flips),
            weight_upsets=weight_upsets,
            late_s=late_s,
        )
        self.stats.executed(model.name, batch=batch, queue_s=queue_s, compute_s=busy_s)
        return outputs, timing

    async def _with_weights(self, model: LoadedModel) -> tuple[LoadedModel, int]:
        """The model to run: the shared one while its weights are clean here, else this
        satellite's own copy with the upsets in effect (built once per set of upsets,
        in a worker thread), and how many upsets that copy carries."""
        radiation = self.state.radiation
        if radiation is None:
            return model, 0
        self.state.advance()
        upsets = radiation.weight_upsets(model.name)
        built = self._upset_models.get(model.name)
        if upsets and (built is None or built[0] != upsets):
            async with self._building:
                upsets = radiation.weight_upsets(model.name)
                built = self._upset_models.get(model.name)
                if upsets and (built is None or built[0] != upsets):
                    copy, _flips = await asyncio.to_thread(with_upset_weights, model, upsets)
                    built = (upsets, copy)
                    self._upset_models[model.name] = built
        if not upsets or built is None:
            self._upset_models.pop(model.name, None)  # back to the shared session
            return model, 0
        return built[1], len(upsets)

    def _with_output_upsets(
        self, outputs: dict[str, npt.NDArray[Any]]
    ) -> tuple[dict[str, npt.NDArray[Any]], list[OutputFlip]]:
        """The outputs with the bits flipped that output upsets since the last output
        struck."""
        radiation = self.state.radiation
        if radiation is None:
            return outputs, []
        events = radiation.take_output_upsets(self.state.clock())
        if not events:
            return outputs, []
        return flip_outputs(outputs, events)

    async def _abandon(self, admitted: bool) -> None:
        """A running inference failed: the accelerator is free, the slot released, and
        an app's request (``admitted``) queues again."""
        self.state.finish(served=False)
        await self._release()
        if admitted:
            self.state.rejoin()

    async def _release(self) -> None:
        async with self._slots:
            self._slots.notify_all()

    def _refusal_message(self, cause: Cause) -> str:
        state = self.state
        if cause is Cause.POWER:
            return (
                f"satellite {self.satellite_id} is saving power: battery at "
                f"{state.battery.soc:.1%}, below its reserve"
            )
        if cause is Cause.NODE_DOWN:
            down = state.latched_up()
            if down is None:  # over between admission and this message
                return f"satellite {self.satellite_id} is down after a single-event latch-up"
            return (
                f"satellite {self.satellite_id} is down: a single-event latch-up at simulated "
                f"{down.start_s:.1f} s power-cycles its compute module until {down.end_s:.1f} s"
            )
        if cause is Cause.THERMAL:
            return f"satellite {self.satellite_id} is too hot: {state.heat.temperature_c:.1f} degC"
        return f"satellite {self.satellite_id} queue is full ({state.queue_depth} requests)"
