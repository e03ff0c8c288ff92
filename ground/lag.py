"""How late a gateway's replies leave after the instant its model gives them (pure).

Every reply has a modelled instant: its arrival plus the uplink, the satellite's queue
and inference, and the downlink. A gateway waits until then; whatever it answers later
than that (its process was busy, or the satellite took longer than its modelled time)
is lag, the part of the emulation's error a gateway sees itself. A :class:`LagWindow`
keeps the lags of a recent stretch of wall time for ``orbitmesh status`` to show live.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

__all__ = ["LagSummary", "LagWindow"]


@dataclass(frozen=True)
class LagSummary:
    p50_ms: float
    p99_ms: float
    max_ms: float
    samples: int


class LagWindow:
    def __init__(self, window_s: float, max_samples: int = 100_000) -> None:
        self.window_s = window_s
        self._lags: deque[tuple[float, float]] = deque(maxlen=max_samples)

    def observe(self, answered_wall: float, due_wall: float) -> None:
        """A reply answered at ``answered_wall`` that was due at ``due_wall`` (both
        ``time.time()``); an early answer counts as no lag."""
        self._lags.append((answered_wall, max(0.0, answered_wall - due_wall)))

    def summary(self, now_wall: float) -> LagSummary:
        """The lags of replies answered within the last ``window_s`` before ``now_wall``."""
        while self._lags and self._lags[0][0] < now_wall - self.window_s:
            self._lags.popleft()
        if not self._lags:
            return LagSummary(0.0, 0.0, 0.0, 0)
        lags_ms = np.fromiter((lag for _, lag in self._lags), dtype=float) * 1e3
        p50, p99 = np.percentile(lags_ms, [50, 99])
        return LagSummary(float(p50), float(p99), float(lags_ms.max()), len(lags_ms))
