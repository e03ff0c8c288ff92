"""OMM sources in scenarios: JSON, XML and CSV written here from real TLE text, checked
against skyfield propagating the original TLE lines; large catalogue numbers; every
validation problem's one line."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import tle_path
from skyfield.api import EarthSatellite
from skyfield.framelib import itrs
from skyfield.timelib import Timescale

from orbitmesh.orchestrator import GeometryEngine
from orbitmesh.orchestrator.catalog import build_catalog
from orbitmesh.orchestrator.omm import OmmError, parse_omm, read_omm_file
from orbitmesh.orchestrator.scenario import ScenarioError, load_scenario
from orbitmesh.orchestrator.tle import tle_checksum

ONEWEB = "oneweb-2020-02-01.tle"
STARLINK = "starlink-2020-02-01.tle"
START = datetime(2020, 2, 1, 12)
OFFSETS_S = np.array([0.0, 437.5, 1800.0, 3333.3, 7000.0])
HEAD = 'name = "t"\n[time]\nstart = "2020-02-01T12:00:00Z"\nduration_s = 7200\n'

#: CelesTrak's OMM fields in the order of its CSV columns.
CSV_COLUMNS = (
    "OBJECT_NAME",
    "OBJECT_ID",
    "EPOCH",
    "MEAN_MOTION",
    "ECCENTRICITY",
    "INCLINATION",
    "RA_OF_ASC_NODE",
    "ARG_OF_PERICENTER",
    "MEAN_ANOMALY",
    "EPHEMERIS_TYPE",
    "CLASSIFICATION_TYPE",
    "NORAD_CAT_ID",
    "ELEMENT_SET_NO",
    "REV_AT_EPOCH",
    "BSTAR",
    "MEAN_MOTION_DOT",
    "MEAN_MOTION_DDOT",
)
METADATA = ("OBJECT_NAME", "OBJECT_ID")
MEAN_ELEMENTS = CSV_COLUMNS[2:9]
TLE_PARAMETERS = CSV_COLUMNS[9:]
#: What an OMM record must hold, in the order problems name them.
REQUIRED = (
    "OBJECT_NAME",
    "OBJECT_ID",
    "NORAD_CAT_ID",
    "EPOCH",
    *MEAN_ELEMENTS[1:],
    "BSTAR",
    "MEAN_MOTION_DOT",
    "MEAN_MOTION_DDOT",
)


# ---------------------------------------------------------------------- writing OMM


def tle_sets(name: str) -> list[tuple[str, str, str]]:
    """(name, line 1, line 2) of every 3-line set in a shared TLE file."""
    lines = [s.rstrip() for s in tle_path(name).read_text(encoding="ascii").splitlines()]
    return [(lines[i].strip(), lines[i + 1], lines[i + 2]) for i in range(0, len(lines), 3)]


def _implied_decimal(field: str) -> float:
    """A TLE field such as ' 11006-3' (0.11006e-3) or '-17159-2'."""
    field = field.strip()
    sign = -1.0 if field.startswith("-") else 1.0
    digits = field.lstrip("+-")
    return sign * float(f"0.{digits[:-2]}e{digits[-2:]}")


def omm_from_tle(name: str, line1: str, line2: str) -> dict[str, Any]:
    """An OMM record as CelesTrak's JSON holds it, read by hand from a TLE's columns."""
    year = int(line1[18:20])
    year += 2000 if year < 57 else 1900
    epoch = datetime(year, 1, 1) + timedelta(days=float(line1[20:32]) - 1.0)
    launch = int(line1[9:11])
    launch += 2000 if launch < 57 else 1900
    return {
        "OBJECT_NAME": name,
        "OBJECT_ID": f"{launch}-{line1[11:17].strip()}",
        "EPOCH": epoch.strftime("%Y-%m-%dT%H:%M:%S.%f"),
        "MEAN_MOTION": float(line2[52:63]),
        "ECCENTRICITY": float("0." + line2[26:33]),
        "INCLINATION": float(line2[8:16]),
        "RA_OF_ASC_NODE": float(line2[17:25]),
        "ARG_OF_PERICENTER": float(line2[34:42]),
        "MEAN_ANOMALY": float(line2[43:51]),
        "EPHEMERIS_TYPE": int(line1[62]),
        "CLASSIFICATION_TYPE": line1[7],
        "NORAD_CAT_ID": int(line1[2:7]),
        "ELEMENT_SET_NO": int(line1[64:68]),
        "REV_AT_EPOCH": int(line2[63:68]),
        "BSTAR": _implied_decimal(line1[53:61]),
        "MEAN_MOTION_DOT": float(line1[33:43]),
        "MEAN_MOTION_DDOT": _implied_decimal(line1[44:52]),
    }


def to_json(records: list[dict[str, Any]]) -> str:
    return json.dumps(records, indent=1)


def to_xml(records: list[dict[str, Any]]) -> str:
    """CelesTrak's XML: one <omm> per satellite in an <ndm>."""
    ndm = ET.Element("ndm")
    for rec in records:
        omm = ET.SubElement(ndm, "omm", id="CCSDS_OMM_VERS", version="2.0")
        header = ET.SubElement(omm, "header")
        ET.SubElement(header, "CREATION_DATE").text = "2020-02-01T12:00:00"
        ET.SubElement(header, "ORIGINATOR").text = "18 SPCS"
        segment = ET.SubElement(ET.SubElement(omm, "body"), "segment")
        metadata = ET.SubElement(segment, "metadata")
        data = ET.SubElement(segment, "data")
        extra = {"CENTER_NAME": "EARTH", "REF_FRAME": "TEME", "TIME_SYSTEM": "UTC"}
        extra["MEAN_ELEMENT_THEORY"] = "SGP4"
        groups = [
            (metadata, [*METADATA, *extra]),
            (ET.SubElement(data, "meanElements"), MEAN_ELEMENTS),
            (ET.SubElement(data, "tleParameters"), TLE_PARAMETERS),
        ]
        values = {**extra, **rec}
        for parent, keys in groups:
            for key in keys:
                if key in values:
                    ET.SubElement(parent, key).text = str(values[key])
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(ndm, encoding="unicode")


