"""What a built-in model recipe is: a name, a version and how the model is made.

Most built-in models are trained here on the digits split and scored on its held-out
part (``train``); a published, pre-trained model is assembled from its weights and has
neither a split nor a score (``assemble``). A recipe has exactly one of the two.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from orbitmesh.node.models.dataset import DigitsSplit

__all__ = ["TRAINED_PACKAGES", "BuiltModel", "Recipe"]

#: What the digits models are trained, exported and scored with; their cards record it.
TRAINED_PACKAGES = ("scikit-learn", "skl2onnx", "onnx", "onnxruntime", "numpy")


@dataclass(frozen=True)
class BuiltModel:
    onnx_bytes: bytes
    training_seconds: float | None = None  # fitting only; None: nothing was trained
    seed: int | None = None
    #: Where an assembled model's published files came from (name -> source, sha256).
    sources: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Recipe:
    name: str
    #: Bumped whenever the recipe changes what it builds, so cached copies are rebuilt.
    version: int
    description: str
    #: Trains on the digits split; the cache then scores it on the split's held-out part.
    train: Callable[[DigitsSplit], BuiltModel] | None = None
    #: Builds a pre-trained model from its published files: no split, no score.
    assemble: Callable[[], BuiltModel] | None = None
    #: Distributions whose versions the model's card records.
    packages: tuple[str, ...] = TRAINED_PACKAGES

    def __post_init__(self) -> None:
        if (self.train is None) == (self.assemble is None):
            raise ValueError(f"recipe {self.name!r}: give exactly one of train and assemble")
