"""A dependency-free progress bar for long computations (stderr, TTY only)."""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TextIO

__all__ = ["ProgressBar"]


class ProgressBar:
    """``with ProgressBar("contacts") as bar: bar(done, total)``.

    Draws only when the stream is a terminal, so pipes and CI logs stay clean, and
    redraws at most ten times a second so that it never costs measurable time.
    """

    def __init__(
        self, label: str, *, unit: str = "s", stream: TextIO | None = None, width: int = 30
    ) -> None:
        self.label = label
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self._started = time.monotonic()
        self._last_draw = 0.0
        self._drawn = False

    def __call__(self, done: float, total: float) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last_draw < 0.1 and done < total:
            return
        self._last_draw = now
        frac = 0.0 if total <= 0 else min(1.0, max(0.0, done / total))
        filled = round(frac * self.width)
        elapsed = now - self._started
        eta = elapsed / frac - elapsed if frac > 0 else float("nan")
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(
            f"\r{self.label} [{bar}] {frac * 100:5.1f}% {done:,.0f}/{total:,.0f} {self.unit}"
            f"  {elapsed:5.1f}s elapsed, {eta:5.1f}s left "
        )
        self.stream.flush()
        self._drawn = True

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
