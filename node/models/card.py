"""Model cards: what a cached model is, how well it scored, and how to check its file.

A card is written as JSON beside its ``.onnx`` file, after the file, so a card that exists
and whose sha256 matches the file marks a complete cache entry. A pre-trained model
(``minilm``) has no split, score, seed or training time (null in JSON); it names the
published files it was built from instead (``sources``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["CARD_FORMAT", "ModelCard", "TensorSpec"]

_T = TypeVar("_T")

#: Bumped when the card's JSON layout changes; older cards are then rebuilt.
#: 2: ``served_inputs`` and ``sources``; the training and scoring fields may be null.
CARD_FORMAT = 2


@dataclass(frozen=True)
class TensorSpec:
    """One graph input or output; a string dimension (``"batch"``) is dynamic."""

    name: str
    dtype: str  # numpy dtype name: "float32", "int64"; "object" for UTF-8 bytes (text)
    shape: tuple[int | str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TensorSpec:
        shape = tuple(d if isinstance(d, str) else int(d) for d in data["shape"])
        return cls(name=str(data["name"]), dtype=str(data["dtype"]), shape=shape)


@dataclass(frozen=True)
class ModelCard:
    name: str
    recipe_version: int
    description: str
    path: Path  # the .onnx file; the card stores only its name, so a cache can move
    sha256: str
    size_bytes: int
    inputs: tuple[TensorSpec, ...]  # the graph's
    outputs: tuple[TensorSpec, ...]
    #: What clients send: the graph's inputs, or text for a model that tokenises first.
    served_inputs: tuple[TensorSpec, ...]
    held_out_accuracy: float | None  # None: a pre-trained model, not scored here
    held_out_samples: int | None
    split: dict[str, Any] | None
    seed: int | None
    training_seconds: float | None
    opsets: dict[str, int]  # domain ("" is the default ONNX domain) -> version
    versions: dict[str, str]  # package -> version used to train, export and score
    sources: dict[str, str]  # published file -> where it came from, with its sha256
    created_utc: str

    def to_json(self) -> dict[str, Any]:
        return {
            "format": CARD_FORMAT,
            "name": self.name,
            "recipe_version": self.recipe_version,
            "description": self.description,
            "file": self.path.name,
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "inputs": [t.to_json() for t in self.inputs],
            "outputs": [t.to_json() for t in self.outputs],
            "served_inputs": [t.to_json() for t in self.served_inputs],
            "held_out_accuracy": self.held_out_accuracy,
            "held_out_samples": self.held_out_samples,
            "split": self.split,
            "seed": self.seed,
            "training_seconds": self.training_seconds,
            "opsets": self.opsets,
            "versions": self.versions,
            "sources": self.sources,
            "created_utc": self.created_utc,
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2) + "\n"

    @classmethod
    def from_json(cls, data: dict[str, Any], directory: Path) -> ModelCard:
        """Raises ValueError (or KeyError/TypeError) for a card this code cannot read."""
        if data.get("format") != CARD_FORMAT:
            raise ValueError(f"card format {data.get('format')!r}, expected {CARD_FORMAT}")
        return cls(
            name=str(data["name"]),
            recipe_version=int(data["recipe_version"]),
            description=str(data["description"]),
            path=directory / Path(str(data["file"])).name,
            sha256=str(data["sha256"]),
            size_bytes=int(data["size_bytes"]),
            inputs=tuple(TensorSpec.from_json(t) for t in data["inputs"]),
            outputs=tuple(TensorSpec.from_json(t) for t in data["outputs"]),
            served_inputs=tuple(TensorSpec.from_json(t) for t in data["served_inputs"]),
            held_out_accuracy=_optional(float, data["held_out_accuracy"]),
            held_out_samples=_optional(int, data["held_out_samples"]),
            split=_optional(dict, data["split"]),
            seed=_optional(int, data["seed"]),
            training_seconds=_optional(float, data["training_seconds"]),
            opsets={str(k): int(v) for k, v in data["opsets"].items()},
            versions={str(k): str(v) for k, v in data["versions"].items()},
            sources={str(k): str(v) for k, v in data["sources"].items()},
            created_utc=str(data["created_utc"]),
        )


def _optional(kind: Callable[[Any], _T], value: Any) -> _T | None:
    return None if value is None else kind(value)
