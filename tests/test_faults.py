"""Scenario faults (orchestrator/faults.py): parsing, target checks, the schedule.

Every parsing problem is one ``file: field.path: message`` line, checked word for word.
Random schedules are checked against the Poisson law they claim, with bounds worked out
in each test; timed schedules against hand-written events.
"""

from __future__ import annotations

import math
import tomllib
from collections import Counter

import pytest

from orbitmesh.checking import Checker
from orbitmesh.orchestrator.faults import (
    FAULT_KINDS,
    MAX_RANDOM_EVENTS,
    ExponentialDuration,
    FaultError,
    FaultEvent,
    FaultSpec,
    FixedDuration,
    UniformDuration,
    check_targets,
    faults_at,
    parse_faults,
    schedule,
)

SATELLITES = tuple(f"s-{p}-{k}" for p in range(3) for k in range(4))
PLANES = {f"s-{p}": [f"s-{p}-{k}" for k in range(4)] for p in range(3)}
STATIONS = ("oslo", "lima", "perth")
HOUR_S = 3600.0
KINDS = "reboot, fail, isl-down, station-down, weather"
REBOOT = '[[fault]]\nkind = "reboot"\ntargets = ["s-0-0"]\nat_s = 1\nduration_s = 5\n'


def parsed(text: str) -> tuple[tuple[FaultSpec, ...], list[str]]:
    chk = Checker("s.toml")
    specs = parse_faults(tomllib.loads(text).get("fault"), chk)
    return specs, chk.problems


def one(text: str) -> FaultSpec:
    specs, problems = parsed(text)
    assert problems == []
    assert len(specs) == 1
    return specs[0]


def run(
    specs: tuple[FaultSpec, ...], *, duration_s: float = 10 * HOUR_S, seed: int = 7
) -> list[FaultEvent]:
    return schedule(
        specs,
        duration_s=duration_s,
        satellites=SATELLITES,
        planes=PLANES,
        stations=STATIONS,
        seed=seed,
    )


# --------------------------------------------------------------------------- parsing


def test_every_kind_parses_with_its_own_fields() -> None:
    specs, problems = parsed(
        """
        [[fault]]
        kind = "reboot"
        targets = ["s-0-0"]
        at_s = 60
        duration_s = 120
        reset = "cold"

        [[fault]]
        kind = "fail"
        targets = "all"
        rate_per_hour = 0.5

        [[fault]]
        kind = "isl-down"
        targets = ["s-1", ["s-0-0", "s-0-1"]]
        at_s = 0
        duration_s = { min_s = 10, max_s = 20 }

        [[fault]]
        kind = "station-down"
        targets = ["oslo"]
        rate_per_hour = 1
        duration_s = { mean_s = 300 }

        [[fault]]
        kind = "weather"
        targets = ["lima"]
        at_s = 5.5
        duration_s = 600
        rate_factor = 0.25
        loss_rate = 0.1
        """
    )
    assert problems == []
    assert [s.kind for s in specs] == list(FAULT_KINDS)
    reboot, fail, isl, station, weather = specs
    assert reboot.targets == ("s-0-0",)
    assert (reboot.at_s, reboot.rate_per_hour, reboot.reset) == (60.0, None, "cold")
    assert reboot.duration == FixedDuration(120.0)
    assert reboot.field_path == "fault[0]"
    assert fail.targets == "all"
    assert (fail.at_s, fail.rate_per_hour, fail.duration) == (None, 0.5, None)
    assert isl.targets == ("s-1", ("s-0-0", "s-0-1"))
    assert isl.duration == UniformDuration(10.0, 20.0)
    assert station.duration == ExponentialDuration(300.0)
    assert (weather.rate_factor, weather.loss_rate) == (0.25, 0.1)
    assert one(REBOOT).reset == "warm"  # the default: battery, heat and weights survive


