"""``python -m orbitmesh.node.models``: build every built-in model and report it."""

from __future__ import annotations

import argparse
from pathlib import Path

from orbitmesh.node.models.cache import CACHE_ENV_VAR, default_cache_dir, ensure_model
from orbitmesh.node.models.dataset import load_digits_split
from orbitmesh.node.models.latency import p50_latency_ms
from orbitmesh.node.models.onnx_session import make_session
from orbitmesh.node.models.registry import BUILTIN_MODELS
from orbitmesh.node.models.scoring import as_model_input

_BATCH = 64


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
        card = ensure_model(name, cache_dir)
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


if __name__ == "__main__":
    main()
