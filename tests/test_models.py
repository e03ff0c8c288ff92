"""Built-in models: real training, real ONNX export, real ONNX Runtime inference."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
from numpy.typing import NDArray

from orbitmesh.node.models import (
    BUILTIN_MODELS,
    CACHE_ENV_VAR,
    DigitsSplit,
    ModelCard,
    TensorSpec,
    default_cache_dir,
    ensure_model,
    load_digits_split,
    make_session,
)
from orbitmesh.node.models.cnn_numpy import (
    CnnParams,
    forward_probabilities,
    initial_params,
    loss_and_gradients,
)
from orbitmesh.node.models.digits_cnn import params_from_onnx
from orbitmesh.node.models.digits_linear import train_pipeline
from orbitmesh.node.models.registry import TRAINED_MODELS

ACCURACY_FLOOR = {"digits": 0.9, "digits-cnn": 0.95}
INPUT_SHAPE = {"digits": ("batch", 64), "digits-cnn": ("batch", 1, 8, 8)}


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Shared with tests/test_minilm.py (the same name under pytest's base temp folder),
    # so the command-line test below finds MiniLM built once per session.
    directory = tmp_path_factory.getbasetemp() / "shared-model-cache"
    directory.mkdir(exist_ok=True)
    return directory


@pytest.fixture(scope="session")
def cards(model_cache: Path) -> dict[str, ModelCard]:
    """The models trained and scored here; minilm, pre-trained, has tests/test_minilm.py."""
    return {name: ensure_model(name, model_cache) for name in TRAINED_MODELS}


@pytest.fixture(scope="session")
def split() -> DigitsSplit:
    return load_digits_split()


def run(
    card: ModelCard, rows: NDArray[np.float32]
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """(label, probabilities) from ONNX Runtime for rows of 64 pixels."""
    images = rows.reshape((-1, *(int(d) for d in card.inputs[0].shape[1:])))
    label, probabilities = make_session(card.path).run(
        ["label", "probabilities"], {"input": images}
    )
    return label, probabilities


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_builtin_names() -> None:
    assert BUILTIN_MODELS == ("digits", "digits-cnn", "minilm")
    assert TRAINED_MODELS == ("digits", "digits-cnn")


def test_split_is_fixed_and_stratified(split: DigitsSplit) -> None:
    assert split.x_train.shape == (1347, 64)
    assert split.x_test.shape == (450, 64)
    assert split.x_test.dtype == np.float32
    assert split.x_train.min() == 0
    assert split.x_train.max() == 16
    # Stratified: every digit is held out in proportion to its count.
    per_digit = np.bincount(split.y_train) + np.bincount(split.y_test)
    assert np.all(np.abs(np.bincount(split.y_test) - 0.25 * per_digit) <= 1)
    again = load_digits_split()
    np.testing.assert_array_equal(again.x_test, split.x_test)
    np.testing.assert_array_equal(again.y_test, split.y_test)


@pytest.mark.parametrize("name", TRAINED_MODELS)
def test_card_describes_the_file(cards: dict[str, ModelCard], name: str) -> None:
    card = cards[name]
    assert card.name == name
    assert card.path.name == f"{name}.onnx"
    assert card.sha256 == sha256_of(card.path)
    assert card.size_bytes == card.path.stat().st_size
    assert card.inputs == (TensorSpec("input", "float32", INPUT_SHAPE[name]),)
    assert card.served_inputs == card.inputs  # no preprocessing
    assert card.outputs == (
        TensorSpec("label", "int64", ("batch",)),
        TensorSpec("probabilities", "float32", ("batch", 10)),
    )
    assert card.held_out_samples == 450
    assert card.split is not None and card.held_out_accuracy is not None
    assert card.split["test_size"] == 0.25
    assert card.split["random_state"] == 0
    assert card.training_seconds is not None and card.training_seconds > 0
    assert {"scikit-learn", "onnx", "onnxruntime"} <= card.versions.keys()
    assert card.sources == {}  # nothing published was read
    on_disk = json.loads(card.path.with_suffix(".json").read_text())
    assert ModelCard.from_json(on_disk, card.path.parent) == card
    # The graph's own declared inputs agree with the card.
    graph = onnx.load(card.path).graph
    assert [i.name for i in graph.input] == ["input"]
    assert [o.name for o in graph.output] == ["label", "probabilities"]


@pytest.mark.parametrize("name", TRAINED_MODELS)
def test_held_out_accuracy(cards: dict[str, ModelCard], split: DigitsSplit, name: str) -> None:
    label, probabilities = run(cards[name], split.x_test)
    accuracy = float(np.mean(label == split.y_test))
    assert accuracy > ACCURACY_FLOOR[name]
    assert accuracy == pytest.approx(cards[name].held_out_accuracy, abs=1e-12)
    assert label.dtype == np.int64
    assert probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(label, probabilities.argmax(axis=1))


def test_digits_matches_the_sklearn_pipeline(
    cards: dict[str, ModelCard], split: DigitsSplit
) -> None:
    pipeline = train_pipeline(split.x_train, split.y_train)
    label, probabilities = run(cards["digits"], split.x_test)
    np.testing.assert_array_equal(label, pipeline.predict(split.x_test))
    np.testing.assert_allclose(probabilities, pipeline.predict_proba(split.x_test), atol=1e-5)


def test_cnn_matches_the_numpy_network(cards: dict[str, ModelCard], split: DigitsSplit) -> None:
    card = cards["digits-cnn"]
    params = params_from_onnx(onnx.load(card.path))
    expected = forward_probabilities(params, split.x_test.reshape(-1, 1, 8, 8))
    label, probabilities = run(card, split.x_test)
    np.testing.assert_allclose(probabilities, expected, rtol=0, atol=1e-4)
    np.testing.assert_array_equal(label, expected.argmax(axis=1))


def test_cnn_gradients_match_finite_differences(split: DigitsSplit) -> None:
    # float64 and random biases: with zero biases every background pixel sits exactly on
    # ReLU's kink, where a finite difference is one-sided.
    rng = np.random.default_rng(1)
    params = CnnParams(
        **{
            k: v.astype(np.float64) + 0.1 * rng.standard_normal(v.shape)
            for k, v in initial_params(rng).arrays().items()
        }
    )
    images = split.x_train[:8].reshape(-1, 1, 8, 8).astype(np.float64)
    labels = split.y_train[:8]
    _, grads = loss_and_gradients(params, images, labels)
    h = 1e-6
    for name, grad in grads.arrays().items():
        assert grad.dtype == np.float64
        direction = rng.standard_normal(grad.shape)

        def loss_at(
            t: float, name: str = name, direction: NDArray[np.float64] = direction
        ) -> float:
            moved = params.arrays()
            moved[name] = moved[name] + t * direction
            return loss_and_gradients(CnnParams(**moved), images, labels)[0]

        numeric = (loss_at(h) - loss_at(-h)) / (2 * h)
        assert numeric == pytest.approx(float(np.sum(grad * direction)), rel=1e-4), name


@pytest.mark.parametrize("batch", [1, 17])
@pytest.mark.parametrize("name", TRAINED_MODELS)
def test_dynamic_batch(
    cards: dict[str, ModelCard], split: DigitsSplit, name: str, batch: int
) -> None:
    rows = split.x_test[:batch]
    label, probabilities = run(cards[name], rows)
    assert label.shape == (batch,)
    assert probabilities.shape == (batch, 10)
    # Each row's answer does not depend on what else is in the batch.
    single = [run(cards[name], rows[i : i + 1])[1][0] for i in range(batch)]
    np.testing.assert_allclose(probabilities, np.stack(single), atol=1e-6)


def test_cache_is_reused(cards: dict[str, ModelCard], model_cache: Path) -> None:
    for name, card in cards.items():
        before = card.path.stat()
        again = ensure_model(name, model_cache)
        after = card.path.stat()
        assert again == card  # same build: created_utc has microseconds
        assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_cache_dir_from_environment(
    cards: dict[str, ModelCard], model_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CACHE_ENV_VAR, str(model_cache))
    assert default_cache_dir() == model_cache
    assert ensure_model("digits") == cards["digits"]
    monkeypatch.delenv(CACHE_ENV_VAR)
    monkeypatch.setenv("HOME", "/home/someone")
    assert default_cache_dir() == Path("/home/someone/.cache/orbitmesh/models")


def _flip_a_byte(directory: Path) -> None:
    path = directory / "digits.onnx"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _truncate(directory: Path) -> None:
    path = directory / "digits.onnx"
    path.write_bytes(path.read_bytes()[:100])


def _delete(directory: Path) -> None:
    (directory / "digits.onnx").unlink()


def _garble_card(directory: Path) -> None:
    (directory / "digits.json").write_text('{"format": 1, "name": "dig')


def _old_recipe(directory: Path) -> None:
    path = directory / "digits.json"
    data = json.loads(path.read_text())
    data["recipe_version"] = 0
    path.write_text(json.dumps(data))


@pytest.mark.parametrize(
    "damage",
    [_flip_a_byte, _truncate, _delete, _garble_card, _old_recipe],
    ids=lambda f: f.__name__,
)
def test_damaged_entry_is_rebuilt(
    cards: dict[str, ModelCard],
    split: DigitsSplit,
    tmp_path: Path,
    damage: Callable[[Path], None],
) -> None:
    good = cards["digits"]
    for suffix in (".onnx", ".json"):
        shutil.copy(good.path.with_suffix(suffix), tmp_path)
    leftover = tmp_path / ".digits.onnx.dead.tmp"  # from a builder that was killed
    leftover.write_bytes(b"partial")
    assert ensure_model("digits", tmp_path).created_utc == good.created_utc  # copy is valid
    damage(tmp_path)
    rebuilt = ensure_model("digits", tmp_path)
    assert rebuilt.created_utc != good.created_utc
    assert rebuilt.sha256 == good.sha256  # fixed seeds: the same model, byte for byte
    assert rebuilt.sha256 == sha256_of(rebuilt.path)
    assert not leftover.exists()
    label, _ = run(rebuilt, split.x_test)
    assert float(np.mean(label == split.y_test)) == rebuilt.held_out_accuracy


def test_concurrent_first_use_builds_once(tmp_path: Path) -> None:
    # Separate processes, as Ray actors are; spawn so none inherits this one's imports.
    with ProcessPoolExecutor(4, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(ensure_model, "digits", tmp_path) for _ in range(4)]
        results = [f.result(timeout=120) for f in futures]
    assert all(card == results[0] for card in results)  # one build, seen by every process
    assert results[0].sha256 == sha256_of(results[0].path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "digits.json",
        "digits.lock",
        "digits.onnx",
    ]


def test_unknown_model(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match=r"unknown model 'resnet50'.*digits, digits-cnn, minilm"):
        ensure_model("resnet50", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_session_is_single_threaded_and_does_not_spin(cards: dict[str, ModelCard]) -> None:
    session = make_session(cards["digits-cnn"].path)
    options = session.get_session_options()
    assert options.intra_op_num_threads == 1
    assert options.inter_op_num_threads == 1
    assert options.execution_mode == onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert options.get_session_config_entry("session.inter_op.allow_spinning") == "0"
    assert session.get_providers() == ["CPUExecutionProvider"]


def test_cli_prints_a_line_per_model(model_cache: Path, cards: dict[str, ModelCard]) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "orbitmesh.node.models",
            "--cache-dir",
            str(model_cache),
            "--runs",
            "20",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    lines = result.stdout.splitlines()
    for name in BUILTIN_MODELS:
        (line,) = [x for x in lines if x.startswith(f"{name} ")]
        if name in cards:
            assert f"accuracy {cards[name].held_out_accuracy:.4f}" in line
            assert "us/inference" in line
        elif "not built: " not in line:  # minilm, where the text extra and weights are
            assert "text -> embedding [batch, 384]" in line
            assert "us/inference" in line
