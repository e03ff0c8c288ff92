"""Search on-board data split across satellites, by meaning, through one ground station.

Each compute satellite of examples/semantic-search.toml holds one shard of a small
corpus and runs the app examples/semantic_search_app.py (``semantic-search``), which
embeds the query with ``minilm`` and answers with its own best documents. This client
asks the ``--satellites`` compute satellites nearest to the station (in light time over
the current routes), pinned with ``orbitmesh.satellite`` and all at once, merges their
answers into one ranking (a document held by several satellites is listed once, from
the satellite that answered with the best score, then the shortest links), and prints
each hit with its score, its satellite and the orbital latency of that satellite's
answer (modelled uplink + downlink; the round trip as the client measured it too).

Run it::

    orbitmesh up examples/semantic-search.toml --endpoints ep.json
    python examples/semantic_search.py --endpoints ep.json --station frankfurt \\
        "battery charge in eclipse" --satellites 4 --top 5

Satellites that fail to answer (out of contact, drained, ...) are reported and left out
of the ranking; only when none answers does the search fail (exit status 1). Bad
arguments print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, NoReturn

import numpy as np

from orbitmesh.ground.client import DEFAULT_TIMEOUT_S, AsyncClient, InferResult
from orbitmesh.ground.endpoints import Endpoints, load_endpoints
from orbitmesh.ground.errors import CallFailed, EndpointsError

APP: Final = "semantic-search"


class SearchFailed(Exception):
    """The search found no satellite to ask, or none answered."""


@dataclass(frozen=True)
class Answer:
    """One satellite's reply."""

    satellite: str
    shard: int
    shards: int
    hops: tuple[str, ...]
    uplink_ms: float | None  # modelled, simulated ms
    downlink_ms: float | None
    round_trip_ms: float  # wall time the client waited

    @property
    def orbital_ms(self) -> float | None:
        """Modelled time on the links, up and down (the satellite's own time aside)."""
        if self.uplink_ms is None or self.downlink_ms is None:
            return None
        return self.uplink_ms + self.downlink_ms


@dataclass(frozen=True)
class Hit:
    doc_id: int
    document: str
    score: float
    answer: Answer  # the reply it came in


@dataclass(frozen=True)
class Search:
    station: str
    query: str
    hits: list[Hit]  # best first
    answers: list[Answer]  # in the order the satellites were asked
    failed: dict[str, str]  # satellite -> why it did not answer


def _text(value: str) -> np.ndarray[Any, np.dtype[np.object_]]:
    array = np.empty(1, dtype=object)
    array[0] = value.encode("utf-8")
    return array


async def nearest_satellites(client: AsyncClient, station: str, count: int) -> list[str]:
    """The ``count`` compute satellites the station reaches soonest now."""
    routes = sorted((await client.routes(station)).routes, key=lambda r: r.delay_ms)
    return [str(r.destination_id) for r in routes[:count]]


def _answer(result: InferResult) -> tuple[Answer, list[Hit]]:
    answer = Answer(
        satellite=result["satellite"][0].decode(),
        shard=int(result["shard"][0]),
        shards=int(result["shards"][0]),
        hops=result.hops,
        uplink_ms=result.uplink_ms,
        downlink_ms=result.downlink_ms,
        round_trip_ms=result.latency_ms,
    )
    hits = [
        Hit(int(i), bytes(d).decode("utf-8"), float(s), answer)
        for i, d, s in zip(result["ids"], result["documents"], result["scores"], strict=True)
    ]
    return answer, hits


def merge(hits: Sequence[Hit], top: int) -> list[Hit]:
    """The global top ``top``: each document once (shards may be held by several
    satellites), best score first; among copies of one document the best score, then
    the shortest links, is kept."""

    def preference(hit: Hit) -> tuple[float, float]:
        orbital = hit.answer.orbital_ms
        return (-hit.score, orbital if orbital is not None else float("inf"))

    best: dict[int, Hit] = {}
    for hit in hits:
        kept = best.get(hit.doc_id)
        if kept is None or preference(hit) < preference(kept):
            best[hit.doc_id] = hit
    return sorted(best.values(), key=lambda h: (-h.score, h.doc_id))[:top]


