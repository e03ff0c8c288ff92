"""Validation helpers shared by every table of a scenario file.

A :class:`Checker` collects problems as ``file: field.path: what is wrong`` lines
instead of stopping at the first, so a user can fix a file in one pass.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

__all__ = ["Checker", "describe", "fmt_number", "id_text"]

T = TypeVar("T")
_MISSING = object()


class Checker:
    """Collects problems with their field paths instead of stopping at the first."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[str] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(
            f"{self.source}: {path}: {message}" if path else f"{self.source}: {message}"
        )

    def table(self, value: Any, path: str) -> Mapping[str, Any] | None:
        if not isinstance(value, Mapping):
            self.problem(path, f"must be a table, got {describe(value)}")
            return None
        return value

    def array_of_tables(self, value: Any, path: str) -> list[Mapping[str, Any]]:
        if not isinstance(value, list):
            self.problem(path, f"must be an array of tables ([[{path}]]), got {describe(value)}")
            return []
        out: list[Mapping[str, Any]] = []
        for i, item in enumerate(value):
            checked = self.table(item, f"{path}[{i}]")
            if checked is not None:
                out.append(checked)
        return out

    def unknown_keys(self, table: Mapping[str, Any], allowed: Sequence[str], path: str) -> None:
        for key in table:
            if key not in allowed:
                where = f"{path}.{key}" if path else key
                self.problem(where, f"unknown key (allowed: {', '.join(allowed)})")

    def get(
        self,
        table: Mapping[str, Any],
        key: str,
        path: str,
        convert: Callable[[Any, str], T | None],
        default: Any = _MISSING,
    ) -> T | None:
        where = f"{path}.{key}" if path else key
        if key not in table:
            if default is _MISSING:
                self.problem(where, "is required")
                return None
            return default  # type: ignore[no-any-return]
        return convert(table[key], where)

    # converters ---------------------------------------------------------------------

    def string(self, value: Any, path: str) -> str | None:
        if not isinstance(value, str) or not value.strip():
            self.problem(path, f"must be a non-empty string, got {describe(value)}")
            return None
        return value

    def number(self, value: Any, path: str) -> float | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.problem(path, f"must be a number, got {describe(value)}")
            return None
        if not math.isfinite(value):
            self.problem(path, f"must be finite, got {value}")
            return None
        return float(value)

    def integer(self, value: Any, path: str) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(path, f"must be an integer, got {describe(value)}")
            return None
        return value

    def within(
        self, value: float | None, path: str, low: float, high: float, *, open_low: bool = False
    ) -> float | None:
        if value is None:
            return None
        bad_low = value <= low if open_low else value < low
        if bad_low or value > high:
            lo = "(" if open_low else "["
            bounds = f"{lo}{fmt_number(low)}, {fmt_number(high)}]"
            self.problem(path, f"must be within {bounds}, got {fmt_number(value)}")
            return None
        return value

    def positive(self, value: float | None, path: str) -> float | None:
        if value is not None and value <= 0:
            self.problem(path, f"must be > 0, got {fmt_number(value)}")
            return None
        return value


def describe(value: Any) -> str:
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return f"{type(value).__name__} {value!r}"


def fmt_number(x: float) -> str:
    """A number as the user wrote it, near enough: 200 not 200.0, 90.000001 not 90."""
    if float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    return f"{x:.15g}"


def id_text(value: Any) -> Any:
    """Catalog numbers may be written as TOML integers; ids are strings."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value
