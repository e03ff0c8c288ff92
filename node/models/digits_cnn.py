"""``digits-cnn``: the numpy-trained convolutional network written out as an ONNX graph.

Graph: input * 1/16 -> Conv 3x3 (32) -> Relu -> Conv 3x3 (64) -> Relu -> MaxPool 2x2 ->
Flatten -> Gemm (10) = logits; ``probabilities`` = Softmax(logits), ``label`` =
ArgMax(logits). The input keeps load_digits' 0..16 pixel scale; the graph normalises it.
"""

from __future__ import annotations

import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from orbitmesh.node.models.cnn_numpy import (
    CONV1_CHANNELS,
    CONV2_CHANNELS,
    IMAGE_SIDE,
    INPUT_SCALE,
    N_CLASSES,
    CnnParams,
    train_cnn,
)
from orbitmesh.node.models.dataset import DigitsSplit
from orbitmesh.node.models.recipe import BuiltModel

__all__ = ["EPOCHS", "SEED", "build", "export_onnx", "params_from_onnx"]

SEED = 0
EPOCHS = 10
_OPSET = 17
_IR_VERSION = 8  # the IR that goes with opset 17; readable by any onnxruntime >= 1.13


def export_onnx(params: CnnParams) -> onnx.ModelProto:
    side = IMAGE_SIDE
    initializers = [numpy_helper.from_array(a, name) for name, a in params.arrays().items()]
    initializers.append(numpy_helper.from_array(np.array(INPUT_SCALE, np.float32), "input_scale"))
    nodes = [
        helper.make_node("Mul", ["input", "input_scale"], ["scaled"]),
        helper.make_node(
            "Conv", ["scaled", "conv1_w", "conv1_b"], ["conv1"], kernel_shape=[3, 3], pads=[1] * 4
        ),
        helper.make_node("Relu", ["conv1"], ["relu1"]),
        helper.make_node(
            "Conv", ["relu1", "conv2_w", "conv2_b"], ["conv2"], kernel_shape=[3, 3], pads=[1] * 4
        ),
        helper.make_node("Relu", ["conv2"], ["relu2"]),
        helper.make_node("MaxPool", ["relu2"], ["pooled"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "dense_w", "dense_b"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
        helper.make_node("ArgMax", ["logits"], ["label"], axis=1, keepdims=0),
    ]
    graph = helper.make_graph(
        nodes,
        "digits_cnn",
        inputs=[
            helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 1, side, side])
        ],
        outputs=[
            helper.make_tensor_value_info("label", TensorProto.INT64, ["batch"]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", N_CLASSES]),
        ],
        initializer=initializers,
    )
    model = helper.make_model(
        graph,
        producer_name="orbitmesh",
        opset_imports=[helper.make_opsetid("", _OPSET)],
        ir_version=_IR_VERSION,
        doc_string=(
            f"8x8 digits CNN: conv3x3x{CONV1_CHANNELS}, conv3x3x{CONV2_CHANNELS}, "
            "maxpool 2, dense 10; input pixels 0..16"
        ),
    )
    onnx.checker.check_model(model, full_check=True)
    return model


def params_from_onnx(model: onnx.ModelProto) -> CnnParams:
    """The weights back out of an exported graph, to check it against the numpy network."""
    arrays = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    return CnnParams(
        conv1_w=arrays["conv1_w"],
        conv1_b=arrays["conv1_b"],
        conv2_w=arrays["conv2_w"],
        conv2_b=arrays["conv2_b"],
        dense_w=arrays["dense_w"],
        dense_b=arrays["dense_b"],
    )


def build(split: DigitsSplit) -> BuiltModel:
    images = split.x_train.reshape(-1, 1, IMAGE_SIDE, IMAGE_SIDE)
    start = time.perf_counter()
    params = train_cnn(images, split.y_train, seed=SEED, epochs=EPOCHS)
    seconds = time.perf_counter() - start
    model = export_onnx(params)
    return BuiltModel(onnx_bytes=model.SerializeToString(), training_seconds=seconds, seed=SEED)
