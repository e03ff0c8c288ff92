"""TLE parsing (checksums, 2- and 3-line sets, Alpha-5) and TLE sources in scenarios."""

from __future__ import annotations

from pathlib import Path

import pytest

from orbitmesh.orchestrator.catalog import build_catalog
from orbitmesh.orchestrator.scenario import ScenarioError, load_scenario
from orbitmesh.orchestrator.tle import (
    TleError,
    TleRecord,
    parse_tle_text,
    read_tle_file,
    tle_checksum,
)

#: The shared data folder beside the repository checkout (CI always provides it).
TLE_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "tle"
STARLINK_FEB = "starlink-2020-02-01.tle"
STARLINK_MAY = "starlink-2020-05-06.tle"
ONEWEB_FEB = "oneweb-2020-02-01.tle"

# STARLINK-31 from starlink-2020-02-01.tle (lines 2 and 3 of that file).
L1 = "1 44235U 19029A   20032.58334491  .00026975  00000-0  15589-2 0  9992"
L2 = "2 44235  53.0002 111.4803 0001263  66.3846 152.9869 15.12125722 39508"
# STARLINK-31 from starlink-2020-05-06.tle: negative drag terms, so '-' signs count.
L1_MINUS = "1 44235U 19029A   20126.91668981 -.00030087  00000-0 -17159-2 0  9993"

HEAD = 'name = "t"\n[time]\nstart = "2026-03-20T12:00:00Z"\n'


def tle_file(name: str) -> Path:
    path = TLE_DIR / name
    if not path.is_file():
        pytest.fail(
            f"shared TLE data missing: expected {path} (the repository's sibling folder "
            "shared/data/tle/, which CI always provides)"
        )
    return path


def with_checksum(line: str) -> str:
    """``line`` (69 columns) with its checksum column recomputed."""
    return line[:68] + str(tle_checksum(line))


def with_catalog_number(line: str, number: str) -> str:
    return with_checksum(line[:2] + number + line[7:])


def tle_problems(text: str) -> list[str]:
    with pytest.raises(TleError) as info:
        parse_tle_text(text, "f.tle")
    assert str(info.value) == "\n".join(info.value.problems)
    return info.value.problems


def scenario_problems(tmp_path: Path, text: str) -> tuple[str, list[str]]:
    """(file name used in messages, problems) of a scenario text."""
    path = tmp_path / "scenario.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        build_catalog(load_scenario(path))
    return str(path), info.value.problems


# ---------------------------------------------------------------------- checksum


def test_checksum_of_real_lines() -> None:
    # Line 1, columns 1-68: digits add their value, '-' adds 1, anything else 0:
    #   "1"                 1
    #   "44235"             4+4+2+3+5 = 18              -> 19
    #   "19029"             1+9+0+2+9 = 21              -> 40
    #   "20032.58334491"    2+0+0+3+2+5+8+3+3+4+4+9+1 = 44 -> 84
    #   ".00026975"         2+6+9+7+5 = 29              -> 113
    #   "00000-0"           1 (the minus)               -> 114
    #   "15589-2"           1+5+5+8+9 + 1 + 2 = 31      -> 145
    #   "0"                 0                           -> 145
    #   "999" (column 65-68) 9+9+9 = 27                 -> 172, and 172 mod 10 = 2
    assert tle_checksum(L1) == 2
    assert L1[68] == "2"
    # Line 2: 2 + 18 + (5+3+2) + (1+1+1+4+8+3) + (1+2+6+3) + (6+6+3+8+4+6)
    #   + (1+5+2+9+8+6+9) + (1+5+1+2+1+2+5+7+2+2) + (3+9+5) = 178 -> 8
    assert tle_checksum(L2) == 8
    # With minus signs: 1 + 18 + 21 + (2+1+2+6+9+1+6+6+8+9+8+1 = 59)
    #   + ("-.00030087": 1 + 3+8+7 = 19) + ("00000-0": 1)
    #   + ("-17159-2": 1 + 1+7+1+5+9 + 1 + 2 = 27) + 27 = 173 -> 3
    assert tle_checksum(L1_MINUS) == 3


def test_checksum_ignores_column_69_and_non_digits() -> None:
    assert tle_checksum(L1[:68] + "7") == 2
    assert tle_checksum(L1[:68]) == 2
    assert tle_checksum("1-+.AZ ") == 2  # '1' and '-' only
    assert tle_checksum("") == 0
    assert tle_checksum("9" * 68 + "9") == (9 * 68) % 10


