"""Model cards: what a cached model is, how well it scored, and how to check its file.

A card is written as JSON beside its ``.onnx`` file, after the file, so a card that exists
and whose sha256 matches the file marks a complete cache entry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["CARD_FORMAT", "ModelCard", "TensorSpec"]

#: Bumped when the card's JSON layout changes; older cards are then rebuilt.
CARD_FORMAT = 1


@dataclass(frozen=True)
class TensorSpec:
    """One graph input or output; a string dimension (``"batch"``) is dynamic."""

    name: str
    dtype: str  # numpy dtype name: "float32", "int64"
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
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    held_out_accuracy: float
    held_out_samples: int
    split: dict[str, Any]
    seed: int
    training_seconds: float
    opsets: dict[str, int]  # domain ("" is the default ONNX domain) -> version
    versions: dict[str, str]  # package -> version used to train, export and score
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
            "held_out_accuracy": self.held_out_accuracy,
            "held_out_samples": self.held_out_samples,
            "split": self.split,
            "seed": self.seed,
            "training_seconds": self.training_seconds,
            "opsets": self.opsets,
            "versions": self.versions,
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
            held_out_accuracy=float(data["held_out_accuracy"]),
            held_out_samples=int(data["held_out_samples"]),
            split=dict(data["split"]),
            seed=int(data["seed"]),
            training_seconds=float(data["training_seconds"]),
            opsets={str(k): int(v) for k, v in data["opsets"].items()},
            versions={str(k): str(v) for k, v in data["versions"].items()},
            created_utc=str(data["created_utc"]),
        )
