"""The model cache: build on first use, reuse while the file matches its card.

Many satellite processes may ask for the same model at once. Readers need no lock: both
files are replaced atomically, the ``.onnx`` before its card, so a reader sees either a
complete entry or one whose hash does not match. Builders take an exclusive ``flock`` on
``<name>.lock`` and look again before building, so a model is built once, not once per
process.

A recipe that trains (the digits models) is fitted on the digits split and scored on
its held-out part; one that assembles a published model (``minilm``) is neither.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from orbitmesh.node.models.card import ModelCard, TensorSpec
from orbitmesh.node.models.dataset import SPLIT, DigitsSplit, load_digits_split
from orbitmesh.node.models.recipe import BuiltModel, Recipe
from orbitmesh.node.models.registry import recipe_for
from orbitmesh.node.models.scoring import held_out_accuracy

__all__ = ["CACHE_ENV_VAR", "default_cache_dir", "ensure_model"]

CACHE_ENV_VAR = "ORBITMESH_MODEL_CACHE"


def default_cache_dir() -> Path:
    """``$ORBITMESH_MODEL_CACHE`` if set, else ``~/.cache/orbitmesh/models``."""
    configured = os.environ.get(CACHE_ENV_VAR)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "orbitmesh" / "models"


def ensure_model(name: str, cache_dir: Path | None = None) -> ModelCard:
    """The card of built-in model ``name``, building and caching it first if needed.

    Raises KeyError for a name that is not in BUILTIN_MODELS, and ImportError (one line
    naming what to install) when a package the model needs is missing.
    """
    recipe = recipe_for(name)
    directory = cache_dir if cache_dir is not None else default_cache_dir()
    card = _cached_card(recipe, directory)
    if card is not None:
        return card
    directory.mkdir(parents=True, exist_ok=True)
    with _exclusive_lock(directory / f"{name}.lock"):
        # Another process may have built it while this one waited for the lock.
        card = _cached_card(recipe, directory)
        if card is None:
            card = _build(recipe, directory)
    return card


def _card_path(directory: Path, name: str) -> Path:
    return directory / f"{name}.json"


def _cached_card(recipe: Recipe, directory: Path) -> ModelCard | None:
    """The card if the entry is complete, current and intact; None means rebuild."""
    try:
        data = json.loads(_card_path(directory, recipe.name).read_text(encoding="utf-8"))
        card = ModelCard.from_json(data, directory)
        digest = _sha256(card.path.read_bytes())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if card.name != recipe.name or card.recipe_version != recipe.version:
        return None
    return card if digest == card.sha256 else None


def _build(recipe: Recipe, directory: Path) -> ModelCard:
    import onnx

    from orbitmesh.node.models.text_input import TEXT_INPUT, is_text_model

    _remove_leftovers(directory, recipe.name)
    split: DigitsSplit | None = None
    if recipe.train is not None:
        split = load_digits_split()
        built = recipe.train(split)
    else:
        assert recipe.assemble is not None  # Recipe checks it has one of the two
        built = recipe.assemble()
    model = onnx.load_model_from_string(built.onnx_bytes)
    inputs = tuple(_tensor_spec(v) for v in model.graph.input)
    outputs = tuple(_tensor_spec(v) for v in model.graph.output)
    served = inputs
    if is_text_model({p.key: p.value for p in model.metadata_props}):
        served = (TensorSpec(name=TEXT_INPUT, dtype="object", shape=("batch",)),)
    accuracy, samples, scored_on = _score(built, inputs, split)
    path = directory / f"{recipe.name}.onnx"
    card = ModelCard(
        name=recipe.name,
        recipe_version=recipe.version,
        description=recipe.description,
        path=path,
        sha256=_sha256(built.onnx_bytes),
        size_bytes=len(built.onnx_bytes),
        inputs=inputs,
        outputs=outputs,
        served_inputs=served,
        held_out_accuracy=accuracy,
        held_out_samples=samples,
        split=scored_on,
        seed=built.seed,
        training_seconds=(
            None if built.training_seconds is None else round(built.training_seconds, 3)
        ),
        opsets={op.domain: op.version for op in model.opset_import},
        versions={p: metadata.version(p) for p in recipe.packages},
        sources=dict(built.sources),
        # Microseconds tell two builds apart, so a reader can see whether one was redone.
        created_utc=datetime.now(UTC).isoformat(timespec="microseconds"),
    )
    _write_atomic(path, built.onnx_bytes)
    _write_atomic(_card_path(directory, recipe.name), card.dumps().encode("utf-8"))
    return card


def _score(
    built: BuiltModel, inputs: tuple[TensorSpec, ...], split: DigitsSplit | None
) -> tuple[float | None, int | None, dict[str, Any] | None]:
    """(held-out accuracy, samples, split) for a model trained on ``split``; Nones for
    a pre-trained one, which has no split to score on."""
    if split is None:
        return None, None, None
    accuracy = held_out_accuracy(built.onnx_bytes, inputs[0], split.x_test, split.y_test)
    return accuracy, len(split.y_test), dict(SPLIT)


def _tensor_spec(value: object) -> TensorSpec:
    from onnx import ValueInfoProto, helper

    assert isinstance(value, ValueInfoProto)
    tensor = value.type.tensor_type
    shape = tuple(d.dim_param if d.dim_param else int(d.dim_value) for d in tensor.shape.dim)
    dtype = helper.tensor_dtype_to_np_dtype(tensor.elem_type).name
    return TensorSpec(name=value.name, dtype=dtype, shape=shape)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@contextlib.contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _write_atomic(path: Path, data: bytes) -> None:
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp makes the file private; the cache may be shared between users.
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def _remove_leftovers(directory: Path, name: str) -> None:
    """Temp files of a builder that died; only a lock holder writes them, so none is live."""
    for suffix in ("onnx", "json"):
        for leftover in directory.glob(f".{name}.{suffix}.*.tmp"):
            with contextlib.suppress(OSError):
                leftover.unlink()
