"""``digits``: standardised pixels into multinomial logistic regression, via skl2onnx."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from numpy.typing import NDArray

from orbitmesh.node.models.dataset import DigitsSplit
from orbitmesh.node.models.recipe import BuiltModel

__all__ = ["SEED", "build", "export_onnx", "make_pipeline", "train_pipeline"]

SEED = 0
_TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}


def make_pipeline() -> Any:
    """The unfitted sklearn Pipeline (sklearn is untyped, hence Any)."""
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
    from sklearn.pipeline import Pipeline  # type: ignore[import-untyped]
    from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped]

    pipeline = Pipeline(
        [
            ("scale", StandardScaler()),
            ("classify", LogisticRegression(max_iter=1000, random_state=SEED)),
        ]
    )
    return pipeline


def train_pipeline(x_train: NDArray[np.float32], y_train: NDArray[np.int64]) -> Any:
    """The fitted Pipeline; lbfgs is deterministic, so refitting gives the same model."""
    return make_pipeline().fit(x_train, y_train)


def export_onnx(pipeline: Any) -> bytes:
    """Input ``input`` float32 [batch, 64]; outputs ``label`` and ``probabilities``."""
    from skl2onnx import convert_sklearn  # type: ignore[import-untyped]
    from skl2onnx.common.data_types import (  # type: ignore[import-untyped]
        FloatTensorType,
        Int64TensorType,
    )

    n_classes = len(pipeline.classes_)
    model = convert_sklearn(
        pipeline,
        name="digits",
        initial_types=[("input", FloatTensorType([None, 64]))],
        final_types=[
            ("label", Int64TensorType([None])),
            ("probabilities", FloatTensorType([None, n_classes])),
        ],
        # ZipMap would turn probabilities into a list of dicts; a tensor travels better.
        options={"zipmap": False},
        target_opset=_TARGET_OPSET,
    )
    for value in [*model.graph.input, *model.graph.output]:
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    return bytes(model.SerializeToString())


def build(split: DigitsSplit) -> BuiltModel:
    pipeline = make_pipeline()  # outside the timing: its first call imports sklearn
    start = time.perf_counter()
    pipeline.fit(split.x_train, split.y_train)
    seconds = time.perf_counter() - start
    return BuiltModel(onnx_bytes=export_onnx(pipeline), training_seconds=seconds, seed=SEED)
