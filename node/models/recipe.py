"""What a built-in model recipe is: a name, a version and a function that trains and exports."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from orbitmesh.node.models.dataset import DigitsSplit

__all__ = ["BuiltModel", "Recipe"]


@dataclass(frozen=True)
class BuiltModel:
    onnx_bytes: bytes
    training_seconds: float  # fitting only; export and scoring are not counted
    seed: int


@dataclass(frozen=True)
class Recipe:
    name: str
    #: Bumped whenever the recipe changes what it builds, so cached copies are rebuilt.
    version: int
    description: str
    build: Callable[[DigitsSplit], BuiltModel]
