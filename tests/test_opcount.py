"""flops_per_item against counts done by hand, one multiply-add = 2 FLOPs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from orbitmesh.node.models.cache import ensure_model
from orbitmesh.node.models.cnn_numpy import initial_params
from orbitmesh.node.models.digits_cnn import export_onnx
from orbitmesh.node.models.opcount import flops_per_item


def weights(name: str, *shape: int) -> onnx.TensorProto:
    return numpy_helper.from_array(np.ones(shape, np.float32), name)


def model_of(
    nodes: list[onnx.NodeProto],
    inputs: list[onnx.ValueInfoProto],
    outputs: list[onnx.ValueInfoProto],
    initializers: list[onnx.TensorProto],
) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model


def floats(name: str, shape: list[int | str]) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def gemm_model() -> onnx.ModelProto:
    return model_of(
        [helper.make_node("Gemm", ["x", "w", "b"], ["y"])],
        [floats("x", ["N", 64])],
        [floats("y", ["N", 10])],
        [weights("w", 64, 10), weights("b", 10)],
    )


def test_gemm() -> None:
    # 64 x 10 multiply-adds, then one bias add per output.
    assert flops_per_item(gemm_model()) == 2 * 64 * 10 + 10  # 1290


def test_bytes_and_path_give_the_same_count(tmp_path: Path) -> None:
    model = gemm_model()
    path = tmp_path / "gemm.onnx"
    onnx.save(model, str(path))
    assert flops_per_item(model.SerializeToString()) == 1290
    assert flops_per_item(path) == 1290
    assert flops_per_item(str(path)) == 1290
    # The caller's model keeps its symbolic batch.
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"


def test_matmul_broadcasts_batch_axes() -> None:
    model = model_of(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        [floats("x", ["N", 3, 4, 5])],
        [floats("y", ["N", 3, 4, 6])],
        [weights("w", 5, 6)],
    )
    # 3 broadcast matrices of 4 x 5 times 5 x 6.
    assert flops_per_item(model) == 2 * 3 * 4 * 5 * 6  # 720


def test_small_conv_net() -> None:
    model = model_of(
        [
            helper.make_node("Conv", ["x", "cw", "cb"], ["c"], kernel_shape=[3, 3], pads=[0] * 4),
            helper.make_node("Relu", ["c"], ["r"]),
            helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
            helper.make_node("Flatten", ["p"], ["f"], axis=1),
            helper.make_node("Gemm", ["f", "dw", "db"], ["y"]),
        ],
        [floats("x", ["N", 1, 8, 8])],
        [floats("y", ["N", 10])],
        [weights("cw", 8, 1, 3, 3), weights("cb", 8), weights("dw", 72, 10), weights("db", 10)],
    )
    conv_out = 8 * 6 * 6  # 288 elements: 8 channels of 6 x 6
    conv = 2 * conv_out * 1 * 3 * 3 + conv_out  # 1 input channel x 3x3 kernel, plus bias
    relu = conv_out
    pool = (8 * 3 * 3) * (2 * 2)  # 72 outputs, each the max of 4
    gemm = 2 * 72 * 10 + 10  # flattened 8*3*3 = 72 into 10, plus bias
    assert conv + relu + pool + gemm == 7498
    assert flops_per_item(model) == 7498


def test_sequence_dimension() -> None:
    model = model_of(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        [floats("x", ["N", "S", 16])],
        [floats("y", ["N", "S", 16])],
        [weights("w", 16, 16)],
    )
    # 32 tokens, each a 16 x 16 matrix-vector product.
    assert flops_per_item(model, sequence_length=32) == 2 * 32 * 16 * 16  # 16384
    assert flops_per_item(model, sequence_length=64) == 2 * 2 * 32 * 16 * 16
    assert flops_per_item(model) == 2 * 128 * 16 * 16  # the default: 128 tokens


def test_digits_model(tmp_path: Path) -> None:
    # Trains and exports the logistic regression (about 2 s, mostly importing sklearn).
    card = ensure_model("digits", tmp_path)
    scaler = 2 * 64  # Scaler: (x - offset) * scale on 64 pixels
    linear = 2 * 64 * 10 + 10  # LinearClassifier: 64 x 10 multiply-adds plus intercepts
    softmax = 5 * 10  # its post_transform SOFTMAX over 10 classes
    normalizer = 2 * 10  # Normalizer L1 of the 10 probabilities
    assert scaler + linear + softmax + normalizer == 1488
    assert flops_per_item(card.path) == 1488


def test_digits_cnn_architecture() -> None:
    # Counts depend on the graph only, so untrained weights stand in for the trained model.
    model = export_onnx(initial_params(np.random.default_rng(0)))
    scale = 64  # Mul of the 8x8 input by 1/16
    conv1_out = 32 * 8 * 8  # pads 1 keep 8x8
    conv1 = 2 * conv1_out * 1 * 9 + conv1_out  # 1 input channel, 3x3 kernel, bias
    conv2_out = 64 * 8 * 8
    conv2 = 2 * conv2_out * 32 * 9 + conv2_out  # 32 input channels, 3x3 kernel, bias
    relus = conv1_out + conv2_out
    pool = (64 * 4 * 4) * 4  # 2x2 windows, stride 2
    dense = 2 * 1024 * 10 + 10
    softmax = 5 * 10
    expected = scale + conv1 + conv2 + relus + pool + dense + softmax
    assert expected == 2433148
    assert flops_per_item(model) == expected


def test_if_node_is_refused() -> None:
    def branch(name: str) -> onnx.GraphProto:
        return helper.make_graph(
            [helper.make_node("Identity", ["x"], [name])], name, [], [floats(name, ["N", 4])]
        )

    model = model_of(
        [
            helper.make_node(
                "If",
                ["cond"],
                ["y"],
                name="choose",
                then_branch=branch("a"),
                else_branch=branch("b"),
            )
        ],
        [helper.make_tensor_value_info("cond", TensorProto.BOOL, []), floats("x", ["N", 4])],
        [floats("y", ["N", 4])],
        [],
    )
    with pytest.raises(ValueError, match=r"^cannot count If node 'choose'"):
        flops_per_item(model)


def test_unknown_shape_is_refused() -> None:
    # An op of a foreign domain that onnx cannot infer a shape for feeds a MatMul.
    graph = helper.make_graph(
        [
            helper.make_node("Mystery", ["x"], ["m"], domain="example.custom"),
            helper.make_node("MatMul", ["m", "w"], ["y"], name="mm"),
        ],
        "g",
        [floats("x", ["N", 4])],
        [floats("y", ["N", 4])],
        initializer=[weights("w", 4, 4)],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("example.custom", 1)],
    )
    with pytest.raises(
        ValueError, match=r"^cannot count MatMul node 'mm': its shapes are unknown$"
    ):
        flops_per_item(model)