def test_catalog_numbers_may_be_written_as_integers() -> None:
    spec = one('[[fault]]\nkind = "fail"\ntargets = [25544]\nat_s = 1\n')
    assert spec.targets == ("25544",)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("fault = 3\n", "fault: must be an array of tables ([[fault]]), got int 3"),
        ("fault = [3]\n", "fault[0]: must be a table, got int 3"),
        (
            '[[fault]]\ntargets = "all"\nat_s = 1\n',
            "fault[0].kind: is required",
        ),
        (
            '[[fault]]\nkind = "explode"\ntargets = "all"\nat_s = 1\n',
            f"fault[0].kind: must be one of {KINDS}, got 'explode'",
        ),
        (
            '[[fault]]\nkind = "fail"\ntargets = "all"\nat_s = 1\nduration_s = 4\n',
            "fault[0].duration_s: unknown key (allowed: kind, targets, at_s, rate_per_hour)",
        ),
        (
            REBOOT + "loss_rate = 0.5\n",
            "fault[0].loss_rate: unknown key (allowed: kind, targets, at_s, rate_per_hour, "
            "duration_s, reset)",
        ),
        ('[[fault]]\nkind = "fail"\nat_s = 1\n', 'fault[0].targets: is required ("all" or a list)'),
        (
            '[[fault]]\nkind = "fail"\ntargets = []\nat_s = 1\n',
            'fault[0].targets: must be "all" or a non-empty list of satellite ids, got an array',
        ),
        (
            '[[fault]]\nkind = "weather"\ntargets = "oslo"\nat_s = 1\nduration_s = 1\n'
            "loss_rate = 0.5\n",
            'fault[0].targets: must be "all" or a non-empty list of ground station names, '
            "got the string 'oslo'",
        ),
        (
            '[[fault]]\nkind = "fail"\ntargets = ["s-0-0", "s-0-0"]\nat_s = 1\n',
            "fault[0].targets: lists s-0-0 more than once",
        ),
        (
            '[[fault]]\nkind = "isl-down"\ntargets = [["a", "b"], ["b", "a"]]\nat_s = 1\n'
            "duration_s = 1\n",
            "fault[0].targets: lists a~b, b~a more than once",
        ),
        (
            '[[fault]]\nkind = "fail"\ntargets = [""]\nat_s = 1\n',
            "fault[0].targets[0]: must be a non-empty string, got the string ''",
        ),
        (
            '[[fault]]\nkind = "isl-down"\ntargets = [["a", "b", "c"]]\nat_s = 1\nduration_s = 1\n',
            "fault[0].targets[0]: a link must name two satellites, got 3 items",
        ),
        (
            '[[fault]]\nkind = "isl-down"\ntargets = [["a", "a"]]\nat_s = 1\nduration_s = 1\n',
            "fault[0].targets[0]: a link joins two different satellites, got 'a' twice",
        ),
        (
            '[[fault]]\nkind = "isl-down"\ntargets = [["a", 1.5]]\nat_s = 1\nduration_s = 1\n',
            "fault[0].targets[0][1]: must be a non-empty string, got float 1.5",
        ),
        (
            '[[fault]]\nkind = "fail"\ntargets = "all"\nat_s = 1\nrate_per_hour = 2\n',
            "fault[0]: give at_s (one fault) or rate_per_hour (random faults), not both",
        ),
        (
            '[[fault]]\nkind = "fail"\ntargets = "all"\n',
            "fault[0]: needs at_s (a fault at a simulated time) or rate_per_hour (random)",
        ),
        (
            '[[fault]]\nkind = "fail"\ntargets = "all"\nat_s = -1\n',
            "fault[0].at_s: must be >= 0, got -1",
        ),
        (
            '[[fault]]\nkind = "fail"\ntargets = "all"\nat_s = "soon"\n',
            "fault[0].at_s: must be a number, got the string 'soon'",
        ),
        (
            '[[fault]]\nkind = "fail"\ntargets = "all"\nrate_per_hour = 0\n',
            "fault[0].rate_per_hour: must be > 0, got 0",
        ),
        (
            '[[fault]]\nkind = "reboot"\ntargets = "all"\nat_s = 1\n',
            "fault[0].duration_s: is required (how long a reboot lasts)",
        ),
        (
            '[[fault]]\nkind = "reboot"\ntargets = "all"\nat_s = 1\nduration_s = 0\n',
            "fault[0].duration_s: must be > 0, got 0",
        ),
        (
            '[[fault]]\nkind = "reboot"\ntargets = "all"\nat_s = 1\n'
            "duration_s = { min_s = 9, max_s = 3 }\n",
            "fault[0].duration_s.max_s: must not be less than min_s (9), got 3",
        ),
        (
            '[[fault]]\nkind = "reboot"\ntargets = "all"\nat_s = 1\nduration_s = { min_s = 9 }\n',
            "fault[0].duration_s.max_s: is required",
        ),
        (
            '[[fault]]\nkind = "reboot"\ntargets = "all"\nat_s = 1\n'
            "duration_s = { mean_s = 9, max_s = 30 }\n",
            "fault[0].duration_s: give mean_s (exponential) or min_s and max_s (uniform), not both",
        ),
        (
            '[[fault]]\nkind = "reboot"\ntargets = "all"\nat_s = 1\nduration_s = { mean_s = -9 }\n',
            "fault[0].duration_s.mean_s: must be > 0, got -9",
        ),
        (
            '[[fault]]\nkind = "reboot"\ntargets = "all"\nat_s = 1\n'
            "duration_s = { min_s = 1, max_s = 2, median_s = 9 }\n",
            "fault[0].duration_s.median_s: unknown key (allowed: min_s, max_s, mean_s)",
        ),
        (
            REBOOT + 'reset = "hot"\n',
            "fault[0].reset: must be one of warm, cold, got 'hot'",
        ),
        (
            '[[fault]]\nkind = "weather"\ntargets = "all"\nat_s = 1\nduration_s = 1\n',
            "fault[0]: a weather fault needs rate_factor < 1 or loss_rate > 0",
        ),
        (
            '[[fault]]\nkind = "weather"\ntargets = "all"\nat_s = 1\nduration_s = 1\n'
            "rate_factor = 0\n",
            "fault[0].rate_factor: must be within (0, 1], got 0",
        ),
        (
            '[[fault]]\nkind = "weather"\ntargets = "all"\nat_s = 1\nduration_s = 1\n'
            "loss_rate = 1\n",
            "fault[0].loss_rate: must be within [0, 1), got 1",
        ),
    ],
)
def test_each_problem_is_one_line_with_its_path(text: str, line: str) -> None:
    specs, problems = parsed(text)
    assert problems == [f"s.toml: {line}"]
    assert specs == ()


