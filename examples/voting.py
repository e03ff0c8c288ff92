"""Triple-redundant inference that outvotes radiation: every request on three satellites.

Radiation flips bits on the satellites (``[radiation]``, docs/faults.md): in an output,
once, or in a model's weights, until the next scrub. One satellite's answer may then be
wrong; the same request on three satellites, voted bit by bit (each bit as at least two
of the three answers have it, the classic triple modular redundancy voter), is wrong
only when two of them are struck at once.

Run it::

    python examples/voting.py                      # starts the emulation below, 60 s
    python examples/voting.py --endpoints EP.json  # against a running emulation

Without ``--endpoints`` it writes the scenario below (the demo constellation, the
``digits`` model only, radiation scaled up 250,000 times so that a minute shows what
orbit does in months, weights scrubbed every 5 s) and runs ``orbitmesh up`` on it. It
pins three satellites a ground station can reach (``orbitmesh.satellite``), asks each
for the same digits with ``orbitmesh.report_upsets``, compares every answer with the
model run here without radiation, and prints how many single answers and how many voted
answers were wrong, and how many wrong answers the satellites' own reports gave away.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from orbitmesh.ground.client import Client, InferResult
from orbitmesh.ground.errors import CallFailed, EndpointsError
from orbitmesh.node.models import ensure_model, load_digits_split, make_session
from orbitmesh.protos.contract import Param

MODEL = "digits"

#: The demo constellation (12 compute satellites at 550 km, 53 degrees) under radiation
#: strong enough to see in a minute. Weight upsets come 65 times as often as output
#: upsets (24,896 weight bits against 384 output bits); latch-ups are made rarer than the
#: scale alone would make them (one every few minutes per satellite instead of several a
#: second) and short, so that the vote mostly has three answers.
SCENARIO = """
name = "voting"

[time]
start = 2026-03-20T12:00:00Z
duration_s = 900
step_s = 1.0
speed = 1.0

[[shell]]
name = "shell1"
altitude_km = 550.0
inclination_deg = 53.0
planes = 12
sats_per_plane = 12
phasing = 1

[[ground_station]]
name = "frankfurt"
lat_deg = 50.1155
lon_deg = 8.6842
min_elevation_deg = 10.0

[[ground_station]]
name = "hartebeesthoek"
lat_deg = -25.8897
lon_deg = 27.6872
min_elevation_deg = 10.0

[links]
isl = "plus-grid"
isl_range_km = 5000.0

[compute]
satellites = { every = 13 }

[node]
builtin_models = ["digits"]

[radiation]
enabled = true
seed = 11
rate_scale = 2.5e5
scrub_interval_s = 5
latchup_down_s = 20

