"""A choice of satellites: "all", "none", a list of ids, or every n-th one."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from orbitmesh.checking import Checker, describe, id_text

__all__ = ["Selection", "parse_selection", "selection_mask"]


@dataclass(frozen=True)
class Selection:
    """Which satellites a setting applies to, in catalog order."""

    mode: Literal["all", "list", "every", "none"] = "all"
    ids: tuple[str, ...] = ()
    every: int = 1


def parse_selection(value: Any, path: str, chk: Checker) -> Selection | None:
    if value in ("all", "none"):
        return Selection(mode=value)
    if isinstance(value, list):
        ids: list[str] = []
        for i, item in enumerate(value):
            checked = chk.string(id_text(item), f"{path}[{i}]")
            if checked is not None:
                ids.append(checked)
        if len(set(ids)) != len(ids):
            dup = sorted({x for x in ids if ids.count(x) > 1})
            chk.problem(path, f"lists {', '.join(dup)} more than once")
            return None
        return Selection(mode="list", ids=tuple(ids)) if len(ids) == len(value) else None
    if isinstance(value, Mapping):
        chk.unknown_keys(value, ("every",), path)
        every = chk.get(value, "every", path, chk.integer)
        if every is not None and every < 1:
            chk.problem(f"{path}.every", f"must be at least 1, got {every}")
            return None
        return None if every is None else Selection(mode="every", every=every)
    expected = 'must be "all", "none", a list of satellite ids or { every = N }'
    chk.problem(path, f"{expected}, got {describe(value)}")
    return None


def selection_mask(
    selection: Selection,
    ids: Sequence[str],
    index: Mapping[str, int],
    where: str,
    problems: list[str],
) -> NDArray[np.bool_]:
    """The selected satellites as a mask; unknown ids become problems at ``where[i]``."""
    n = len(ids)
    if selection.mode == "all":
        return np.ones(n, dtype=bool)
    mask = np.zeros(n, dtype=bool)
    if selection.mode == "every":
        mask[:: selection.every] = True
    elif selection.mode == "list":
        for i, sid in enumerate(selection.ids):
            if sid in index:
                mask[index[sid]] = True
            else:
                problems.append(f"{where}[{i}]: no satellite with id {sid!r}")
    return mask
