"""How far a station's route searches reach, learned from what its requests needed (pure).

A request's satellite is chosen from a search that stops at a one-way delay limit; the
choice is certain when the limit is at least half of what it minimised (see
:func:`~orbitmesh.links.choice.choose_satellite`), else the request searches farther.
The cost of a search grows with the square of its limit: at a million satellites a
search to 20 ms settles a fifth of the constellation (10 ms of CPU) where one to 8 ms
settles a thirtieth (2.6 ms, most of it clearing the arrays). A station whose requests
find a satellite 3 ms away need not search 20 ms every tick.

:class:`SearchReach` keeps the largest need of the last ``window_s`` seconds and answers
a limit with margin above it, rounded up to a whole ``step_ms``, never below ``floor_ms``
(below it a search costs the same) nor above ``ceiling_ms`` (the fixed first limit used
before anything was learned). The steps matter: a host searches its stations' routes
ahead at the limit of that moment, and a request answers from a finished search only if
that search reached at least as far as its own limit. Unrounded, the limit moved with
every request (11.12, 11.50, 11.55 ms ...), and 7% of the requests at a million
satellites missed the search made for them and searched again on their own path
(6-10 ms).
"""

from __future__ import annotations

import math
from collections import deque

__all__ = ["SearchReach"]


class SearchReach:
    """The one-way limit (ms) a source's first search uses, from its recent needs.

    ``needed(ms, now_s)`` records that a request needed routes up to ``ms``;
    ``limit_ms(now_s)`` is ``margin`` times the largest need of the last ``window_s``
    plus ``slack_ms``, rounded up to a multiple of ``step_ms``, within [``floor_ms``,
    ``ceiling_ms``] (the ceiling while nothing was needed recently). Times are any
    monotonic seconds.
    """

    def __init__(
        self,
        ceiling_ms: float,
        *,
        floor_ms: float = 8.0,
        margin: float = 1.5,
        slack_ms: float = 2.0,
        window_s: float = 30.0,
        step_ms: float = 2.0,
    ) -> None:
        if not 0.0 < floor_ms <= ceiling_ms:
            raise ValueError(f"need 0 < floor_ms <= ceiling_ms, got {floor_ms}, {ceiling_ms}")
        if margin < 1.0 or slack_ms < 0.0 or window_s <= 0.0 or step_ms <= 0.0:
            raise ValueError("margin must be >= 1, slack_ms >= 0, window_s and step_ms > 0")
        self.ceiling_ms = ceiling_ms
        self.floor_ms = floor_ms
        self.margin = margin
        self.slack_ms = slack_ms
        self.window_s = window_s
        self.step_ms = step_ms
        # (time, need) with needs decreasing from the front: the front is the window's
        # largest once older entries are dropped (a sliding-window maximum, O(1) a call).
        self._needs: deque[tuple[float, float]] = deque()

    def needed(self, ms: float, now_s: float) -> None:
        needs = self._needs
        while needs and needs[-1][1] <= ms:
            needs.pop()
        needs.append((now_s, ms))

    def largest_need_ms(self, now_s: float) -> float | None:
        needs = self._needs
        while needs and needs[0][0] < now_s - self.window_s:
            needs.popleft()
        return needs[0][1] if needs else None

    def limit_ms(self, now_s: float) -> float:
        need = self.largest_need_ms(now_s)
        if need is None:
            return self.ceiling_ms
        wanted = self.margin * need + self.slack_ms
        stepped = math.ceil(wanted / self.step_ms - 1e-9) * self.step_ms
        return min(self.ceiling_ms, max(self.floor_ms, stepped))

    def limits(self, now_s: float) -> tuple[float | None, ...]:
        """The limits a request tries in turn: the learned one, the ceiling, every route."""
        first = self.limit_ms(now_s)
        return (first, None) if first >= self.ceiling_ms else (first, self.ceiling_ms, None)
