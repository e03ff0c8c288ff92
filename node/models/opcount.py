"""Floating-point operations of one inference per batch item, counted from an ONNX graph.

An emulated accelerator whose latency for a model is not given estimates it as
``flops_per_item(model) / (sustained TFLOPS * 1e12)``. A multiply-add counts as 2 FLOPs.

Counted: MatMul, Gemm, Conv and ConvTranspose (2 per multiply-add, plus 1 per output
element for a bias); elementwise ops at 1 per output element (Add, Sub, Mul, Div, Relu,
Sigmoid, Tanh, Erf, Exp, Sqrt, Pow), BatchNormalization 2, Softmax 5, LayerNormalization 8
and Gelu 8 per element; ReduceMean and ReduceSum 1 per input element; MaxPool and
AveragePool the kernel's size per output element. From ``ai.onnx.ml`` (what skl2onnx
writes): Scaler and Normalizer 2 per element, LinearClassifier and LinearRegressor as a
Gemm plus their post transform (softmax 5, others 1 per output element). Every other op
(Reshape, Transpose, Gather, Cast, Concat, ArgMax, ...) counts 0.

It is an estimate of arithmetic only: memory traffic, kernel launches, data movement ops
and the runtime's fusions are not modelled, so memory-bound models run slower than it says.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence

import onnx

__all__ = ["flops_per_item"]

Shape = tuple[int, ...]

# FLOPs per output element.
_PER_OUTPUT_ELEMENT: Mapping[str, int] = {
    **dict.fromkeys(
        ("Add", "Sub", "Mul", "Div", "Relu", "Sigmoid", "Tanh", "Erf", "Exp", "Sqrt", "Pow"), 1
    ),
    "BatchNormalization": 2,
    "Softmax": 5,
    "LayerNormalization": 8,
    "Gelu": 8,
    "Scaler": 2,  # (x - offset) * scale
    "Normalizer": 2,  # accumulate the norm, divide by it
}
# FLOPs per input element.
_PER_INPUT_ELEMENT: Mapping[str, int] = {"ReduceMean": 1, "ReduceSum": 1}
# ai.onnx.ml ops that keep their input's shape but that onnx infers no shape for; without
# it every op after them would be unknown.
_SHAPE_KEEPING_ML = frozenset({"Scaler", "Normalizer"})
_POST_TRANSFORM_PER_ELEMENT: Mapping[str, int] = {"NONE": 0, "SOFTMAX": 5, "SOFTMAX_ZERO": 5}


class _UnknownShape(Exception):
    """A shape a count needs is not known; turned into the public ValueError."""


def flops_per_item(
    model: onnx.ModelProto | bytes | str | os.PathLike[str], *, sequence_length: int = 128
) -> float:
    """FLOPs of one inference for one batch item (the first dimension of every input is 1).

    Any other symbolic or unknown input dimension is taken as ``sequence_length`` (the
    token count of a text model). Raises ValueError for ops with subgraphs (If, Loop, Scan)
    or model-local functions, and for a counted node whose shapes stay unknown.
    """
    if sequence_length < 1:
        raise ValueError(f"sequence_length must be at least 1, not {sequence_length}")
    if isinstance(model, onnx.ModelProto):
        concrete = onnx.ModelProto()
        concrete.CopyFrom(model)  # the caller's model is left as it was
    elif isinstance(model, bytes):
        concrete = onnx.load_from_string(model)
    else:
        concrete = onnx.load(os.fspath(model))
    for node in concrete.graph.node:
        refusal = _unsupported(node, concrete)
        if refusal:
            raise ValueError(f"cannot count {node.op_type} node {node.name!r}: {refusal}")
    _fix_input_dims(concrete.graph, sequence_length)
    shapes = _infer_shapes(concrete)
    total = 0
    for node in concrete.graph.node:
        try:
            total += _node_flops(node, shapes)
        except _UnknownShape:
            raise ValueError(
                f"cannot count {node.op_type} node {node.name!r}: its shapes are unknown"
            ) from None
    return float(total)


def _unsupported(node: onnx.NodeProto, model: onnx.ModelProto) -> str:
    """Why a node cannot be counted from the main graph alone ("" if it can)."""
    if any(
        a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute
    ):
        return "ops with subgraphs are not supported"
    if any(f.domain == node.domain and f.name == node.op_type for f in model.functions):
        return "model-local functions are not supported"
    return ""


def _fix_input_dims(graph: onnx.GraphProto, sequence_length: int) -> None:
    """Batch 1 on axis 0, ``sequence_length`` on any other open axis; shapes declared
    further on with open dimensions are dropped so that inference writes them anew."""
    initialized = {t.name for t in graph.initializer}
    for value in graph.input:
        if value.name in initialized or not value.type.tensor_type.HasField("shape"):
            continue
        for axis, dim in enumerate(value.type.tensor_type.shape.dim):
            if not dim.HasField("dim_value"):
                dim.dim_value = 1 if axis == 0 else sequence_length  # clears dim_param
    for value in [*graph.value_info, *graph.output]:
        tensor = value.type.tensor_type
        if tensor.HasField("shape") and _shape_of(value) is None:
            tensor.ClearField("shape")


def _infer_shapes(model: onnx.ModelProto) -> dict[str, Shape]:
    """Every fully known tensor shape by name, after onnx's inference (repeated while
    the ai.onnx.ml ops it cannot see through gain a shape from their input)."""
    while True:
        model = onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
        shapes = _known_shapes(model.graph)
        added = False
        for node in model.graph.node:
            if node.op_type not in _SHAPE_KEEPING_ML or not node.input or not node.output:
                continue
            source, target = node.input[0], node.output[0]
            if source in shapes and target not in shapes:
                model.graph.value_info.append(
                    onnx.helper.make_tensor_value_info(
                        target, onnx.TensorProto.FLOAT, list(shapes[source])
                    )
                )
                added = True
        if not added:
            return shapes


def _known_shapes(graph: onnx.GraphProto) -> dict[str, Shape]:
    shapes: dict[str, Shape] = {}
    for value in [*graph.input, *graph.value_info, *graph.output]:
        shape = _shape_of(value)
        if shape is not None:
            shapes[value.name] = shape
    for tensor in graph.initializer:
        shapes[tensor.name] = tuple(int(d) for d in tensor.dims)
    return shapes


def _shape_of(value: onnx.ValueInfoProto) -> Shape | None:
    """The shape if every dimension is a number, else None."""
    if not value.type.HasField("tensor_type"):
        return None
    tensor = value.type.tensor_type
    if not tensor.HasField("shape"):
        return None
    dims = tensor.shape.dim
    if not all(d.HasField("dim_value") for d in dims):
        return None
    return tuple(int(d.dim_value) for d in dims)


def _node_flops(node: onnx.NodeProto, shapes: Mapping[str, Shape]) -> int:
    def shape(names: Sequence[str], index: int) -> Shape:
        if index >= len(names) or names[index] not in shapes:
            raise _UnknownShape
        return shapes[names[index]]

    def size(names: Sequence[str], index: int) -> int:
        return math.prod(shape(names, index))

    op = node.op_type
    inputs, outputs = node.input, node.output
    if op in _PER_OUTPUT_ELEMENT:
        return _PER_OUTPUT_ELEMENT[op] * size(outputs, 0)
    if op in _PER_INPUT_ELEMENT:
        return _PER_INPUT_ELEMENT[op] * size(inputs, 0)
    counter = _COUNTERS.get(op)
    if counter is None:
        return 0
    return counter(node, shape, size)


ShapeFn = Callable[[Sequence[str], int], Shape]
SizeFn = Callable[[Sequence[str], int], int]


def _has_input(node: onnx.NodeProto, index: int) -> bool:
    return len(node.input) > index and node.input[index] != ""


def _attribute(node: onnx.NodeProto, name: str) -> onnx.AttributeProto | None:
    for attribute in node.attribute:
        if attribute.name == name:
            found: onnx.AttributeProto = attribute
            return found
    return None


def _matmul(node: onnx.NodeProto, shape: ShapeFn, size: SizeFn) -> int:
    # Each output element is a K-long dot product, broadcast batch axes included.
    k = shape(node.input, 0)[-1]
    return 2 * k * size(node.output, 0)


def _gemm(node: onnx.NodeProto, shape: ShapeFn, size: SizeFn) -> int:
    a = shape(node.input, 0)
    trans_a = _attribute(node, "transA")
    k = a[0] if trans_a is not None and trans_a.i else a[1]
    out = size(node.output, 0)
    return 2 * k * out + (out if _has_input(node, 2) else 0)


def _conv(node: onnx.NodeProto, shape: ShapeFn, size: SizeFn) -> int:
    # W is [C_out, C_in / group, k...]: every output element takes C_in/group * prod(k) MACs.
    weight = shape(node.input, 1)
    out = size(node.output, 0)
    return 2 * out * math.prod(weight[1:]) + (out if _has_input(node, 2) else 0)


def _conv_transpose(node: onnx.NodeProto, shape: ShapeFn, size: SizeFn) -> int:
    # W is [C_in, C_out / group, k...]: every input element is scattered into
    # C_out/group * prod(k) outputs, one MAC each.
    weight = shape(node.input, 1)
    macs = size(node.input, 0) * math.prod(weight[1:])
    return 2 * macs + (size(node.output, 0) if _has_input(node, 2) else 0)


def _pool(node: onnx.NodeProto, shape: ShapeFn, size: SizeFn) -> int:
    kernel = _attribute(node, "kernel_shape")
    window = math.prod(kernel.ints) if kernel is not None else 1
    return window * size(node.output, 0)


def _linear_ml(node: onnx.NodeProto, shape: ShapeFn, size: SizeFn) -> int:
    """LinearClassifier / LinearRegressor: X [N, C] times E rows of C coefficients."""
    x = shape(node.input, 0)
    features = x[-1]
    rows = math.prod(x[:-1])
    coefficients = _attribute(node, "coefficients")
    intercepts = _attribute(node, "intercepts")
    n_coefficients = len(coefficients.floats) if coefficients is not None else 0
    targets = n_coefficients // features if features else 0
    per_row = 2 * features * targets
    if intercepts is not None and len(intercepts.floats):
        per_row += targets
    post = _attribute(node, "post_transform")
    post_name = post.s.decode() if post is not None else "NONE"
    per_row += _POST_TRANSFORM_PER_ELEMENT.get(post_name, 1) * targets
    return rows * per_row


_COUNTERS: Mapping[str, Callable[[onnx.NodeProto, ShapeFn, SizeFn], int]] = {
    "MatMul": _matmul,
    "Gemm": _gemm,
    "Conv": _conv,
    "ConvTranspose": _conv_transpose,
    "MaxPool": _pool,
    "AveragePool": _pool,
    "LinearClassifier": _linear_ml,
    "LinearRegressor": _linear_ml,
}