def to_csv(records: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(records)
    return out.getvalue()


WRITERS: dict[str, Callable[[list[dict[str, Any]]], str]] = {
    "json": to_json,
    "xml": to_xml,
    "csv": to_csv,
}


def write_omm(tmp_path: Path, fmt: str, records: list[dict[str, Any]], stem: str = "sats") -> Path:
    path = tmp_path / f"{stem}.{fmt}"
    path.write_text(WRITERS[fmt](records), encoding="utf-8")
    return path


def scenario_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "scenario.toml"
    path.write_text(HEAD + body, encoding="utf-8")
    return path


def itrs_km(sat: EarthSatellite, ts: Timescale) -> Any:
    t = ts.utc(START.year, START.month, START.day, START.hour, START.minute, OFFSETS_S)
    return sat.at(t).frame_xyz(itrs).km.T


# MARIO, as CelesTrak served it (https://celestrak.org/NORAD/elements/gp.php?CATNR=55123
# with FORMAT=XML and FORMAT=CSV, 2023-04-25; copied from sgp4's own tests): every field
# nonzero, so a wrong unit anywhere shows.
MARIO_TLE = (
    "MARIO",
    "1 55123U 98067UQ  23115.44827133  .00787702  29408-3  15680-2 0  9999",
    "2 55123  51.6242 216.2930 0014649 331.8976  28.1241 15.99081912 18396",
)
MARIO = {
    "xml": """\
<?xml version="1.0" encoding="UTF-8"?>
<ndm xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" \
xsi:noNamespaceSchemaLocation="https://sanaregistry.org/r/ndmxml_unqualified/\
ndmxml-2.0.0-master-2.0.xsd">
<omm id="CCSDS_OMM_VERS" version="2.0">
<header><CREATION_DATE/><ORIGINATOR/></header><body><segment><metadata>\
<OBJECT_NAME>MARIO</OBJECT_NAME><OBJECT_ID>1998-067UQ</OBJECT_ID>\
<CENTER_NAME>EARTH</CENTER_NAME><REF_FRAME>TEME</REF_FRAME><TIME_SYSTEM>UTC</TIME_SYSTEM>\
<MEAN_ELEMENT_THEORY>SGP4</MEAN_ELEMENT_THEORY></metadata><data><meanElements>\
<EPOCH>2023-04-25T10:45:30.642912</EPOCH><MEAN_MOTION>15.99081912</MEAN_MOTION>\
<ECCENTRICITY>.0014649</ECCENTRICITY><INCLINATION>51.6242</INCLINATION>\
<RA_OF_ASC_NODE>216.2930</RA_OF_ASC_NODE><ARG_OF_PERICENTER>331.8976</ARG_OF_PERICENTER>\
<MEAN_ANOMALY>28.1241</MEAN_ANOMALY></meanElements><tleParameters>\
<EPHEMERIS_TYPE>0</EPHEMERIS_TYPE><CLASSIFICATION_TYPE>U</CLASSIFICATION_TYPE>\
<NORAD_CAT_ID>55123</NORAD_CAT_ID><ELEMENT_SET_NO>999</ELEMENT_SET_NO>\
<REV_AT_EPOCH>1839</REV_AT_EPOCH><BSTAR>.1568E-2</BSTAR>\
<MEAN_MOTION_DOT>.787702E-2</MEAN_MOTION_DOT><MEAN_MOTION_DDOT>.29408E-3</MEAN_MOTION_DDOT>\
</tleParameters></data></segment></body></omm>
</ndm>
""",
    "csv": "OBJECT_NAME,OBJECT_ID,EPOCH,MEAN_MOTION,ECCENTRICITY,INCLINATION,RA_OF_ASC_NODE,"
    "ARG_OF_PERICENTER,MEAN_ANOMALY,EPHEMERIS_TYPE,CLASSIFICATION_TYPE,NORAD_CAT_ID,"
    "ELEMENT_SET_NO,REV_AT_EPOCH,BSTAR,MEAN_MOTION_DOT,MEAN_MOTION_DDOT"
    "\nMARIO,1998-067UQ,2023-04-25T10:45:30.642912,15.99081912,.0014649,51.6242,216.2930,"
    "331.8976,28.1241,0,U,55123,999,1839,.1568E-2,.787702E-2,.29408E-3\n",
}


def test_the_omm_writer_here_writes_what_celestrak_does() -> None:
    (served,) = csv.DictReader(io.StringIO(MARIO["csv"]))
    ours = omm_from_tle(*MARIO_TLE)
    assert list(ours) == list(served) == list(CSV_COLUMNS)
    for key, value in ours.items():
        if isinstance(value, str):
            assert value == served[key], key
        else:
            assert value == pytest.approx(float(served[key]), rel=1e-12), key


@pytest.mark.parametrize("fmt", ["xml", "csv"])
def test_celestrak_files_match_skyfield_on_the_tle(tmp_path: Path, fmt: str, ts: Timescale) -> None:
    (tmp_path / f"mario.{fmt}").write_text(MARIO[fmt], encoding="utf-8")
    path = tmp_path / "scenario.toml"
    path.write_text(
        'name = "t"\n[time]\nstart = "2023-04-25T12:00:00Z"\nduration_s = 7200\n'
        f'[[omm]]\npath = "mario.{fmt}"\n',
        encoding="utf-8",
    )
    engine = GeometryEngine(load_scenario(path))
    assert (engine.catalog.ids, engine.catalog.names) == (("55123",), ("MARIO",))
    positions, _ = engine.positions(OFFSETS_S)
    t = ts.utc(2023, 4, 25, 12, 0, OFFSETS_S)
    reference = EarthSatellite(*MARIO_TLE[1:], "MARIO", ts).at(t).frame_xyz(itrs).km.T
    assert np.abs(positions[:, 0] - reference).max() * 1e3 < 1.0


# ---------------------------------------------------------------------- positions


@pytest.mark.parametrize("fmt", ["json", "xml", "csv"])
def test_omm_positions_match_skyfield_on_the_original_tles(
    tmp_path: Path, fmt: str, ts: Timescale
) -> None:
    sets = tle_sets(ONEWEB) + tle_sets(STARLINK)[::40]
    omm = write_omm(tmp_path, fmt, [omm_from_tle(*s) for s in sets])
    scenario = load_scenario(scenario_file(tmp_path, f'[[omm]]\npath = "{omm.name}"\n'))
    assert scenario.omm[0].path.resolve() == omm.resolve()
    assert scenario.omm[0].field_path == "omm[0]"
    engine = GeometryEngine(scenario)
    assert engine.catalog.ids == tuple(str(int(line1[2:7])) for _, line1, _ in sets)
    assert engine.catalog.names == tuple(name for name, _, _ in sets)
    positions, valid = engine.positions(OFFSETS_S)
    assert valid.all()
    for i, (name, line1, line2) in enumerate(sets):
        reference = itrs_km(EarthSatellite(line1, line2, name, ts), ts)
        assert np.abs(positions[:, i] - reference).max() * 1e3 < 1.0, name


def test_omm_satellites_are_ordinary_satellites_after_tles(tmp_path: Path) -> None:
    sets = tle_sets(STARLINK)[:3]
    omm = write_omm(tmp_path, "json", [omm_from_tle(*s) for s in sets])
    body = (
        '[[shell]]\nname = "w"\naltitude_km = 550\ninclination_deg = 53\nplanes = 1\n'
        "sats_per_plane = 2\n"
        f'[[omm]]\npath = "{omm}"\nnames = ["{sets[2][0]}", {sets[0][1][2:7]}]\n'
        f'[[tle]]\npath = "{tle_path(ONEWEB)}"\nnames = ["ONEWEB-0010"]\n'
        f'[compute]\nsatellites = ["{int(sets[0][1][2:7])}"]\n'
    )
    catalog = build_catalog(load_scenario(scenario_file(tmp_path, body)))
    ids = [str(int(s[1][2:7])) for s in sets]
    assert catalog.ids == ("w-0-0", "w-0-1", "44058", ids[2], ids[0])
    assert catalog.names[2:] == ("ONEWEB-0010", sets[2][0], sets[0][0])
    assert catalog.shell_index.tolist() == [0, 0, -1, -1, -1]
    assert catalog.compute_indices.tolist() == [4]
    assert catalog.tle_start == 2


def test_the_same_satellite_from_tle_and_omm_is_a_duplicate_id(tmp_path: Path) -> None:
    omm = write_omm(tmp_path, "csv", [omm_from_tle(*s) for s in tle_sets(ONEWEB)])
    body = f'[[tle]]\npath = "{tle_path(ONEWEB)}"\nnames = ["ONEWEB-0010"]\n'
    body += f'[[omm]]\npath = "{omm}"\nnames = ["ONEWEB-0010", "NOPE"]\n'
    path = scenario_file(tmp_path, body)
    with pytest.raises(ScenarioError) as info:
        build_catalog(load_scenario(path))
    assert info.value.problems == [
        f"{path}: omm[0].names[1]: no satellite named or numbered 'NOPE' in sats.csv",
        f"{path}: satellite id '44058' appears 2 times",
    ]


# ---------------------------------------------------------------------- catalogue numbers


def with_catalog_number(line: str, number: str) -> str:
    line = line[:2] + number + line[7:]
    return line[:68] + str(tle_checksum(line))


@pytest.mark.parametrize("fmt", ["json", "xml", "csv"])
def test_nine_digit_and_alpha5_numbers_keep_their_ids(
    tmp_path: Path, fmt: str, ts: Timescale
) -> None:
    (name1, a1, a2), (name2, b1, b2) = tle_sets(ONEWEB)[:2]
    big = {**omm_from_tle(name1, a1, a2), "NORAD_CAT_ID": 270000001}
    alpha = {**omm_from_tle(name2, b1, b2), "NORAD_CAT_ID": 100000}
    omm = write_omm(tmp_path, fmt, [big, alpha])
    # Alpha-5 "A0000" in a TLE is 100000: the same id whichever file names it.
    body = f'[[omm]]\npath = "{omm.name}"\nnames = ["A0000", 270000001]\n'
    engine = GeometryEngine(load_scenario(scenario_file(tmp_path, body)))
    assert engine.catalog.ids == ("100000", "270000001")
    assert engine.catalog.names == (name2, name1)
    positions, _ = engine.positions(OFFSETS_S)
    for i, (name, line1, line2) in enumerate([(name2, b1, b2), (name1, a1, a2)]):
        reference = itrs_km(EarthSatellite(line1, line2, name, ts), ts)
        assert np.abs(positions[:, i] - reference).max() * 1e3 < 1.0

    tle = tmp_path / "alpha.tle"
    tle.write_text(
        f"{name2}\n{with_catalog_number(b1, 'A0000')}\n{with_catalog_number(b2, 'A0000')}\n"
    )
    body = f'[[tle]]\npath = "{tle}"\n[[omm]]\npath = "{omm.name}"\n'
    path = scenario_file(tmp_path, body)
    with pytest.raises(ScenarioError) as info:
        build_catalog(load_scenario(path))
    assert info.value.problems == [f"{path}: satellite id '100000' appears 2 times"]


# ---------------------------------------------------------------------- validation


def good() -> dict[str, Any]:
    return omm_from_tle(*tle_sets(ONEWEB)[1])  # ONEWEB-0010, 44058


def problems_of(tmp_path: Path, name: str, text: str) -> list[str]:
    """The problems a scenario reports for an [[omm]] file ``name`` holding ``text``,
    with the prefix every line shares taken off (checked here)."""
    omm = tmp_path / name
    omm.write_text(text, encoding="utf-8")
    path = scenario_file(tmp_path, f'[[omm]]\npath = "{name}"\n')
    with pytest.raises(ScenarioError) as info:
        build_catalog(load_scenario(path))
    prefix = f"{path}: omm[0].path: {omm.resolve()}: "
    assert all(p.startswith(prefix) for p in info.value.problems), info.value.problems
    return [p.removeprefix(prefix) for p in info.value.problems]


def changed(**fields: Any) -> list[dict[str, Any]]:
    """A good record with fields replaced (None: removed) after a good one."""
    record = {**good(), "NORAD_CAT_ID": 44059}
    for key, value in fields.items():
        if value is None:
            del record[key]
        else:
            record[key] = value
    return [good(), record]


W = "record 2 (ONEWEB-0010)"


@pytest.mark.parametrize(
    ("fmt", "records", "expected"),
    [
        pytest.param("json", changed(BSTAR=None), [f"{W}: BSTAR: is missing"], id="missing"),
        pytest.param("csv", changed(EPOCH=""), [f"{W}: EPOCH: is missing"], id="csv-empty-cell"),
        pytest.param(
            "xml",
            changed(OBJECT_NAME=None, INCLINATION=None),
            ["record 2: OBJECT_NAME: is missing", "record 2: INCLINATION: is missing"],
            id="missing-name",
        ),
        pytest.param(
            "json",
            changed(MEAN_MOTION="fast"),
            [f"{W}: MEAN_MOTION: must be a finite number, got the string 'fast'"],
            id="non-numeric",
        ),
        pytest.param(
            "csv",
            changed(BSTAR="nan"),
            [f"{W}: BSTAR: must be a finite number, got the string 'nan'"],
            id="nan",
        ),
        pytest.param(
            "json",
            changed(OBJECT_ID=2019),
            [f"{W}: OBJECT_ID: must be text, got int 2019"],
            id="non-text",
        ),
        pytest.param(
            "xml",
            changed(ECCENTRICITY=1.0),
            [f"{W}: ECCENTRICITY: must be within [0, 1), got 1"],
            id="eccentricity",
        ),
        pytest.param(
            "json",
            changed(ECCENTRICITY=-0.001),
            [f"{W}: ECCENTRICITY: must be within [0, 1), got -0.001"],
            id="eccentricity-negative",
        ),
        pytest.param(
            "csv",
            changed(INCLINATION=180.5),
            [f"{W}: INCLINATION: must be within [0, 180], got 180.5"],
            id="inclination",
        ),
        pytest.param(
            "json",
            changed(MEAN_MOTION=0),
            [f"{W}: MEAN_MOTION: must be within (0, 17.04], got 0"],
            id="mean-motion-zero",
        ),
        pytest.param(
            "xml",
            changed(MEAN_MOTION=18.2),
            [f"{W}: MEAN_MOTION: must be within (0, 17.04], got 18.2"],
            id="mean-motion-inside-earth",
        ),
        pytest.param(
            "json",
            changed(NORAD_CAT_ID="A0000"),
            [
                f"{W}: NORAD_CAT_ID: must be an integer (OMM writes catalogue numbers in "
                "full, not in Alpha-5), got the string 'A0000'"
            ],
            id="alpha5-in-omm",
        ),
        pytest.param(
            "csv",
            changed(NORAD_CAT_ID=1_000_000_000),
            [f"{W}: NORAD_CAT_ID: must be within [0, 999999999], got 1000000000"],
            id="ten-digits",
        ),
        pytest.param(
            "json",
            changed(EPOCH="yesterday"),
            [
                f"{W}: EPOCH: must be an ISO 8601 time such as 2020-02-01T09:46:52.291104, "
                "got the string 'yesterday'"
            ],
            id="epoch",
        ),
        pytest.param(
            "xml",
            changed(MEAN_ELEMENT_THEORY="SGP4-XP"),
            [f"{W}: MEAN_ELEMENT_THEORY: must be SGP4 (SGP4's), got the string 'SGP4-XP'"],
            id="theory",
        ),
        pytest.param(
            "json",
            changed(REF_FRAME="GCRF"),
            [f"{W}: REF_FRAME: must be TEME (SGP4's), got the string 'GCRF'"],
            id="frame",
        ),
        pytest.param(
            "json",
            changed(EPHEMERIS_TYPE=4),
            [f"{W}: EPHEMERIS_TYPE: must be one of 0, 2, 3 (SGP4 elements), got int 4"],
            id="ephemeris-type",
        ),
        pytest.param(
            "csv",
            changed(CLASSIFICATION_TYPE="UU"),
            [
                f"{W}: CLASSIFICATION_TYPE: must be one letter (U: unclassified), "
                "got the string 'UU'"
            ],
            id="classification",
        ),
        pytest.param(
            "xml",
            changed(NORAD_CAT_ID=44058),
            [f"{W}: NORAD_CAT_ID: 44058 is record 1 (ONEWEB-0010)'s too"],
            id="duplicate-id",
        ),
        pytest.param(
            "json",
            changed(ECCENTRICITY=0.9, MEAN_ANOMALY=0.0),  # perigee inside the Earth
            [f"{W}: SGP4 rejects the elements (error code 6)"],
            id="sgp4-rejects",
        ),
        pytest.param(
            "json",
            [*changed(ECCENTRICITY=2.0, INCLINATION=-1), {**good(), "NORAD_CAT_ID": "x"}],
            [
                f"{W}: ECCENTRICITY: must be within [0, 1), got 2",
                f"{W}: INCLINATION: must be within [0, 180], got -1",
                "record 3 (ONEWEB-0010): NORAD_CAT_ID: must be an integer (OMM writes "
                "catalogue numbers in full, not in Alpha-5), got the string 'x'",
            ],
            id="every-problem-at-once",
        ),
        pytest.param(
            "csv",
            changed(ELEMENT_SET_NO="1_000"),
            [
                f"{W}: ELEMENT_SET_NO: must be an integer within [0, 999999999], "
                "got the string '1_000'"
            ],
            id="integer",
        ),
        pytest.param("json", [], ["contains no OMM record"], id="empty"),
    ],
)
def test_record_problems(
    tmp_path: Path, fmt: str, records: list[dict[str, Any]], expected: list[str]
) -> None:
    assert problems_of(tmp_path, f"sats.{fmt}", WRITERS[fmt](records)) == expected


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        pytest.param(
            "sats.json",
            "<ndm/>",
            ["not OMM JSON: Expecting value at line 1 column 1"],
            id="json-not-json",
        ),
        pytest.param(
            "sats.json",
            '{"OBJECT_NAME": "X"}',
            ["not OMM JSON: must be a list of objects, got an object"],
            id="json-not-a-list",
        ),
        pytest.param(
            "sats.json",
            to_json([good()])[:-1] + ', "ONEWEB-0011"]',
            ["record 2: must be an object, got the string 'ONEWEB-0011'"],
            id="json-record-not-an-object",
        ),
        pytest.param(
            "sats.xml",
            to_json([good()]),
            ["not OMM XML: syntax error: line 1, column 0"],
            id="xml-not-xml",
        ),
        pytest.param("sats.xml", "<ndm></ndm>", ["contains no OMM record"], id="xml-no-segment"),
        pytest.param(
            "sats.xml",
            to_xml([good()]).replace("tleParameters>", "userDefinedParameters>"),
            [
                "record 1: its <segment> lacks <metadata>, <data><meanElements> or "
                "<data><tleParameters>"
            ],
            id="xml-segment-incomplete",
        ),
        pytest.param(
            "sats.csv",
            tle_path(ONEWEB).read_text(encoding="ascii"),
            ["not OMM CSV: its header lacks " + ", ".join(REQUIRED)],
            id="csv-not-omm",
        ),
        pytest.param(
            "sats.csv",
            to_csv([good()]).rstrip("\r\n").rsplit(",", 1)[0] + "\r\n",
            ["record 1 (ONEWEB-0010): has 16 cells, the header 17"],
            id="csv-short-row",
        ),
        pytest.param(
            "sats.csv",
            to_csv([good()]).rstrip("\r\n") + ",1\r\n",
            ["record 1 (ONEWEB-0010): has 18 cells, the header 17"],
            id="csv-long-row",
        ),
        pytest.param(
            "sats.tle",
            tle_path(ONEWEB).read_text(encoding="ascii"),
            [
                "unknown OMM format: the file name must end in .json, .xml, .csv (the "
                "extension chooses the format)"
            ],
            id="unknown-format",
        ),
    ],
)
def test_file_problems(tmp_path: Path, name: str, text: str, expected: list[str]) -> None:
    assert problems_of(tmp_path, name, text) == expected


