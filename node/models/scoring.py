"""Scoring an exported model with ONNX Runtime, the way a satellite will run it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from orbitmesh.node.models.card import TensorSpec
from orbitmesh.node.models.onnx_session import make_session

__all__ = ["LABEL_OUTPUT", "as_model_input", "held_out_accuracy"]

#: Every built-in classifier names its predicted class this way.
LABEL_OUTPUT = "label"


def as_model_input(rows: NDArray[Any], spec: TensorSpec) -> NDArray[np.float32]:
    """Rows of 64 pixels reshaped to the model's input (``[N, 64]`` or ``[N, 1, 8, 8]``)."""
    feature_shape = tuple(int(d) for d in spec.shape[1:])
    return np.ascontiguousarray(rows, dtype=np.float32).reshape((-1, *feature_shape))


def held_out_accuracy(
    model: Path | bytes, input_spec: TensorSpec, rows: NDArray[Any], labels: NDArray[Any]
) -> float:
    session = make_session(model)
    feed = {input_spec.name: as_model_input(rows, input_spec)}
    (predicted,) = session.run([LABEL_OUTPUT], feed)
    return float(np.mean(predicted == labels))