# ---------------------------------------------------------------------- parsing


def test_two_line_set() -> None:
    assert parse_tle_text(f"{L1}\n{L2}\n", "f.tle") == [
        TleRecord(catalog_id="44235", name="44235", line1=L1, line2=L2, line_number=1)
    ]


@pytest.mark.parametrize(
    "name_line", ["STARLINK-31", "0 STARLINK-31", "STARLINK-31        ", "0 STARLINK-31   "]
)
def test_three_line_set(name_line: str) -> None:
    assert parse_tle_text(f"{name_line}\n{L1}\n{L2}\n", "f.tle") == [
        TleRecord(catalog_id="44235", name="STARLINK-31", line1=L1, line2=L2, line_number=2)
    ]


def test_mixed_sets_blank_lines_and_crlf() -> None:
    other1 = with_catalog_number(L1, "44236")
    other2 = with_catalog_number(L2, "44236")
    text = f"\r\n{L1}\r\n{L2}\r\n\r\n0 OTHER\r\n{other1}\r\n{other2}\r\n"
    records = parse_tle_text(text, "f.tle")
    assert [(r.catalog_id, r.name, r.line_number) for r in records] == [
        ("44235", "44235", 2),
        ("44236", "OTHER", 6),
    ]
    assert (records[1].line1, records[1].line2) == (other1, other2)


def test_satrec_of_a_record() -> None:
    (record,) = parse_tle_text(f"{L1}\n{L2}\n", "f.tle")
    sat = record.satrec()
    assert sat.satnum_str == "44235"
    assert sat.error == 0


# Alpha-5: the first of five characters is a letter standing for 10..33, A-Z without I, O.
ALPHA5_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"


@pytest.mark.parametrize(
    ("field", "catalog_id"),
    [
        ("A0001", "100001"),
        ("H9999", "179999"),
        ("J2931", "182931"),
        ("N0000", "220000"),
        ("P0000", "230000"),
        ("Z9999", "339999"),
        ("00005", "5"),
        ("99999", "99999"),
    ],
)
def test_alpha5_catalog_numbers(field: str, catalog_id: str) -> None:
    text = f"{with_catalog_number(L1, field)}\n{with_catalog_number(L2, field)}\n"
    (record,) = parse_tle_text(text, "f.tle")
    assert record.catalog_id == catalog_id


def test_alpha5_every_letter() -> None:
    assert len(ALPHA5_LETTERS) == 24
    for value, letter in enumerate(ALPHA5_LETTERS, start=10):
        field = f"{letter}1234"
        text = f"{with_catalog_number(L1, field)}\n{with_catalog_number(L2, field)}\n"
        (record,) = parse_tle_text(text, "f.tle")
        assert record.catalog_id == str(value * 10_000 + 1234), letter


@pytest.mark.parametrize("field", ["I0001", "O0001", "AA001", "A00-1"])
def test_invalid_alpha5catalog_numbers(field: str) -> None:
    text = f"{with_catalog_number(L1, field)}\n{with_catalog_number(L2, field)}\n"
    assert tle_problems(text) == ["f.tle:1: catalog numbers of lines 1 and 2 differ or are invalid"]


@pytest.mark.parametrize("field", ["i0001", "o0001"])
def test_lowercase_i_and_o_are_not_alpha5(field: str) -> None:
    text = f"{with_catalog_number(L1, field)}\n{with_catalog_number(L2, field)}\n"
    assert tle_problems(text) == ["f.tle:1: catalog numbers of lines 1 and 2 differ or are invalid"]