def test_problems_of_several_entries_are_all_reported() -> None:
    specs, problems = parsed(
        REBOOT + '[[fault]]\nkind = "fail"\n' + '[[fault]]\nkind = "x"\ntargets = "all"\nat_s = 1\n'
    )
    assert [s.field_path for s in specs] == ["fault[0]"]
    assert problems == [
        's.toml: fault[1].targets: is required ("all" or a list)',
        "s.toml: fault[1]: needs at_s (a fault at a simulated time) or rate_per_hour (random)",
        f"s.toml: fault[2].kind: must be one of {KINDS}, got 'x'",
    ]


# --------------------------------------------------------------------------- targets


def checked(
    text: str, *, duration_s: float = HOUR_S, stations: tuple[str, ...] = STATIONS
) -> list[str]:
    specs, problems = parsed(text)
    assert problems == []
    chk = Checker("s.toml")
    check_targets(
        specs, chk, duration_s=duration_s, satellites=SATELLITES, planes=PLANES, stations=stations
    )
    return chk.problems


def test_unknown_targets_are_problems_at_their_paths() -> None:
    problems = checked(
        '[[fault]]\nkind = "reboot"\ntargets = ["s-0-0", "s-9-9"]\nat_s = 1\nduration_s = 5\n'
        '[[fault]]\nkind = "station-down"\ntargets = ["paris"]\nat_s = 1\nduration_s = 5\n'
        '[[fault]]\nkind = "isl-down"\ntargets = ["s-7", ["s-0-0", "x"]]\nat_s = 1\n'
        "duration_s = 5\n"
    )
    assert problems == [
        "s.toml: fault[0].targets[1]: no satellite with id 's-9-9'",
        "s.toml: fault[1].targets[0]: no ground station named 'paris'",
        "s.toml: fault[2].targets[0]: no plane 's-7' (planes are <shell>-<plane>, e.g. s-0)",
        "s.toml: fault[2].targets[1][1]: no satellite with id 'x'",
    ]


