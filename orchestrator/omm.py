"""CCSDS Orbit Mean-Elements Messages (OMM) as CelesTrak serves them: JSON, XML or CSV.

A file holds records of SGP4 mean elements under the CCSDS field names; sgp4's own OMM
support reads XML and CSV and turns a checked record into a Satrec (JSON is a list of
objects with the same keys). Every record is checked before sgp4 sees it, and every
problem is reported at once, one line each: ``file: record N (OBJECT_NAME): FIELD: what
is wrong``, records counted from 1 in file order.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, NamedTuple

from sgp4.api import Satrec
from sgp4.omm import initialize, parse_csv, parse_xml

from orbitmesh.checking import describe, exact_number
from orbitmesh.constants import SECONDS_PER_DAY, WGS72_MU_KM3_PER_S2, WGS72_RADIUS_KM

__all__ = [
    "MAX_CATALOG_NUMBER",
    "MAX_MEAN_MOTION_REV_PER_DAY",
    "OMM_FORMATS",
    "OmmError",
    "OmmFormat",
    "OmmRecord",
    "parse_omm",
    "read_omm_file",
]

OmmFormat = Literal["json", "xml", "csv"]
#: The format of a file, chosen by its extension (case does not matter).
OMM_FORMATS: dict[str, OmmFormat] = {".json": "json", ".xml": "xml", ".csv": "csv"}

#: Catalogue numbers run to nine digits (the 18th Space Defense Squadron's plan for the
#: catalogue beyond Alpha-5's 339999); OMM writes them in full.
MAX_CATALOG_NUMBER = 999_999_999
#: sgp4 keeps a record's number in Alpha-5, which ends at 339999 ("Z9999").
_SGP4_MAX_SATNUM = 339_999
#: A circular orbit at the Earth's equatorial radius (WGS72, as SGP4) makes about this
#: many revolutions a day (17.04, rounded down): any faster orbit passes inside the Earth.
MAX_MEAN_MOTION_REV_PER_DAY = round(
    math.sqrt(WGS72_MU_KM3_PER_S2 / WGS72_RADIUS_KM**3) * SECONDS_PER_DAY / (2 * math.pi), 2
)
_EPOCH_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"  # the form sgp4.omm.initialize parses
_INTEGER = re.compile(r"[+-]?[0-9]+")  # not int()'s "1_000" or other scripts' digits


class OmmError(ValueError):
    """Problems found in an OMM file; ``problems`` holds one line each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class OmmRecord:
    catalog_id: str  # NORAD_CAT_ID as text, as TleRecord's: "44235", "270000001"
    name: str  # OBJECT_NAME
    #: The fields sgp4.omm.initialize reads, checked, as text (numbers round-trip exactly).
    fields: Mapping[str, str]
    index: int  # 1-based record in its file

    def satrec(self) -> Satrec:
        fields = dict(self.fields)
        if int(fields["NORAD_CAT_ID"]) > _SGP4_MAX_SATNUM:
            # The number only labels sgp4's record; the catalog id carries it in full.
            fields["NORAD_CAT_ID"] = "0"
        sat = Satrec()
        initialize(sat, fields)
        return sat


class _Range(NamedTuple):
    low: float
    high: float
    open_low: bool = False
    open_high: bool = False

    def holds(self, x: float) -> bool:
        above = x > self.low if self.open_low else x >= self.low
        below = x < self.high if self.open_high else x <= self.high
        return above and below

    def __str__(self) -> str:
        lo = "(" if self.open_low else "["
        hi = ")" if self.open_high else "]"
        return f"{lo}{exact_number(self.low)}, {exact_number(self.high)}{hi}"


#: Mean elements (degrees, revolutions per day) and drag terms, and where each must lie
#: (None: any finite number; angles of any size describe an orbit).
_ELEMENTS: dict[str, _Range | None] = {
    "MEAN_MOTION": _Range(0.0, MAX_MEAN_MOTION_REV_PER_DAY, open_low=True),
    "ECCENTRICITY": _Range(0.0, 1.0, open_high=True),
    "INCLINATION": _Range(0.0, 180.0),
    "RA_OF_ASC_NODE": None,
    "ARG_OF_PERICENTER": None,
    "MEAN_ANOMALY": None,
    "BSTAR": None,
    "MEAN_MOTION_DOT": None,
    "MEAN_MOTION_DDOT": None,
}
_REQUIRED = ("OBJECT_NAME", "OBJECT_ID", "NORAD_CAT_ID", "EPOCH", *_ELEMENTS)
#: Bookkeeping sgp4 stores but does not propagate with; CCSDS makes them optional and
#: gives these defaults.
_OPTIONAL_DEFAULTS = {
    "CLASSIFICATION_TYPE": "U",
    "EPHEMERIS_TYPE": "0",
    "ELEMENT_SET_NO": "999",
    "REV_AT_EPOCH": "0",
}
#: 0 is what every distributed set carries, 2 is SGP4 and 3 its deep-space branch (SDP4);
#: others mark elements of other theories (4: SGP4-XP), which SGP4 would misread.
_SGP4_EPHEMERIS_TYPES = (0, 2, 3)
#: Metadata that is optional, but must say SGP4's frame and time when present.
_METADATA = {
    "CENTER_NAME": "EARTH",
    "REF_FRAME": "TEME",
    "TIME_SYSTEM": "UTC",
    "MEAN_ELEMENT_THEORY": "SGP4",
}