def test_scenario_entry_problems(tmp_path: Path) -> None:
    path = scenario_file(
        tmp_path, '[[omm]]\ncolour = "red"\nnames = []\n[[omm]]\npath = "missing.json"\n'
    )
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert info.value.problems == [
        f"{path}: omm[0].colour: unknown key (allowed: path, names)",
        f"{path}: omm[0].path: is required",
        f"{path}: omm[0].names: must be a non-empty array of names or catalog numbers, "
        "got an array",
        f"{path}: omm[1].path: no such file: {tmp_path.resolve() / 'missing.json'}",
    ]


def test_reader_directly(tmp_path: Path) -> None:
    # Upper-case extensions name the format too; records keep their place in the file.
    path = write_omm(tmp_path, "json", [omm_from_tle(*s) for s in tle_sets(ONEWEB)])
    upper = path.rename(tmp_path / "SATS.JSON")
    records = read_omm_file(upper)
    assert [r.index for r in records] == [1, 2, 3, 4, 5, 6]
    assert [r.name for r in records][:2] == ["ONEWEB-0012", "ONEWEB-0010"]
    with pytest.raises(OmmError) as info:
        parse_omm(b"[]", "json", "f.json")
    assert str(info.value) == "f.json: contains no OMM record"
    with pytest.raises(OmmError) as info:
        read_omm_file(tmp_path / "gone.xml")
    assert info.value.problems == [
        f"{tmp_path / 'gone.xml'}: cannot read: No such file or directory"
    ]