async def search_async(
    endpoints: Endpoints,
    station: str,
    query: str,
    *,
    satellites: int = 4,
    top: int = 5,
    timeout_s: float | None = DEFAULT_TIMEOUT_S,
) -> Search:
    """Ask the ``satellites`` compute satellites nearest ``station`` for their ``top``
    documents for ``query``, at once, and merge the answers.

    ValueError for bad arguments, :class:`~orbitmesh.ground.errors.UnknownStation` for a
    station the endpoints lack, :class:`SearchFailed` when no satellite answers."""
    if not query.strip():
        raise ValueError("the query is empty")
    if satellites < 1:
        raise ValueError(f"--satellites must be at least 1, got {satellites}")
    if top < 1:
        raise ValueError(f"--top must be at least 1, got {top}")
    async with AsyncClient(endpoints) as client:
        chosen = await nearest_satellites(client, station, satellites)
        if not chosen:
            raise SearchFailed(f"{station} reaches no compute satellite now; try later")
        # Every satellite returns its own top `top`: enough for any global top `top`.
        calls = [
            client.infer(
                station,
                APP,
                {"query": _text(query)},
                satellite=sid,
                parameters={"top_k": top},
                timeout_s=timeout_s,
            )
            for sid in chosen
        ]
        results = await asyncio.gather(*calls, return_exceptions=True)
    answers: list[Answer] = []
    hits: list[Hit] = []
    failed: dict[str, str] = {}
    for sid, result in zip(chosen, results, strict=True):
        if isinstance(result, CallFailed):
            failed[sid] = str(result)
        elif isinstance(result, BaseException):
            raise result
        else:
            answer, found = _answer(result)
            answers.append(answer)
            hits.extend(found)
    if not answers:
        reasons = "; ".join(f"{sid}: {why}" for sid, why in failed.items())
        raise SearchFailed(f"no satellite answered ({reasons})")
    return Search(station, query, merge(hits, top), answers, failed)


def search(
    endpoints: Endpoints,
    station: str,
    query: str,
    *,
    satellites: int = 4,
    top: int = 5,
    timeout_s: float | None = DEFAULT_TIMEOUT_S,
) -> Search:
    """:func:`search_async`, from code that is not a coroutine."""
    return asyncio.run(
        search_async(endpoints, station, query, satellites=satellites, top=top, timeout_s=timeout_s)
    )


def _ms(value: float | None) -> str:
    return "?" if value is None else f"{value:.1f} ms"


def report(result: Search) -> None:
    shards = sorted({a.shard for a in result.answers})
    print(
        f"asked {len(result.answers) + len(result.failed)} satellites through "
        f"{result.station}; shards searched: {', '.join(map(str, shards))} "
        f"of {result.answers[0].shards}"
    )
    for a in result.answers:
        print(
            f"  {a.satellite:<14} shard {a.shard}  {len(a.hops)} hops  "
            f"orbital {_ms(a.orbital_ms)} (up {_ms(a.uplink_ms)}, down {_ms(a.downlink_ms)})  "
            f"round trip {_ms(a.round_trip_ms)}"
        )
    for sid, why in result.failed.items():
        print(f"  {sid:<14} no answer: {why}")
    print(f'top {len(result.hits)} for "{result.query}":')
    for rank, hit in enumerate(result.hits, 1):
        print(
            f"  {rank}. {hit.score:.4f}  {hit.answer.satellite:<14} "
            f"{_ms(hit.answer.orbital_ms):>9}  {hit.document}"
        )


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, without the usage argparse prints first (--help shows it).
        self.exit(2, f"{self.prog}: {message}\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _Parser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("query", help="what to look for, in words")
    parser.add_argument(
        "--endpoints", type=Path, required=True, help="the endpoints file `orbitmesh up` wrote"
    )
    parser.add_argument("--station", required=True, help="the ground station to go through")
    parser.add_argument(
        "--satellites", type=int, default=4, help="compute satellites to ask (default 4)"
    )
    parser.add_argument("--top", type=int, default=5, help="hits to print (default 5)")
    args = parser.parse_args(argv)

    try:
        endpoints = load_endpoints(args.endpoints)
    except EndpointsError as exc:
        parser.error(f"--endpoints: {' '.join(str(exc).split())}")
    if args.station not in endpoints.ground_stations:
        known = ", ".join(endpoints.ground_stations)
        parser.error(f"--station: no station {args.station!r} ({known})")
    try:
        result = search(
            endpoints, args.station, args.query, satellites=args.satellites, top=args.top
        )
    except ValueError as exc:
        parser.error(str(exc))
    except (SearchFailed, CallFailed) as exc:
        print(f"{parser.prog}: {exc}", file=sys.stderr)
        return 1
    report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
