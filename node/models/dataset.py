"""The digits data set and the one held-out split every built-in model is scored on."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

__all__ = ["SPLIT", "DigitsSplit", "load_digits_split"]

#: How the held-out split is drawn; recorded on every model card.
SPLIT: dict[str, object] = {
    "dataset": "sklearn.datasets.load_digits",
    "test_size": 0.25,
    "random_state": 0,
    "stratify": True,
}


class DigitsSplit(NamedTuple):
    """Images as float32 rows of 64 pixels on the 0..16 scale, labels as int64."""

    x_train: NDArray[np.float32]
    x_test: NDArray[np.float32]
    y_train: NDArray[np.int64]
    y_test: NDArray[np.int64]


def load_digits_split() -> DigitsSplit:
    """The bundled 8x8 digits (1,797 images, no download), split 75/25, stratified, seed 0."""
    # sklearn is imported here, not at module level, so that actors that only load a
    # cached model never pay for importing it.
    from sklearn.datasets import load_digits  # type: ignore[import-untyped]
    from sklearn.model_selection import train_test_split  # type: ignore[import-untyped]

    images, labels = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        images.astype(np.float32),
        labels.astype(np.int64),
        test_size=SPLIT["test_size"],
        random_state=SPLIT["random_state"],
        stratify=labels,
    )
    return DigitsSplit(x_train, x_test, y_train, y_test)
