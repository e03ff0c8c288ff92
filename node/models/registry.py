"""The built-in models by name."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from orbitmesh.node.models.dataset import DigitsSplit
from orbitmesh.node.models.recipe import BuiltModel, Recipe

__all__ = ["BUILTIN_MODELS", "RECIPES", "recipe_for"]


# Builders import their modules on call: sklearn, skl2onnx and onnx cost seconds to import,
# and a process that finds its models cached never needs them.
def _build_digits(split: DigitsSplit) -> BuiltModel:
    from orbitmesh.node.models.digits_linear import build

    return build(split)


def _build_digits_cnn(split: DigitsSplit) -> BuiltModel:
    from orbitmesh.node.models.digits_cnn import build

    return build(split)


RECIPES: Mapping[str, Recipe] = MappingProxyType(
    {
        recipe.name: recipe
        for recipe in (
            Recipe(
                name="digits",
                version=1,
                description="8x8 digit classifier: standardised pixels, logistic regression",
                build=_build_digits,
            ),
            Recipe(
                name="digits-cnn",
                version=1,
                description="8x8 digit CNN: conv3x3x32, conv3x3x64, maxpool, dense 10",
                build=_build_digits_cnn,
            ),
        )
    }
)

BUILTIN_MODELS: tuple[str, ...] = tuple(RECIPES)


def recipe_for(name: str) -> Recipe:
    try:
        return RECIPES[name]
    except KeyError:
        known = ", ".join(BUILTIN_MODELS)
        raise KeyError(f"unknown model {name!r}; built-in models: {known}") from None
