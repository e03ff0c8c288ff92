"""``python -m orbitmesh.node.models``: build every built-in model and report it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from orbitmesh.node.models.cache import CACHE_ENV_VAR, default_cache_dir, ensure_model
from orbitmesh.node.models.card import ModelCard
from orbitmesh.node.models.dataset import load_digits_split
from orbitmesh.node.models.latency import p50_latency_ms
from orbitmesh.node.models.onnx_session import make_session
from orbitmesh.node.models.registry import BUILTIN_MODELS
from orbitmesh.node.models.scoring import as_model_input

_BATCH = 64
_TEXT_BATCH = 8
_SENTENCE = "A satellite serves sentence embeddings from low Earth orbit."


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m orbitmesh.node.models",
        description="Build the built-in models and report them.",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help=f"default: ${CACHE_ENV_VAR}, else ~/.cache/orbitmesh/models",
    )
    parser.add_argument("--runs", type=int, default=200, help="timed runs per latency figure")
    args = parser.parse_args(argv)
    cache_dir: Path = args.cache_dir or default_cache_dir()
    print(f"cache: {cache_dir}")
    split = load_digits_split()
    for name in BUILTIN_MODELS:
        try:
            card = ensure_model(name, cache_dir)
        except ImportError as exc:  # a pre-trained model's packages: the message says which
            print(f"{name:<12} not built: {exc}")
            continue
        if card.held_out_accuracy is None:
            print(_text_line(card, args.runs))
            continue
        session = make_session(card.path)
        spec = card.inputs[0]
        one_ms = p50_latency_ms(
            session, {spec.name: as_model_input(split.x_test[:1], spec)}, args.runs
        )
        # Batch 1 is mostly per-call overhead; a full batch shows what the compute costs.
        batch_ms = p50_latency_ms(
            session, {spec.name: as_model_input(split.x_test[:_BATCH], spec)}, args.runs
        )
        print(
            f"{name:<12} accuracy {card.held_out_accuracy:.4f} "
            f"({card.held_out_samples} held out)  size {card.size_bytes / 1024:6.1f} KiB  "
            f"p50 {one_ms * 1000:6.1f} us/inference at batch 1, "
            f"{batch_ms * 1000:7.1f} us/batch of {_BATCH} ({args.runs} runs)  "
            f"trained in {card.training_seconds:.2f} s"
        )


class _Served:
    """A model as a satellite serves it (tokenising first), timed like a session."""

    def __init__(self, card: ModelCard) -> None:
        from orbitmesh.node.runtime import ModelRuntime

        self._model = ModelRuntime({card.name: card.path}).models[card.name]

    def run(self, names: None, feed: dict[str, NDArray[Any]]) -> Any:
        return self._model.run(feed, names)


def _text_line(card: ModelCard, runs: int) -> str:
    """A pre-trained text model: latency from text in to embeddings out."""
    served = _Served(card)
    sentences = np.array([_SENTENCE.encode()] * _TEXT_BATCH, dtype=object)
    (text,) = card.served_inputs
    one_ms = p50_latency_ms(served, {text.name: sentences[:1]}, runs)
    batch_ms = p50_latency_ms(served, {text.name: sentences}, runs)
    (output,) = card.outputs
    shape = ", ".join(str(d) for d in output.shape)
    return (
        f"{card.name:<12} text -> {output.name} [{shape}]  "
        f"size {card.size_bytes / 1024:6.1f} KiB  "
        f"p50 {one_ms * 1000:6.1f} us/inference at batch 1, "
        f"{batch_ms * 1000:7.1f} us/batch of {_TEXT_BATCH} ({runs} runs)  "
        "pre-trained, not scored here"
    )


if __name__ == "__main__":
    main()
