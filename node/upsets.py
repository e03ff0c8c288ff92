"""What radiation has done to one satellite by now: its upsets, latch-ups and dose (pure).

:mod:`orbitmesh.node.radiation` draws a satellite's events along its track;
:class:`SatelliteRadiation` replays them in simulated time and keeps their effects:

- a **weight upset** strikes one parameter tensor of one of the satellite's models (chosen
  in proportion to the tensors' bits) and stays until a reset or a scrub; the bit it
  flips is drawn when the satellite builds its own copy of the model
  (:func:`flip_weights`);
- an **output upset** waits for the next output the satellite produces, which then
  carries the flip (:func:`flip_outputs`);
- a **latch-up** powers the compute module off for ``latchup_down_s``: it refuses work
  and comes back with its weights reloaded. Upsets that strike while it is off are
  counted but change nothing (the memory is reloaded at power-on);
- a **scrub** every ``scrub_interval_s`` (from the scenario start) rewrites the weights
  from a clean copy;
- a **reboot** (a fault) clears the output buffers; a cold one also reloads the weights;
- the **dose** accumulates along the track.

Everything is a function of the events up to now and of the reboots so far, so the
history replays exactly on a new clock (:meth:`SatelliteRadiation.rewind`). Which element
and bit an upset flips comes from the event's own generator: the same seed flips the
same bits at the same simulated times. Nothing here imports ONNX, gRPC or Ray.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from orbitmesh.node.ephemeris import Ephemeris
from orbitmesh.node.radiation import (
    DoseMeter,
    RadiationEvent,
    RadiationEventKind,
    RadiationParams,
    Track,
    flip_bits,
    radiation_events,
)

__all__ = [
    "LatchUp",
    "OutputFlip",
    "SatelliteRadiation",
    "UpsetCounts",
    "WeightFlip",
    "WeightTensor",
    "WeightUpset",
    "array_bits",
    "flip_outputs",
    "flip_weights",
]


_KINDS: tuple[RadiationEventKind, ...] = ("weight-upset", "output-upset", "latch-up")


@dataclass(frozen=True, slots=True)
class WeightTensor:
    """One parameter tensor of a model that upsets can strike, and its size in bits."""

    model: str
    name: str
    bits: int


@dataclass(frozen=True, slots=True)
class WeightUpset:
    """A weight upset that struck tensor ``tensor`` of ``model``; ``total_bits`` is the
    satellite's weight bits it was drawn among (the draw is repeated to reach the bit)."""

    event: RadiationEvent
    model: str
    tensor: str
    total_bits: int

    def generator(self) -> np.random.Generator:
        """The event's generator, past the draw that chose the tensor."""
        rng = self.event.generator()
        rng.integers(self.total_bits)
        return rng


@dataclass(frozen=True, slots=True)
class WeightFlip:
    """A flipped weight bit: the tensor, the element's flat index, the bit (0 = least
    significant)."""

    tensor: str
    index: int
    bit: int


@dataclass(frozen=True, slots=True)
class OutputFlip:
    """A flipped output bit: the output's name, the element's flat index, the bit."""

    output: str
    index: int
    bit: int

    def as_json(self) -> dict[str, object]:
        return {"output": self.output, "index": self.index, "bit": self.bit}


@dataclass(frozen=True, slots=True)
class LatchUp:
    """A latch-up's power cycle: the compute module is off in [start_s, end_s)."""

    start_s: float
    end_s: float


@dataclass(frozen=True, slots=True)
class UpsetCounts:
    """What radiation did to a satellite from the scenario start to ``offset_s``."""

    offset_s: float
    weight_upsets: int = 0
    output_upsets: int = 0
    latchups: int = 0
    dose_rad: float = 0.0
    #: Weight upsets still in effect (since the last reset or scrub).
    weight_upsets_now: int = 0
    #: The compute module is off after a latch-up.
    latched_up: bool = False


def array_bits(array: NDArray[Any]) -> int:
    """Bits an upset can flip in ``array``: none in an object array (it holds pointers)."""
    return 0 if array.dtype.hasobject else int(array.size) * array.dtype.itemsize * 8


def _pick(rng: np.random.Generator, cumulative_bits: NDArray[np.int64]) -> int:
    """Which of several arrays a uniformly drawn bit falls in (``cumulative_bits``: the
    running total of their sizes)."""
    position = int(rng.integers(int(cumulative_bits[-1])))
    return int(np.searchsorted(cumulative_bits, position, side="right"))