def _present(raw: Mapping[str | None, object], key: str) -> object | None:
    """A field's value, or None where it is absent, null or blank (JSON's null, an empty
    XML element or CSV cell)."""
    value = raw.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return value.strip() if isinstance(value, str) else value


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        x = float(value)
    except (ValueError, OverflowError):  # OverflowError: a JSON integer past float's range
        return None
    return x if math.isfinite(x) else None


def _integer(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value):
        return int(value)
    return None


def _epoch(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
        # OMM epochs are UTC (TIME_SYSTEM says so where present); a time without a zone
        # is read as UTC.
        return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: before year 1 in UTC
        return None


def _check_record(
    raw: Mapping[str | None, object], where: str, problems: list[str]
) -> dict[str, str] | None:
    """The fields sgp4 reads, as text, or None after adding this record's problems."""
    count = len(problems)

    def bad(key: str, message: str) -> None:
        problems.append(f"{where}: {key}: {message}")

    fields: dict[str, str] = {}
    for key in _REQUIRED:
        if _present(raw, key) is None:
            bad(key, "is missing")
    for key in ("OBJECT_NAME", "OBJECT_ID"):
        text = _present(raw, key)
        if text is not None and not isinstance(text, str):
            bad(key, f"must be text, got {describe(text)}")
        elif text is not None:
            fields[key] = str(text)
    for key, expected in _METADATA.items():
        meta = _present(raw, key)
        if meta is not None and (not isinstance(meta, str) or meta.upper() != expected):
            bad(key, f"must be {expected} (SGP4's), got {describe(meta)}")

    number = _present(raw, "NORAD_CAT_ID")
    if number is not None:
        catalog = _integer(number)
        if catalog is None:
            bad(
                "NORAD_CAT_ID",
                f"must be an integer (OMM writes catalogue numbers in full, not in Alpha-5), "
                f"got {describe(number)}",
            )
        elif not 0 <= catalog <= MAX_CATALOG_NUMBER:
            bad("NORAD_CAT_ID", f"must be within [0, {MAX_CATALOG_NUMBER}], got {catalog}")
        else:
            fields["NORAD_CAT_ID"] = str(catalog)

    stamp = _present(raw, "EPOCH")
    if stamp is not None:
        epoch = _epoch(stamp)
        if epoch is None:
            bad(
                "EPOCH",
                f"must be an ISO 8601 time such as 2020-02-01T09:46:52.291104, got "
                f"{describe(stamp)}",
            )
        else:
            fields["EPOCH"] = epoch.strftime(_EPOCH_FORMAT)

    for key, bounds in _ELEMENTS.items():
        value = _present(raw, key)
        if value is None:
            continue
        x = _number(value)
        if x is None:
            bad(key, f"must be a finite number, got {describe(value)}")
        elif bounds is not None and not bounds.holds(x):
            bad(key, f"must be within {bounds}, got {exact_number(x)}")
        else:
            fields[key] = repr(x)

    for key, default in _OPTIONAL_DEFAULTS.items():
        value = _present(raw, key)
        if value is None:
            fields[key] = default
        elif key == "CLASSIFICATION_TYPE":
            if isinstance(value, str) and len(value) == 1 and value.isascii() and value.isalpha():
                fields[key] = value
            else:
                bad(key, f"must be one letter (U: unclassified), got {describe(value)}")
        else:
            whole = _integer(value)
            if key == "EPHEMERIS_TYPE" and whole not in _SGP4_EPHEMERIS_TYPES:
                allowed = ", ".join(str(t) for t in _SGP4_EPHEMERIS_TYPES)
                bad(key, f"must be one of {allowed} (SGP4 elements), got {describe(value)}")
            elif whole is None or not 0 <= whole <= MAX_CATALOG_NUMBER:
                bad(
                    key,
                    f"must be an integer within [0, {MAX_CATALOG_NUMBER}], got {describe(value)}",
                )
            else:
                fields[key] = str(whole)
    return fields if len(problems) == count else None


def _label(index: int, raw: Mapping[str | None, object]) -> str:
    name = _present(raw, "OBJECT_NAME")
    return f"record {index} ({name})" if isinstance(name, str) else f"record {index}"


def _json_records(
    data: bytes, source: str, problems: list[str]
) -> list[tuple[int, Mapping[str | None, object]]]:
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise OmmError(
            [f"{source}: not OMM JSON: not UTF-8 ({exc.reason} at byte {exc.start})"]
        ) from None
    except json.JSONDecodeError as exc:
        raise OmmError(
            [f"{source}: not OMM JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"]
        ) from None
    except RecursionError:
        raise OmmError([f"{source}: not OMM JSON: nested too deeply"]) from None
    if not isinstance(doc, list):
        got = "an object" if isinstance(doc, dict) else describe(doc)
        raise OmmError([f"{source}: not OMM JSON: must be a list of objects, got {got}"])
    records: list[tuple[int, Mapping[str | None, object]]] = []
    for index, item in enumerate(doc, start=1):
        if isinstance(item, dict):
            records.append((index, item))
        else:
            problems.append(f"{source}: record {index}: must be an object, got {describe(item)}")
    return records


def _xml_records(
    data: bytes, source: str, problems: list[str]
) -> list[tuple[int, Mapping[str | None, object]]]:
    records: list[tuple[int, Mapping[str | None, object]]] = []
    try:
        for index, fields in enumerate(parse_xml(io.BytesIO(data)), start=1):
            records.append((index, fields))
    except ET.ParseError as exc:
        raise OmmError([f"{source}: not OMM XML: {exc}"]) from None
    except (AttributeError, TypeError):
        # sgp4 reads each <segment> as <metadata> and <data> holding <meanElements> and
        # <tleParameters>; it stops at the first segment that lacks one.
        problems.append(
            f"{source}: record {len(records) + 1}: its <segment> lacks <metadata>, "
            "<data><meanElements> or <data><tleParameters>"
        )
    return records


def _csv_records(
    data: bytes, source: str, problems: list[str]
) -> list[tuple[int, Mapping[str | None, object]]]:
    try:
        reader = parse_csv(io.StringIO(data.decode("utf-8-sig"), newline=""))
        header = reader.fieldnames or []
        rows = list(reader)
    except UnicodeDecodeError as exc:
        raise OmmError(
            [f"{source}: not OMM CSV: not UTF-8 ({exc.reason} at byte {exc.start})"]
        ) from None
    except csv.Error as exc:
        raise OmmError([f"{source}: not OMM CSV: {exc}"]) from None
    lacking = [key for key in _REQUIRED if key not in header]
    if header and lacking:
        # One line for the file, not one per record for each missing column.
        raise OmmError([f"{source}: not OMM CSV: its header lacks {', '.join(lacking)}"])
    records: list[tuple[int, Mapping[str | None, object]]] = []
    for index, row in enumerate(rows, start=1):
        # DictReader files a longer row's extra cells under None and fills a shorter
        # one's missing cells with None.
        extra = len(row.get(None) or [])
        short = sum(value is None for value in row.values())
        if extra or short:
            cells = len(header) + extra - short
            problems.append(
                f"{source}: {_label(index, row)}: has {cells} cells, the header {len(header)}"
            )
        else:
            records.append((index, row))
    return records


_READERS = {"json": _json_records, "xml": _xml_records, "csv": _csv_records}


def parse_omm(data: bytes, fmt: OmmFormat, source: str) -> list[OmmRecord]:
    """Read and check an OMM file's bytes; raises OmmError listing every problem."""
    problems: list[str] = []
    raw_records = _READERS[fmt](data, source, problems)
    records: list[OmmRecord] = []
    first_of: dict[int, str] = {}  # the label of the first record with each number
    for index, raw in raw_records:
        label = _label(index, raw)
        where = f"{source}: {label}"
        fields = _check_record(raw, where, problems)
        number = _integer(_present(raw, "NORAD_CAT_ID"))
        if number is not None and first_of.setdefault(number, label) != label:
            problems.append(f"{where}: NORAD_CAT_ID: {number} is {first_of[number]}'s too")
            continue
        if fields is None:
            continue
        record = OmmRecord(
            catalog_id=fields["NORAD_CAT_ID"],
            name=fields["OBJECT_NAME"],
            fields=fields,
            index=index,
        )
        try:
            sat = record.satrec()
        except (ValueError, TypeError, OverflowError) as exc:  # what sgp4 refuses to store
            problems.append(f"{where}: cannot read elements: {exc}")
            continue
        if sat.error:
            problems.append(f"{where}: SGP4 rejects the elements (error code {sat.error})")
            continue
        records.append(record)
    if problems:
        raise OmmError(problems)
    if not records:
        raise OmmError([f"{source}: contains no OMM record"])
    return records


def read_omm_file(path: Path) -> list[OmmRecord]:
    """Read an OMM file in the format its extension names (.json, .xml or .csv)."""
    fmt = OMM_FORMATS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(OMM_FORMATS)
        raise OmmError(
            [
                f"{path}: unknown OMM format: the file name must end in {known} (the extension "
                "chooses the format)"
            ]
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise OmmError([f"{path}: cannot read: {exc.strerror}"]) from None
    return parse_omm(data, fmt, str(path))