# ---------------------------------------------------------------------- parse errors


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            f"{L1[:68]}3\n{L2}\n",
            ["f.tle:1: bad checksum on TLE line 1 (computed 2, line says 3)"],
            id="checksum-line-1",
        ),
        pytest.param(
            f"STARLINK-31\n{L1}\n{L2[:68]}0\n",
            ["f.tle:3: bad checksum on TLE line 2 (computed 8, line says 0)"],
            id="checksum-line-2",
        ),
        pytest.param(
            f"{L1[:68]}X\n{L2}\n",
            ["f.tle:1: TLE line 1 ends in 'X', not a checksum digit"],
            id="checksum-not-a-digit",
        ),
        pytest.param(
            f"{L1[:67]}\n{L2}\n",
            ["f.tle:1: TLE line 1 must be 69 characters, got 67"],
            id="line-1-short",
        ),
        pytest.param(
            f"{L1}\n{L2}0\n",
            ["f.tle:2: TLE line 2 must be 69 characters, got 70"],
            id="line-2-long",
        ),
        pytest.param(
            f"{L2}\n",
            ["f.tle:1: TLE line 2 without a line 1 before it"],
            id="line-2-alone",
        ),
        pytest.param(
            f"NAME\n{L1}\n{L2}\n\nLONELY\n",
            ["f.tle:5: name line 'LONELY' is not followed by a TLE"],
            id="name-at-end",
        ),
        pytest.param(
            f"{L1}\n{with_catalog_number(L2, '44236')}\n",
            ["f.tle:1: catalog numbers of lines 1 and 2 differ or are invalid"],
            id="catalog-mismatch",
        ),
        pytest.param(
            f"{L1}\n",
            ["f.tle:1: expected TLE line 1 followed by line 2"],
            id="line-1-at-end",
        ),
        pytest.param(
            f"{L1}\n{L1}\n{L2}\n",
            ["f.tle:1: expected TLE line 1 followed by line 2"],
            id="line-1-twice",
        ),
        pytest.param(
            f"NAME ONE\nNAME TWO\n{L1}\n{L2}\n",
            ["f.tle:2: expected TLE line 1 followed by line 2"],
            id="two-name-lines",
        ),
        pytest.param(
            # mean motion 0 rev/day (columns 53-63): SGP4 error 2
            f"{L1}\n{with_checksum(L2[:52] + ' 0.00000000' + L2[63:])}\n",
            ["f.tle:1: SGP4 rejects the elements (error code 2)"],
            id="sgp4-rejects",
        ),
        pytest.param("", ["f.tle: contains no TLE"], id="empty"),
        pytest.param(" \n\n\t\n", ["f.tle: contains no TLE"], id="blank"),
    ],
)
def test_parse_errors(text: str, expected: list[str]) -> None:
    assert tle_problems(text) == expected


def test_every_bad_record_is_reported() -> None:
    other1 = with_catalog_number(L1, "44236")
    other2 = with_catalog_number(L2, "44236")
    text = f"A\n{L1[:68]}0\n{L2}\nB\n{other1}\n{other2}\n{L2}\nC\n"
    assert tle_problems(text) == [
        "f.tle:2: bad checksum on TLE line 1 (computed 2, line says 0)",
        "f.tle:7: TLE line 2 without a line 1 before it",
        "f.tle:8: name line 'C' is not followed by a TLE",
    ]


def test_read_tle_file_errors(tmp_path: Path) -> None:
    binary = tmp_path / "latin1.tle"
    binary.write_bytes(f"STARLINK-\xe9\n{L1}\n{L2}\n".encode("latin-1"))
    with pytest.raises(TleError) as info:
        read_tle_file(binary)
    assert info.value.problems == [
        f"{binary}: not an ASCII TLE file (ordinal not in range(128) at byte 9)"
    ]
    missing = tmp_path / "missing.tle"
    with pytest.raises(TleError) as info:
        read_tle_file(missing)
    assert info.value.problems == [f"{missing}: cannot read: No such file or directory"]
    bad = tmp_path / "bad.tle"
    bad.write_text(f"{L1}\n{L2[:68]}1\n", encoding="ascii")
    with pytest.raises(TleError) as info:
        read_tle_file(bad)
    assert info.value.problems == [f"{bad}:2: bad checksum on TLE line 2 (computed 8, line says 1)"]


@pytest.mark.parametrize("name", [ONEWEB_FEB, STARLINK_FEB, STARLINK_MAY])
def test_real_files_parse_completely(name: str) -> None:
    path = tle_file(name)
    lines = path.read_text(encoding="ascii").splitlines()
    starts = [n for n, line in enumerate(lines, start=1) if line.startswith("1 ")]
    records = read_tle_file(path)
    assert len(records) == len(starts)
    assert len(records) > 0
    assert [r.line_number for r in records] == starts
    for r in records:
        assert lines[r.line_number - 1].rstrip() == r.line1
        assert lines[r.line_number].rstrip() == r.line2
        assert r.catalog_id == str(int(r.line1[2:7]))
        # every set in these files has a name line just before line 1
        assert r.name == lines[r.line_number - 2].strip()
        assert r.name != r.catalog_id
    assert len({r.catalog_id for r in records}) == len(records)