@dataclass
class _Effects:
    """What the events so far have left on the satellite."""

    struck: dict[str, list[WeightUpset]] = field(default_factory=dict)
    pending_outputs: list[RadiationEvent] = field(default_factory=list)
    down: LatchUp | None = None
    weight_upsets: int = 0
    output_upsets: int = 0
    latchups: int = 0


class SatelliteRadiation:
    """One satellite's upsets, latch-ups and dose, replayed in simulated time.

    ``weights`` are its models' parameter tensors and ``output_bits`` the bits of its
    output buffers (the rates are per bit). Times are simulated seconds since the
    scenario start; the satellite passes its clock's reading to each call, and time
    only moves forward (:meth:`rewind` starts the replay again).
    """

    def __init__(
        self,
        params: RadiationParams,
        ephemeris: Ephemeris,
        *,
        satellite_id: str,
        weights: Sequence[WeightTensor],
        output_bits: int,
    ) -> None:
        self.params = params
        self.satellite_id = satellite_id
        self.weights = tuple(w for w in weights if w.bits > 0)
        self._cumulative_bits = np.cumsum([w.bits for w in self.weights], dtype=np.int64)
        weight_bits = int(self._cumulative_bits[-1]) if len(self.weights) else 0
        track = Track.from_ephemeris(ephemeris)
        events = radiation_events(
            params,
            track,
            satellite_id=satellite_id,
            weight_bits=weight_bits,
            output_bits=output_bits,
        )
        # Kept as three arrays (17 bytes an event, not a few hundred as objects): a high
        # rate_scale over a long run draws millions. An event is rebuilt when applied;
        # its key is its kind's stream and its place in it.
        count = len(events)
        self._times_s = np.fromiter((e.time_s for e in events), np.float64, count)
        self._kinds = np.fromiter((_KINDS.index(e.kind) for e in events), np.int8, count)
        self._draws = np.fromiter((e.key[-1] for e in events), np.int64, count)
        self._streams = {e.kind: e.key[:-1] for e in events}
        del events
        self._dose = DoseMeter(params, track)

        #: Reboots so far: (simulated time, whether the weights were reloaded).
        self._reboots: list[tuple[float, bool]] = []
        self.rewind()

    def rewind(self) -> None:
        """Forget every effect: the replay starts again from the first event, the
        reboots kept (a satellite whose simulated clock starts over)."""
        self._cursor = 0
        self._reboot_cursor = 0
        self._t_s = -math.inf
        self._effects = _Effects()
        self._next_scrub_s = self.params.scrub_interval_s or math.inf

    # ------------------------------------------------------------------ time

    def advance(self, now_s: float) -> None:
        """Apply every event and scrub up to ``now_s`` (included)."""
        if now_s <= self._t_s:
            return
        due = int(np.searchsorted(self._times_s, now_s, side="right"))
        while self._cursor < due:
            event = self._event(self._cursor)
            # In the order they happened live: a reboot at an event's instant came
            # after it (it was asked for once the event had been applied).
            self._reboot_before(event.time_s, inclusive=False)
            self._scrub_until(event.time_s)
            self._apply(event)
            self._cursor += 1
        self._reboot_before(now_s, inclusive=True)
        self._scrub_until(now_s)
        self._t_s = now_s

    def _event(self, i: int) -> RadiationEvent:
        kind = _KINDS[int(self._kinds[i])]
        key = (*self._streams[kind], int(self._draws[i]))
        return RadiationEvent(float(self._times_s[i]), kind, key)

    def _reboot_before(self, t_s: float, *, inclusive: bool) -> None:
        reboots = self._reboots
        while self._reboot_cursor < len(reboots):
            at_s, cold = reboots[self._reboot_cursor]
            if at_s > t_s or (at_s == t_s and not inclusive):
                return
            self._effects.pending_outputs.clear()
            if cold:
                self._effects.struck.clear()
            self._reboot_cursor += 1

    def _scrub_until(self, t_s: float) -> None:
        interval = self.params.scrub_interval_s
        if interval is None or self._next_scrub_s > t_s:
            return
        self._effects.struck.clear()
        # The scrubs in between found nothing new to clean: only the next one matters.
        self._next_scrub_s = (math.floor(t_s / interval) + 1.0) * interval

    def _apply(self, event: RadiationEvent) -> None:
        fx = self._effects
        off = fx.down is not None and fx.down.start_s <= event.time_s < fx.down.end_s
        if event.kind == "weight-upset":
            fx.weight_upsets += 1
            if not off:
                rng = event.generator()
                tensor = self.weights[_pick(rng, self._cumulative_bits)]
                total = int(self._cumulative_bits[-1])
                upset = WeightUpset(event, tensor.model, tensor.name, total)
                fx.struck.setdefault(tensor.model, []).append(upset)
        elif event.kind == "output-upset":
            fx.output_upsets += 1
            if not off:
                fx.pending_outputs.append(event)
        else:
            fx.latchups += 1
            # A latch-up while off keeps the module off for a full cycle from then.
            start = fx.down.start_s if off and fx.down is not None else event.time_s
            fx.down = LatchUp(start, event.time_s + self.params.latchup_down_s)
            self._clear()

    def _clear(self) -> None:
        self._effects.struck.clear()
        self._effects.pending_outputs.clear()

    def reboot(self, now_s: float, *, cold: bool) -> None:
        """The satellite rebooted (a fault): its output buffers start empty, and a cold
        reboot reloads its weights, so the upsets so far are gone."""
        self.advance(now_s)
        self._reboots.append((max(now_s, self._t_s), cold))
        self._reboot_before(self._t_s, inclusive=True)

    # ------------------------------------------------------------------ effects

    def latched_up(self, now_s: float) -> LatchUp | None:
        """The latch-up the compute module is off for at ``now_s``, if any."""
        self.advance(now_s)
        down = self._effects.down
        return down if down is not None and down.start_s <= now_s < down.end_s else None

    def weight_upsets(self, model: str) -> tuple[WeightUpset, ...]:
        """Upsets in effect on ``model``'s weights (as of the last :meth:`advance`)."""
        return tuple(self._effects.struck.get(model, ()))

    def take_output_upsets(self, now_s: float) -> list[RadiationEvent]:
        """Output upsets up to ``now_s`` that no output has carried yet; the caller's
        output carries them."""
        self.advance(now_s)
        pending = self._effects.pending_outputs
        taken, pending[:] = list(pending), []
        return taken

    def counts(self, now_s: float) -> UpsetCounts:
        self.advance(now_s)
        fx = self._effects
        return UpsetCounts(
            offset_s=now_s,
            weight_upsets=fx.weight_upsets,
            output_upsets=fx.output_upsets,
            latchups=fx.latchups,
            dose_rad=self._dose.dose_rad(now_s),
            weight_upsets_now=sum(len(u) for u in fx.struck.values()),
            latched_up=fx.down is not None and fx.down.start_s <= now_s < fx.down.end_s,
        )


