"""Two- and three-line element sets: strict parsing with line-numbered errors."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sgp4.api import WGS72, Satrec

__all__ = [
    "TleError",
    "TleRecord",
    "catalog_number",
    "parse_tle_text",
    "read_tle_file",
    "tle_checksum",
]

TLE_LINE_LENGTH = 69


class TleError(ValueError):
    """Problems found in a TLE file; ``problems`` holds one ``file:line: message`` each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class TleRecord:
    catalog_id: str  # NORAD catalog number without leading zeros, e.g. "44235"
    name: str  # the name line, or the catalog id when the set has no name line
    line1: str
    line2: str
    line_number: int  # 1-based line of line1 in its file

    def satrec(self) -> Satrec:
        return Satrec.twoline2rv(self.line1, self.line2, WGS72)


def tle_checksum(line: str) -> int:
    """The modulo-10 checksum of columns 1-68: digits count their value, '-' counts 1."""
    total = 0
    for ch in line[:68]:
        if ch.isdigit():
            total += int(ch)
        elif ch == "-":
            total += 1
    return total % 10


def catalog_number(field: str) -> str | None:
    """Columns 3-7; digits, or Alpha-5 (a capital letter standing for 10..33, skipping I
    and O, then four digits). None if the field is neither."""
    field = field.strip()
    if field.isascii() and field.isdigit():
        return str(int(field))
    letter = field[:1]
    if len(field) == 5 and "A" <= letter <= "Z" and letter not in "IO" and field[1:].isdigit():
        value = ord(letter) - ord("A") + 10
        value -= (letter > "I") + (letter > "O")  # Alpha-5 skips I and O
        return str(value * 10_000 + int(field[1:]))
    return None


def _check_line(line: str, expected: str, where: str, problems: list[str]) -> bool:
    if len(line) != TLE_LINE_LENGTH:
        problems.append(
            f"{where}: TLE line {expected} must be {TLE_LINE_LENGTH} characters, got {len(line)}"
        )
        return False
    if not line[68].isdigit():
        problems.append(f"{where}: TLE line {expected} ends in {line[68]!r}, not a checksum digit")
        return False
    want = tle_checksum(line)
    if int(line[68]) != want:
        problems.append(
            f"{where}: bad checksum on TLE line {expected} (computed {want}, line says {line[68]})"
        )
        return False
    return True


def parse_tle_text(text: str, source: str) -> list[TleRecord]:
    """Parse 2-line or 3-line element sets; raises TleError listing every bad record."""
    lines = [(i + 1, raw.rstrip()) for i, raw in enumerate(text.splitlines())]
    lines = [(n, s) for n, s in lines if s.strip()]
    records: list[TleRecord] = []
    problems: list[str] = []
    i = 0
    while i < len(lines):
        number, line = lines[i]
        name: str | None = None
        if not line.startswith("1 "):
            if line.startswith("2 "):
                problems.append(f"{source}:{number}: TLE line 2 without a line 1 before it")
                i += 1
                continue
            name = line[2:].strip() if line.startswith("0 ") else line.strip()
            i += 1
            if i >= len(lines):
                problems.append(f"{source}:{number}: name line {name!r} is not followed by a TLE")
                break
            number, line = lines[i]
        if not line.startswith("1 ") or i + 1 >= len(lines) or not lines[i + 1][1].startswith("2 "):
            problems.append(f"{source}:{number}: expected TLE line 1 followed by line 2")
            i += 1
            continue
        number2, line2 = lines[i + 1]
        i += 2
        ok1 = _check_line(line, "1", f"{source}:{number}", problems)
        ok2 = _check_line(line2, "2", f"{source}:{number2}", problems)
        if not (ok1 and ok2):
            continue
        cat1, cat2 = catalog_number(line[2:7]), catalog_number(line2[2:7])
        if cat1 is None or cat1 != cat2:
            problems.append(
                f"{source}:{number}: catalog numbers of lines 1 and 2 differ or are invalid"
            )
            continue
        record = TleRecord(
            catalog_id=cat1, name=name or cat1, line1=line, line2=line2, line_number=number
        )
        try:
            sat = record.satrec()
        except (ValueError, IndexError) as exc:  # sgp4 rejects malformed numeric fields
            problems.append(f"{source}:{number}: cannot read elements: {exc}")
            continue
        if sat.error:
            problems.append(
                f"{source}:{number}: SGP4 rejects the elements (error code {sat.error})"
            )
            continue
        records.append(record)
    if problems:
        raise TleError(problems)
    if not records:
        raise TleError([f"{source}: contains no TLE"])
    return records


def read_tle_file(path: Path) -> list[TleRecord]:
    try:
        text = path.read_text(encoding="ascii", errors="strict")
    except UnicodeDecodeError as exc:
        raise TleError(
            [f"{path}: not an ASCII TLE file ({exc.reason} at byte {exc.start})"]
        ) from None
    except OSError as exc:
        raise TleError([f"{path}: cannot read: {exc.strerror}"]) from None
    return parse_tle_text(text, str(path))
