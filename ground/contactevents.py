"""What changed between two views of a station's sky: rises, sets and handovers (pure).

One definition for every reader: a gateway streaming its contacts (``WatchContacts``)
and a load test's observer reading stations' views both call :func:`contact_changes`.
A view lists the satellites in view, highest first: one that appears rose, one that is
gone set, and a new highest satellite is a handover from the previous one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

__all__ = ["ContactChange", "contact_changes"]

#: (kind, satellite, previous highest satellite for a handover, else "")
ContactChange = tuple[Literal["rise", "set", "handover"], str, str]


def contact_changes(before: Sequence[str], now: Sequence[str]) -> list[ContactChange]:
    """Rises and sets (each in id order), then the handover if the highest changed."""
    was, seen = set(before), set(now)
    changes: list[ContactChange] = [("rise", sid, "") for sid in sorted(seen - was)]
    changes += [("set", sid, "") for sid in sorted(was - seen)]
    if before and now and now[0] != before[0]:
        changes.append(("handover", now[0], before[0]))
    return changes