def test_real_file_counts() -> None:
    # Independent of the parser: these snapshot files do not change.
    assert len(read_tle_file(tle_file(ONEWEB_FEB))) == 6
    assert len(read_tle_file(tle_file(STARLINK_FEB))) == 184
    assert len(read_tle_file(tle_file(STARLINK_MAY))) == 421


# ---------------------------------------------------------------------- TLE in scenarios


def test_scenario_selects_by_name_andcatalog_number(tmp_path: Path) -> None:
    text = HEAD + f'[[tle]]\npath = "{tle_file(STARLINK_FEB)}"\n'
    text += 'names = [44236, "STARLINK-31", "044237"]\n'
    path = tmp_path / "s.toml"
    path.write_text(text, encoding="utf-8")
    scenario = load_scenario(path)
    assert scenario.tles[0].names == ("44236", "STARLINK-31", "044237")
    assert scenario.tles[0].field_path == "tle[0]"
    catalog = build_catalog(scenario)
    assert catalog.ids == ("44236", "44235", "44237")
    assert catalog.names == ("STARLINK-22", "STARLINK-31", "STARLINK-23")
    assert catalog.shell_index.tolist() == [-1, -1, -1]
    assert catalog.plane.tolist() == [-1, -1, -1]
    assert catalog.slot.tolist() == [-1, -1, -1]
    assert catalog.shell_start == ()


def test_scenario_whole_file_relative_path_and_shells_first(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "oneweb.tle").write_text(tle_file(ONEWEB_FEB).read_text(encoding="ascii"))
    scen_dir = tmp_path / "scenarios"
    scen_dir.mkdir()
    path = scen_dir / "s.toml"
    path.write_text(
        HEAD
        + '[[shell]]\nname = "w"\naltitude_km = 550\ninclination_deg = 53\nplanes = 1\n'
        + "sats_per_plane = 2\n"
        + '[[tle]]\npath = "../data/oneweb.tle"\n'
        + '[compute]\nsatellites = ["w-0-1", 44058]\n',
        encoding="utf-8",
    )
    scenario = load_scenario(path)
    assert scenario.tles[0].path.resolve() == (data / "oneweb.tle").resolve()
    assert scenario.tles[0].names is None
    catalog = build_catalog(scenario)
    assert catalog.size == 2 + 6
    assert catalog.ids[:3] == ("w-0-0", "w-0-1", "44057")
    assert catalog.names[2] == "ONEWEB-0012"
    assert catalog.shell_index.tolist() == [0, 0] + [-1] * 6
    assert catalog.compute_indices.tolist() == [1, 3]


def test_scenario_unknown_name(tmp_path: Path) -> None:
    text = HEAD + f'[[tle]]\npath = "{tle_file(STARLINK_FEB)}"\n'
    text += 'names = ["STARLINK-31", "STARLINK-9999", 1]\n'
    source, problems = scenario_problems(tmp_path, text)
    assert problems == [
        f"{source}: tle[0].names[1]: no satellite named or numbered 'STARLINK-9999' in "
        f"{STARLINK_FEB}",
        f"{source}: tle[0].names[2]: no satellite named or numbered '1' in {STARLINK_FEB}",
    ]


def test_scenario_same_file_twice_gives_duplicate_ids(tmp_path: Path) -> None:
    path = tle_file(ONEWEB_FEB)
    text = HEAD + f'[[tle]]\npath = "{path}"\n[[tle]]\npath = "{path}"\n'
    source, problems = scenario_problems(tmp_path, text)
    ids = [r.catalog_id for r in read_tle_file(path)]
    assert problems == [f"{source}: satellite id {i!r} appears 2 times" for i in ids]


def test_scenario_same_satellite_twice_by_name_and_number(tmp_path: Path) -> None:
    text = HEAD + f'[[tle]]\npath = "{tle_file(STARLINK_FEB)}"\n'
    text += 'names = ["STARLINK-31", 44235]\n'
    text += f'[[tle]]\npath = "{tle_file(STARLINK_MAY)}"\nnames = ["STARLINK-31"]\n'
    source, problems = scenario_problems(tmp_path, text)
    assert problems == [f"{source}: satellite id '44235' appears 3 times"]