[radiation.latchups_per_day]
orbit_average = 6.7e-4
"""

Outputs = dict[str, npt.NDArray[Any]]


@dataclass
class Tally:
    requests: int = 0
    single: int = 0
    single_wrong: int = 0
    #: Wrong single answers whose reply said radiation had struck (upsets reported).
    single_wrong_flagged: int = 0
    #: Replicas that did not answer (a latch-up, out of contact, ...), by cause.
    missing: dict[str, int] = field(default_factory=dict)
    voted: int = 0
    voted_wrong: int = 0
    no_majority: int = 0


def bitwise_majority(answers: Sequence[Outputs]) -> Outputs:
    """Each output bit as at least two of three answers have it."""
    voted = {}
    for name in answers[0]:
        a, b, c = (np.ascontiguousarray(x[name]).view(np.uint8) for x in answers)
        bits = (a & b) | (a & c) | (b & c)
        voted[name] = bits.view(answers[0][name].dtype).reshape(answers[0][name].shape)
    return voted


def same(a: Outputs, b: Outputs) -> bool:
    return a.keys() == b.keys() and all(
        a[k].shape == b[k].shape and a[k].tobytes() == b[k].tobytes() for k in a
    )


def flagged(result: InferResult) -> bool:
    """Whether the satellite said radiation struck this answer."""
    upsets = json.loads(str(result.parameters.get(Param.UPSETS, "[]")))
    return bool(upsets) or bool(result.parameters.get(Param.WEIGHT_UPSETS, 0))


def replicas(client: Client, station: str, count: int = 3) -> list[str]:
    """The ``count`` compute satellites nearest to the station (in light time)."""
    routes = sorted(client.routes(station).routes, key=lambda r: r.delay_ms)
    return [r.destination_id for r in routes[:count]]


def choose_station(client: Client) -> str:
    for station in client.stations:
        if len(replicas(client, station)) == 3:
            return station
    raise SystemExit("no ground station reaches three compute satellites now; try later")


def vote(client: Client, station: str, duration_s: float) -> Tally:
    split = load_digits_split()
    images = split.x_test
    reference = make_session(ensure_model(MODEL).path)
    tally = Tally()
    sats = replicas(client, station)
    print(f"station {station}, replicas {', '.join(sats)}")
    end = time.monotonic() + duration_s
    i = 0
    while time.monotonic() < end:
        x = images[i % len(images)][None, :]
        i += 1
        label, probabilities = reference.run(None, {"input": x})
        clean = {"label": np.asarray(label), "probabilities": np.asarray(probabilities)}
        answers = []
        for sid in sats:
            try:
                result = client.infer(
                    station,
                    MODEL,
                    x,
                    satellite=sid,
                    parameters={Param.REPORT_UPSETS: True},
                    timeout_s=5.0,
                )
            except CallFailed as failed:
                cause = failed.cause or "unknown"
                tally.missing[cause] = tally.missing.get(cause, 0) + 1
                continue
            outputs = {name: result[name] for name in clean}
            tally.single += 1
            if not same(outputs, clean):
                tally.single_wrong += 1
                tally.single_wrong_flagged += flagged(result)
            answers.append(outputs)
        tally.requests += 1
        if len(answers) == 3:
            voted = bitwise_majority(answers)
        elif len(answers) == 2 and same(*answers):
            voted = answers[0]  # two that agree still outvote the missing one
        else:
            tally.no_majority += 1
            if len(answers) < 2:
                sats = replicas(client, station) or sats  # out of contact: choose again
            continue
        tally.voted += 1
        tally.voted_wrong += not same(voted, clean)
    return tally


def report(tally: Tally) -> None:
    def share(part: int, whole: int) -> str:
        return f"{part} of {whole} ({part / whole:.1%})" if whole else f"{part} of 0"

    print(f"requests:            {tally.requests} (each to three satellites)")
    print(f"single answers wrong: {share(tally.single_wrong, tally.single)}")
    print(f"  of which reported:  {share(tally.single_wrong_flagged, tally.single_wrong)}")
    print(f"voted answers wrong:  {share(tally.voted_wrong, tally.voted)}")
    print(f"no majority:          {tally.no_majority}")
    missing = ", ".join(f"{n} {cause}" for cause, n in sorted(tally.missing.items()))
    print(f"replicas missing:     {missing or 'none'}")


@contextlib.contextmanager
def emulation(folder: Path) -> Iterator[Path]:
    """``orbitmesh up`` on :data:`SCENARIO`; yields its endpoints file once written."""
    scenario = folder / "voting.toml"
    scenario.write_text(SCENARIO)
    endpoints = folder / "endpoints.json"
    up = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "orbitmesh",
            "up",
            str(scenario),
            "--quiet",
            "--endpoints",
            str(endpoints),
        ],
    )
    try:
        while not endpoints.exists():
            if up.poll() is not None:
                raise SystemExit(f"orbitmesh up exited with status {up.returncode}")
            time.sleep(0.5)
        yield endpoints
    finally:
        if up.poll() is None:
            up.send_signal(signal.SIGINT)
            up.wait(timeout=120)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--endpoints", type=Path, help="a running emulation's endpoints file")
    parser.add_argument(
        "--station",
        help="the ground station to go through (default: one "
        "that reaches three compute satellites)",
    )
    parser.add_argument("--duration-s", type=float, default=60.0, help="how long to vote")
    args = parser.parse_args(argv)
    if args.duration_s <= 0:
        parser.exit(2, f"{parser.prog}: --duration-s: must be positive, got {args.duration_s}\n")
    with contextlib.ExitStack() as stack:
        endpoints = args.endpoints
        if endpoints is None:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            endpoints = stack.enter_context(emulation(folder))
        try:
            client = stack.enter_context(Client.from_endpoints(endpoints))
        except EndpointsError as exc:
            parser.exit(2, f"{parser.prog}: --endpoints: {exc}\n")
        if args.station is not None and args.station not in client.stations:
            known = ", ".join(client.stations)
            parser.exit(2, f"{parser.prog}: --station: no station {args.station!r} ({known})\n")
        station = args.station or choose_station(client)
        report(vote(client, station, args.duration_s))
    return 0


if __name__ == "__main__":
    sys.exit(main())
