"""Is the emulation under load still there? Judged from what the load test sees (pure).

A load test against an emulation that died would go on sending into closed ports and
report the refusals as if they were the emulation's answers. Three kinds of evidence say
that it is gone, and a :class:`Liveness` judge turns them into one verdict:

- **the stations refuse**: every station under load has answered only UNAVAILABLE
  without an orbitmesh cause (connection refused, a server shutting down) since it last
  answered, and no station has answered for ``quiet_s`` seconds. An answer is a success
  or any failure carrying an orbitmesh cause (a station refusing for ``no-contact`` is
  alive), or any other status from the server; gRPC's own CANCELLED and
  DEADLINE_EXCEEDED say nothing either way (:func:`evidence_of`);
- **the polls fail**: the observer's polls of the emulation's hosts have all failed
  for ``quiet_s`` seconds, and no station answered in that time either (a hung
  emulation, whose requests time out instead of being refused);
- **the endpoints file** the run was started from is removed, or rewritten by another
  run (:meth:`Liveness.gone`): at once.

Times are seconds on one clock of the caller's choosing (the load test uses
``time.perf_counter()``), passed in, so that the judge runs without time passing. The
judge is fed from the load generator's event loop and from a watching thread: its
methods take a lock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Final

__all__ = ["DEAD_AFTER_S", "Death", "Evidence", "Liveness", "evidence_of"]

#: Seconds of refusals (or failing polls) with no answer before the emulation is judged
#: dead: longer than a restarting satellite or gateway is away (about 1.6 s), short
#: enough that a dead run stops before it has sent much into closed ports.
DEAD_AFTER_S: Final = 5.0


class Evidence(Enum):
    ANSWER = "answer"  # the server answered: it is there
    REFUSAL = "refusal"  # UNAVAILABLE without a cause: nobody there, or leaving
    NONE = "none"  # says nothing about the server (gRPC's own CANCELLED, deadline)


#: Status codes that the gRPC library produces on the client's side without a server
#: answering (a deadline that passed, a call gRPC itself gave up on).
_SILENT_CODES: Final = frozenset({"CANCELLED", "DEADLINE_EXCEEDED"})


def evidence_of(code: str, cause: str | None) -> Evidence:
    """What a finished call (its status code name and its orbitmesh cause, None when it
    carried none) says about the station that was asked."""
    if cause is not None or code == "OK":
        return Evidence.ANSWER
    if code == "UNAVAILABLE":
        return Evidence.REFUSAL
    if code in _SILENT_CODES:
        return Evidence.NONE
    return Evidence.ANSWER  # a status from the server itself (RESOURCE_EXHAUSTED, ...)


@dataclass(frozen=True)
class Death:
    """The verdict: the emulation is gone. ``last_seen`` is when it last answered (a
    station or a poll; the start when it never did), ``detected`` when the judge said so."""

    reason: str
    last_seen: float
    detected: float


class Liveness:
    """The judge; ``started`` is when the run began (its check request had been
    answered, so the emulation counts as seen then)."""

    def __init__(
        self, stations: Iterable[str], started: float, quiet_s: float = DEAD_AFTER_S
    ) -> None:
        if not quiet_s > 0:
            raise ValueError(f"quiet_s must be positive, got {quiet_s}")
        self.quiet_s = quiet_s
        self._lock = threading.Lock()
        self._answered = dict.fromkeys(stations, started)
        if not self._answered:
            raise ValueError("no station to watch")
        #: Per station: when it first refused after its last answer (None: it has not).
        self._refusing_since: dict[str, float | None] = dict.fromkeys(self._answered)
        self._polled_ok = started
        self._poll_failed_since: float | None = None
        self._gone: Death | None = None

    def saw(self, station: str, at: float, evidence: Evidence) -> None:
        """A call to ``station`` finished at ``at`` with this evidence."""
        if evidence is Evidence.NONE or station not in self._answered:
            return
        with self._lock:
            if evidence is Evidence.ANSWER:
                self._answered[station] = max(self._answered[station], at)
                self._refusing_since[station] = None
            elif self._refusing_since[station] is None:
                self._refusing_since[station] = at

    def polled(self, at: float, ok: bool) -> None:
        """The observer's polls of the hosts since the last report: some succeeded
        (``ok``) or all failed."""
        with self._lock:
            if ok:
                self._polled_ok = max(self._polled_ok, at)
                self._poll_failed_since = None
            elif self._poll_failed_since is None:
                self._poll_failed_since = at

    def gone(self, at: float, reason: str) -> None:
        """The emulation is known to be gone (its endpoints file says so)."""
        with self._lock:
            if self._gone is None:
                self._gone = Death(reason, self._last_seen(), at)

    def _last_seen(self) -> float:
        return max(*self._answered.values(), self._polled_ok)

    def verdict(self, now: float) -> Death | None:
        """The emulation's death, if the evidence up to ``now`` says it died."""
        with self._lock:
            if self._gone is not None:
                return self._gone
            answered = max(self._answered.values())
            quiet = now - answered >= self.quiet_s
            if quiet and all(since is not None for since in self._refusing_since.values()):
                n = len(self._answered)
                who = "the station under load" if n == 1 else f"all {n} stations under load"
                return Death(
                    f"{who} refused calls (UNAVAILABLE without an orbitmesh cause) and "
                    f"nothing answered for {now - answered:.1f} s",
                    self._last_seen(),
                    now,
                )
            if (
                quiet
                and self._poll_failed_since is not None
                and now - self._polled_ok >= self.quiet_s
            ):
                return Death(
                    f"no station answered and every poll of the emulation's hosts failed "
                    f"for {now - max(answered, self._polled_ok):.1f} s",
                    self._last_seen(),
                    now,
                )
            return None