def test_scenario_tle_with_bad_checksum(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tle"
    bad.write_text(f"STARLINK-31\n{L1[:68]}3\n{L2}\n", encoding="ascii")
    text = HEAD + '[[tle]]\npath = "bad.tle"\n'
    source, problems = scenario_problems(tmp_path, text)
    assert problems == [
        f"{source}: tle[0].path: {tmp_path.resolve() / 'bad.tle'}:2: "
        "bad checksum on TLE line 1 (computed 2, line says 3)"
    ]
    assert problems[0].startswith(f"{source}: tle[0].path: ")


def test_scenario_problems_from_files_and_compute_come_together(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tle"
    bad.write_text(f"{L1}\n{L2[:67]}\n", encoding="ascii")
    text = (
        HEAD
        + f'[[tle]]\npath = "{tle_file(STARLINK_FEB)}"\nnames = ["NOPE"]\n'
        + '[[tle]]\npath = "bad.tle"\n'
        + '[compute]\nsatellites = ["44235"]\n'
    )
    source, problems = scenario_problems(tmp_path, text)
    assert problems == [
        f"{source}: tle[0].names[0]: no satellite named or numbered 'NOPE' in {STARLINK_FEB}",
        f"{source}: tle[1].path: {tmp_path.resolve() / 'bad.tle'}:2: "
        "TLE line 2 must be 69 characters, got 67",
        f"{source}: compute.satellites[0]: no satellite with id '44235'",
    ]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            'path = "missing.tle"\n',
            ["tle[0].path: no such file: {dir}/missing.tle"],
            id="missing-file",
        ),
        pytest.param('path = "."\n', ["tle[0].path: no such file: {dir}"], id="directory"),
        pytest.param('names = ["x"]\n', ["tle[0].path: is required"], id="path-missing"),
        pytest.param(
            "path = 3\n", ["tle[0].path: must be a non-empty string, got int 3"], id="path-number"
        ),
        pytest.param(
            'path = "{tle}"\nnames = []\n',
            ["tle[0].names: must be a non-empty array of names or catalog numbers, got an array"],
            id="names-empty",
        ),
        pytest.param(
            'path = "{tle}"\nnames = "STARLINK-31"\n',
            [
                "tle[0].names: must be a non-empty array of names or catalog numbers, "
                "got the string 'STARLINK-31'"
            ],
            id="names-string",
        ),
        pytest.param(
            'path = "{tle}"\nnames = ["STARLINK-31", 1.5, true, " "]\n',
            [
                "tle[0].names[1]: must be a non-empty string, got float 1.5",
                "tle[0].names[2]: must be a non-empty string, got the boolean true",
                "tle[0].names[3]: must be a non-empty string, got the string ' '",
            ],
            id="names-items",
        ),
        pytest.param(
            'path = "{tle}"\nepoch = 1\n',
            ["tle[0].epoch: unknown key (allowed: path, names)"],
            id="unknown-key",
        ),
    ],
)
def test_scenario_tle_section_problems(tmp_path: Path, body: str, expected: list[str]) -> None:
    body = body.replace("{tle}", str(tle_file(STARLINK_FEB)))
    source, problems = scenario_problems(tmp_path, HEAD + "[[tle]]\n" + body)
    directory = str(tmp_path.resolve())
    assert problems == [f"{source}: {e.replace('{dir}', directory)}" for e in expected]


def test_scenario_bad_names_and_missing_file_are_both_reported(tmp_path: Path) -> None:
    source, problems = scenario_problems(
        tmp_path, HEAD + '[[tle]]\npath = "nope.tle"\nnames = []\n'
    )
    assert problems == [
        f"{source}: tle[0].path: no such file: {tmp_path.resolve() / 'nope.tle'}",
        f"{source}: tle[0].names: must be a non-empty array of names or catalog numbers, "
        "got an array",
    ]


def test_scenario_name_made_of_a_non_decimal_digit(tmp_path: Path) -> None:
    text = HEAD + f'[[tle]]\npath = "{tle_file(STARLINK_FEB)}"\nnames = ["²"]\n'
    source, problems = scenario_problems(tmp_path, text)
    assert problems == [
        f"{source}: tle[0].names[0]: no satellite named or numbered '²' in {STARLINK_FEB}"
    ]