# --------------------------------------------------------------------------- flipping


def flip_weights(
    arrays: Mapping[str, NDArray[Any]], upsets: Sequence[WeightUpset]
) -> list[WeightFlip]:
    """Flip the bit of each upset in ``arrays`` (a model's parameter tensors by name,
    writeable copies) in place; returns which."""
    flips = []
    for upset in upsets:
        array = arrays[upset.tensor]
        (flip,) = flip_bits(array, upset.generator(), 1)
        flips.append(WeightFlip(upset.tensor, flip.index, flip.bit))
    return flips


def flip_outputs(
    outputs: Mapping[str, NDArray[Any]], events: Sequence[RadiationEvent]
) -> tuple[dict[str, NDArray[Any]], list[OutputFlip]]:
    """The outputs with one bit flipped per output-upset event (the output chosen in
    proportion to its bits, then the bit within it), and which bits. Outputs that are
    struck are copied first; the others are returned as they came."""
    result = dict(outputs)
    names = [name for name, array in outputs.items() if array_bits(array) > 0]
    if not events or not names:
        return result, []
    cumulative = np.cumsum([array_bits(outputs[n]) for n in names], dtype=np.int64)
    copied: set[str] = set()
    flips = []
    for event in events:
        rng = event.generator()
        name = names[_pick(rng, cumulative)]
        if name not in copied:
            result[name] = np.array(result[name], copy=True, order="C")
            copied.add(name)
        (flip,) = flip_bits(result[name], rng, 1)
        flips.append(OutputFlip(name, flip.index, flip.bit))
    return result, flips