def test_a_fault_after_the_run_and_all_of_nothing_are_problems() -> None:
    assert checked('[[fault]]\nkind = "fail"\ntargets = "all"\nat_s = 3600\n') == [
        "s.toml: fault[0].at_s: must fall within the run (time.duration_s = 3600), got 3600"
    ]
    assert checked(
        '[[fault]]\nkind = "station-down"\ntargets = "all"\nat_s = 1\nduration_s = 1\n',
        stations=(),
    ) == ['s.toml: fault[0].targets: "all" finds nothing: the scenario has no ground station names']


def test_a_rate_that_would_flood_the_run_is_a_problem() -> None:
    # 12 satellites x 1 h: a rate of MAX / 12 per hour is at the limit, twice that over.
    assert (
        checked(
            f'[[fault]]\nkind = "fail"\ntargets = "all"\nrate_per_hour = {MAX_RANDOM_EVENTS / 12}\n'
        )
        == []
    )
    assert checked(
        f'[[fault]]\nkind = "fail"\ntargets = "all"\nrate_per_hour = {MAX_RANDOM_EVENTS / 6}\n'
    ) == [
        "s.toml: fault[0].rate_per_hour: would draw about 2e+06 faults over the run "
        "(at most 1000000)"
    ]


def test_schedule_refuses_unknown_targets_listing_every_one() -> None:
    specs, _ = parsed(
        '[[fault]]\nkind = "fail"\ntargets = ["nope"]\nat_s = 1\n'
        '[[fault]]\nkind = "weather"\ntargets = ["nowhere"]\nat_s = 1\nduration_s = 1\n'
        "loss_rate = 0.5\n"
    )
    with pytest.raises(FaultError) as caught:
        run(specs)
    assert caught.value.problems == [
        "fault schedule: fault[0].targets[0]: no satellite with id 'nope'",
        "fault schedule: fault[1].targets[0]: no ground station named 'nowhere'",
    ]
    with pytest.raises(ValueError, match="seed must be an integer"):
        run(specs, seed=-1)


# --------------------------------------------------------------------------- timed


def test_timed_faults_strike_every_target_at_at_s_for_their_duration() -> None:
    specs, _ = parsed(
        '[[fault]]\nkind = "weather"\ntargets = "all"\nat_s = 300\nduration_s = 60\n'
        "rate_factor = 0.5\n"
        '[[fault]]\nkind = "reboot"\ntargets = ["s-1-2"]\nat_s = 100\nduration_s = 30\n'
        '[[fault]]\nkind = "fail"\ntargets = ["s-2-0"]\nat_s = 300\n'
        '[[fault]]\nkind = "isl-down"\ntargets = ["s-2"]\nat_s = 50\nduration_s = 10\n'
    )
    events = run(specs)
    assert [(e.start_s, e.end_s, e.kind, e.target, e.satellites) for e in events] == [
        (50.0, 60.0, "isl-down", "s-2", ("s-2-0", "s-2-1", "s-2-2", "s-2-3")),
        (100.0, 130.0, "reboot", "s-1-2", ("s-1-2",)),
        # Same start: entry order, then target name.
        (300.0, 360.0, "weather", "lima", ()),
        (300.0, 360.0, "weather", "oslo", ()),
        (300.0, 360.0, "weather", "perth", ()),
        (300.0, None, "fail", "s-2-0", ("s-2-0",)),
    ]
    assert events[1].label == "fault[1] reboot s-1-2"
    assert events[2].station == "lima" and events[1].station is None


