"""Validation, one style for the whole project: problems are collected, each with its
field path, instead of stopping at the first, so a user can fix a file in one pass.

:class:`Checker` reads a scenario file's raw tables (types, tables, unknown keys) into
``file: field.path: what is wrong`` lines; :class:`ParamChecker` checks the values of one
parameter dataclass (power, thermal, links), whose own ``validate`` knows the relations
between its fields, and yields :class:`ParamProblem` s the scenario reader files under
its path.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, TypeVar

__all__ = ["Checker", "ParamChecker", "ParamProblem", "describe", "exact_number", "id_text"]

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

    def boolean(self, value: Any, path: str) -> bool | None:
        if not isinstance(value, bool):
            self.problem(path, f"must be true or false, got {describe(value)}")
            return None
        return value

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
            bounds = f"{lo}{exact_number(low)}, {exact_number(high)}]"
            self.problem(path, f"must be within {bounds}, got {exact_number(value)}")
            return None
        return value

    def positive(self, value: float | None, path: str) -> float | None:
        if value is not None and value <= 0:
            self.problem(path, f"must be > 0, got {exact_number(value)}")
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


def exact_number(x: float) -> str:
    """A number as the user wrote it, near enough: 200 not 200.0, 90.000001 not 90."""
    if float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    return f"{x:.15g}"


def id_text(value: Any) -> Any:
    """Catalog numbers may be written as TOML integers; ids are strings."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class ParamProblem(NamedTuple):
    """One problem with a parameter: its field path (``power.reserve_soc``) and message."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class ParamChecker:
    """Collects :class:`ParamProblem` s for the fields of one parameter table."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.problems: list[ParamProblem] = []

    def where(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def problem(self, name: str, message: str) -> None:
        self.problems.append(ParamProblem(self.where(name), message))

    def finite(self, name: str, value: object) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.problem(name, f"must be a number, got {describe(value)}")
            return False
        if not math.isfinite(value):
            self.problem(name, f"must be finite, got {value}")
            return False
        return True

    def positive(self, name: str, value: float) -> None:
        if self.finite(name, value) and value <= 0:
            self.problem(name, f"must be > 0, got {exact_number(value)}")

    def non_negative(self, name: str, value: float) -> None:
        if self.finite(name, value) and value < 0:
            self.problem(name, f"must be >= 0, got {exact_number(value)}")

    def within(
        self,
        name: str,
        value: float,
        low: float,
        high: float,
        *,
        open_low: bool = False,
        open_high: bool = False,
    ) -> bool:
        if not self.finite(name, value):
            return False
        if (value <= low if open_low else value < low) or (
            value >= high if open_high else value > high
        ):
            lo, hi = "(" if open_low else "[", ")" if open_high else "]"
            self.problem(
                name,
                f"must be within {lo}{exact_number(low)}, {exact_number(high)}{hi}, "
                f"got {exact_number(value)}",
            )
            return False
        return True

    def integer(self, name: str, value: object, *, optional: bool = False) -> bool:
        """An int (not a bool); None too when ``optional``."""
        if optional and value is None:
            return False
        if isinstance(value, bool) or not isinstance(value, int):
            absent = " or absent" if optional else ""
            self.problem(name, f"must be an integer{absent}, got {describe(value)}")
            return False
        return True