def test_a_failed_satellite_takes_no_later_reboots_or_failures() -> None:
    specs, _ = parsed(
        '[[fault]]\nkind = "fail"\ntargets = ["s-0-0"]\nat_s = 100\n'
        '[[fault]]\nkind = "reboot"\ntargets = ["s-0-0", "s-0-1"]\nat_s = 50\nduration_s = 5\n'
        '[[fault]]\nkind = "reboot"\ntargets = ["s-0-0", "s-0-1"]\nat_s = 200\nduration_s = 5\n'
        '[[fault]]\nkind = "fail"\ntargets = ["s-0-0"]\nat_s = 300\n'
    )
    assert [(e.start_s, e.kind, e.target) for e in run(specs)] == [
        (50.0, "reboot", "s-0-0"),
        (50.0, "reboot", "s-0-1"),
        (100.0, "fail", "s-0-0"),
        (200.0, "reboot", "s-0-1"),
    ]


def test_faults_at_says_what_is_down() -> None:
    specs, _ = parsed(
        '[[fault]]\nkind = "reboot"\ntargets = ["s-0-0"]\nat_s = 10\nduration_s = 10\n'
        '[[fault]]\nkind = "fail"\ntargets = ["s-1-0"]\nat_s = 15\n'
        '[[fault]]\nkind = "isl-down"\ntargets = ["s-2", ["s-0-1", "s-0-2"]]\nat_s = 10\n'
        "duration_s = 10\n"
        '[[fault]]\nkind = "station-down"\ntargets = ["oslo"]\nat_s = 10\nduration_s = 10\n'
        '[[fault]]\nkind = "weather"\ntargets = ["lima"]\nat_s = 10\nduration_s = 10\n'
        "rate_factor = 0.5\nloss_rate = 0.1\n"
        '[[fault]]\nkind = "weather"\ntargets = ["lima"]\nat_s = 12\nduration_s = 10\n'
        "rate_factor = 0.4\nloss_rate = 0.2\n"
    )
    events = run(specs)
    before = faults_at(events, 9.999)
    assert before.down_satellites == before.down_stations == frozenset()
    assert before.link_up("s-0-1", "s-0-2") and before.weather == {}

    during = faults_at(events, 15.0)
    assert during.down_satellites == {"s-0-0", "s-1-0"}
    assert during.failed_satellites == {"s-1-0"}
    assert during.down_stations == {"oslo"}
    assert not during.link_up("s-0-2", "s-0-1")  # the cut link, either way round
    assert not during.link_up("s-2-3", "s-1-3")  # a plane's links to other planes too
    assert not during.link_up("s-0-0", "s-0-3")  # a satellite that is down
    assert during.link_up("s-0-3", "s-1-3")
    # Two fronts over lima: rates multiply (0.5 x 0.4) and survivals multiply
    # (1 - 0.9 x 0.8 = 0.28 lost).
    assert during.weather["lima"].rate_factor == pytest.approx(0.2, rel=1e-12)
    assert during.weather["lima"].loss_rate == pytest.approx(0.28, rel=1e-12)

    after = faults_at(events, 20.0)  # ends are exclusive
    assert after.down_satellites == {"s-1-0"}
    assert after.link_up("s-0-1", "s-0-2") and after.down_stations == frozenset()
    assert set(after.weather) == {"lima"}
    assert after.weather["lima"].rate_factor == 0.4
    assert after.weather["lima"].loss_rate == pytest.approx(0.2, rel=1e-12)


# --------------------------------------------------------------------------- random


def test_random_faults_follow_the_poisson_law() -> None:
    # 2 faults per hour per satellite, 12 satellites, 400 h: the count is Poisson with
    # mean 2 x 12 x 400 = 9600 and standard deviation sqrt(9600) = 98. Five deviations
    # (490) would be exceeded by chance with probability 6e-7; a rate read per second
    # or for all targets together would be off by at least 8800.
    spec = one('[[fault]]\nkind = "reboot"\ntargets = "all"\nrate_per_hour = 2\nduration_s = 1\n')
    events = run((spec,), duration_s=400 * HOUR_S)
    assert abs(len(events) - 9600) < 5 * math.sqrt(9600)
    # Each satellite: Poisson of mean 800, deviation 28.3; five deviations is 141.
    per_target = Counter(e.target for e in events)
    assert set(per_target) == set(SATELLITES)
    assert all(abs(n - 800) < 5 * math.sqrt(800) for n in per_target.values())
    # Uniform over the run: each half holds a binomial(N, 1/2) share, deviation
    # sqrt(N)/2 = 49.
    first_half = sum(e.start_s < 200 * HOUR_S for e in events)
    assert abs(first_half - len(events) / 2) < 5 * math.sqrt(len(events)) / 2
    assert [e.start_s for e in events] == sorted(e.start_s for e in events)
    assert all(0.0 <= e.start_s < 400 * HOUR_S for e in events)


def test_drawn_durations_have_their_law() -> None:
    # Exponential of mean 300 s: the mean of N draws has deviation 300 / sqrt(N).
    spec = one(
        '[[fault]]\nkind = "station-down"\ntargets = "all"\nrate_per_hour = 10\n'
        "duration_s = { mean_s = 300 }\n"
    )
    events = run((spec,), duration_s=200 * HOUR_S)
    lengths = [e.end_s - e.start_s for e in events if e.end_s is not None]
    assert len(lengths) == len(events) > 5000
    mean = sum(lengths) / len(lengths)
    assert abs(mean - 300.0) < 5 * 300.0 / math.sqrt(len(lengths))
    uniform = one(
        '[[fault]]\nkind = "station-down"\ntargets = "all"\nrate_per_hour = 10\n'
        "duration_s = { min_s = 60, max_s = 120 }\n"
    )
    spans = [e.end_s - e.start_s for e in run((uniform,), duration_s=50 * HOUR_S) if e.end_s]
    assert all(60.0 <= s <= 120.0 for s in spans)
    # Uniform on [60, 120]: mean 90, deviation of the mean (60 / sqrt(12)) / sqrt(N).
    assert abs(sum(spans) / len(spans) - 90.0) < 5 * (60 / math.sqrt(12)) / math.sqrt(len(spans))


def test_same_seed_same_faults_other_seed_other_faults() -> None:
    specs, _ = parsed(
        '[[fault]]\nkind = "reboot"\ntargets = "all"\nrate_per_hour = 1\n'
        "duration_s = { mean_s = 60 }\n"
        '[[fault]]\nkind = "isl-down"\ntargets = "all"\nrate_per_hour = 1\nduration_s = 30\n'
    )
    first = run(specs, seed=11)
    assert first == run(specs, seed=11)
    assert len(first) > 50
    other = run(specs, seed=12)
    assert [(e.start_s, e.target) for e in other] != [(e.start_s, e.target) for e in first]
    # Each entry has its own stream: an entry added at the end moves no earlier faults.
    appended, _ = parsed(
        '[[fault]]\nkind = "station-down"\ntargets = "all"\nrate_per_hour = 5\nduration_s = 9\n'
    )
    grown = run((*specs, *appended), seed=11)
    assert [e for e in grown if e.spec in specs] == first
    assert any(e.kind == "station-down" for e in grown)
