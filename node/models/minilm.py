"""``minilm``: all-MiniLM-L6-v2 sentence embeddings, its BERT written out with onnx.helper.

Nothing is trained: the published weights (node/models/minilm_files.py) are laid into a
graph built here, with no torch and no transformers. The graph takes token ids; the
tokenizer travels in the file's metadata and satellites tokenise before each run
(node/models/text_input.py), so clients send text and receive embeddings.

Graph, for ``input_ids`` and ``attention_mask`` (int64 [batch, sequence]):

- ``x = LayerNorm(word[input_ids] + position[0..sequence) + token_type[0])``: every
  token type id is 0, so its embedding is one constant row;
- 6 layers, each ``x = LayerNorm(x + Attention(x))`` then
  ``x = LayerNorm(x + W2 · GELU(W1 · x))``, GELU the exact one (erf), LayerNorm eps 1e-12;
  attention has 12 heads of 32, scores ``QKᵀ/√32 + (1 - mask) · float32 min`` (as BERT
  masks padding), softmax, then an output projection;
- ``embedding`` (float32 [batch, 384]): the mean of ``x`` over the tokens the mask keeps,
  divided by its L2 norm, as sentence-transformers' Pooling and Normalize modules do.

Linear layers keep their published names; their weights are stored transposed
([in, out]), so each is one MatMul.
"""

from __future__ import annotations

import math
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper

from orbitmesh.node.models.minilm_files import MiniLMFiles, read_minilm_files
from orbitmesh.node.models.recipe import BuiltModel
from orbitmesh.node.models.text_input import MASK_INPUT, TOKEN_INPUT, text_metadata

__all__ = ["EMBEDDING_OUTPUT", "NAME", "build", "export_onnx"]

NAME: Final = "minilm"
EMBEDDING_OUTPUT: Final = "embedding"
_OPSET = 17  # LayerNormalization's first
_IR_VERSION = 8  # the IR that goes with opset 17; readable by any onnxruntime >= 1.13
#: Pooling's floor on the token count and Normalize's on the norm (sentence-transformers).
_MIN_TOKENS = 1e-9
_MIN_NORM = 1e-12


def build() -> BuiltModel:
    files = read_minilm_files(NAME)
    model = export_onnx(files)
    return BuiltModel(onnx_bytes=model.SerializeToString(), sources=files.sources)


def export_onnx(files: MiniLMFiles) -> onnx.ModelProto:
    config = _checked_config(files)
    hidden = int(config["hidden_size"])
    heads = int(config["num_attention_heads"])
    head_dim = hidden // heads
    eps = float(config["layer_norm_eps"])
    g = _Graph(files.weights)

    one = g.const("one", np.array(1.0, np.float32))

    # Embeddings.
    word = g.op("Gather", [g.weight("embeddings.word_embeddings.weight"), TOKEN_INPUT], axis=0)
    # The first `sequence` rows of the position table, by Slice with 1-D bounds (a
    # Range over a scalar length trips ONNX Runtime 1.32's embedding fusion: it writes a
    # Slice with scalar bounds, which then fails at run time).
    sequence = g.op("Shape", [TOKEN_INPUT], start=1, end=2)  # [sequence], 1-D
    position = g.op(
        "Slice",
        [
            g.weight("embeddings.position_embeddings.weight"),
            g.const("zero_1d", np.array([0], np.int64)),
            sequence,
            g.const("axis0_1d", np.array([0], np.int64)),
        ],
    )
    type_row = g.const(
        "embeddings.token_type_embeddings.row0",
        g.weights["embeddings.token_type_embeddings.weight"][0],
    )
    summed = g.op("Add", [g.op("Add", [word, position]), type_row])
    x = g.layer_norm(summed, "embeddings.LayerNorm", eps)

    # The additive mask, [batch, 1, 1, sequence]: 0 where kept, float32 min on padding.
    mask = g.op("Cast", [MASK_INPUT], to=TensorProto.FLOAT)
    padding = g.op("Sub", [one, mask])
    lowest = g.const("mask_fill", np.array(np.finfo(np.float32).min, np.float32))
    bias = g.op(
        "Unsqueeze",
        [g.op("Mul", [padding, lowest]), g.const("axes12", np.array([1, 2], np.int64))],
    )
    split_heads = g.const("split_heads", np.array([0, 0, heads, head_dim], np.int64))
    merge_heads = g.const("merge_heads", np.array([0, 0, hidden], np.int64))
    scale = g.const("scale", np.array(1.0 / math.sqrt(head_dim), np.float32))
    half = g.const("half", np.array(0.5, np.float32))
    inv_sqrt2 = g.const("inv_sqrt2", np.array(1.0 / math.sqrt(2.0), np.float32))

    for layer in range(int(config["num_hidden_layers"])):
        p = f"encoder.layer.{layer}."

        def heads_of(name: str, perm: list[int], x: str = x, p: str = p) -> str:
            projected = g.linear(x, f"{p}attention.self.{name}")
            return g.op("Transpose", [g.op("Reshape", [projected, split_heads])], perm=perm)

        query = heads_of("query", [0, 2, 1, 3])  # [batch, heads, sequence, head_dim]
        key_t = heads_of("key", [0, 2, 3, 1])  # [batch, heads, head_dim, sequence]
        value = heads_of("value", [0, 2, 1, 3])
        scores = g.op("Add", [g.op("Mul", [g.op("MatMul", [query, key_t]), scale]), bias])
        weights = g.op("Softmax", [scores], axis=-1)
        context = g.op("Transpose", [g.op("MatMul", [weights, value])], perm=[0, 2, 1, 3])
        attended = g.linear(g.op("Reshape", [context, merge_heads]), f"{p}attention.output.dense")
        x = g.layer_norm(g.op("Add", [attended, x]), f"{p}attention.output.LayerNorm", eps)

        inner = g.linear(x, f"{p}intermediate.dense")
        erf = g.op("Erf", [g.op("Mul", [inner, inv_sqrt2])])
        gelu = g.op("Mul", [g.op("Mul", [inner, half]), g.op("Add", [one, erf])])
        x = g.layer_norm(
            g.op("Add", [g.linear(gelu, f"{p}output.dense"), x]), f"{p}output.LayerNorm", eps
        )

    # Mean over the kept tokens, then unit length.
    kept = g.op("Unsqueeze", [mask, g.const("axis2", np.array([2], np.int64))])
    tokens_axis = g.const("axes1", np.array([1], np.int64))
    total = g.op("ReduceSum", [g.op("Mul", [x, kept]), tokens_axis], keepdims=0)
    count = g.op("ReduceSum", [kept, tokens_axis], keepdims=0)
    count = g.op("Max", [count, g.const("min_tokens", np.array(_MIN_TOKENS, np.float32))])
    mean = g.op("Div", [total, count])
    norm = g.op("Sqrt", [g.op("ReduceSum", [g.op("Mul", [mean, mean]), tokens_axis], keepdims=1)])
    norm = g.op("Max", [norm, g.const("min_norm", np.array(_MIN_NORM, np.float32))])
    g.op("Div", [mean, norm], output=EMBEDDING_OUTPUT)

    graph = helper.make_graph(
        g.nodes,
        "all_minilm_l6_v2",
        inputs=[
            helper.make_tensor_value_info(TOKEN_INPUT, TensorProto.INT64, ["batch", "sequence"]),
            helper.make_tensor_value_info(MASK_INPUT, TensorProto.INT64, ["batch", "sequence"]),
        ],
        outputs=[
            helper.make_tensor_value_info(EMBEDDING_OUTPUT, TensorProto.FLOAT, ["batch", hidden])
        ],
        initializer=g.initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", _OPSET)],
        ir_version=_IR_VERSION,
        producer_name="orbitmesh",
        doc_string="sentence-transformers/all-MiniLM-L6-v2: mean-pooled, L2-normalised",
    )
    helper.set_model_props(model, text_metadata(files.tokenizer_json, files.max_seq_length))
    onnx.checker.check_model(model)
    return model


def _checked_config(files: MiniLMFiles) -> dict[str, Any]:
    """config.json, refused unless it is the architecture this graph writes."""
    config = files.config
    expected = {
        "model_type": "bert",
        "hidden_act": "gelu",
        "position_embedding_type": "absolute",
    }
    for key, value in expected.items():
        if config.get(key, value) != value:
            raise ValueError(f"model {NAME!r}: config.json {key} is {config[key]!r}, not {value!r}")
    if int(config["hidden_size"]) % int(config["num_attention_heads"]):
        raise ValueError(f"model {NAME!r}: hidden_size is not a multiple of the head count")
    modes = {k for k, v in files.pooling.items() if k.startswith("pooling_mode_") and v}
    if modes != {"pooling_mode_mean_tokens"}:
        raise ValueError(f"model {NAME!r}: 1_Pooling pools by {sorted(modes)}, not the mean")
    return config


class _Graph:
    """Nodes and initializers, each node output named after its node."""

    def __init__(self, weights: dict[str, npt.NDArray[Any]]) -> None:
        self.weights = weights
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._added: set[str] = set()

    def const(self, name: str, array: npt.NDArray[Any]) -> str:
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        self._added.add(name)
        return name

    def weight(self, name: str, *, transposed: bool = False) -> str:
        """A published tensor as an initializer of the same name."""
        if name not in self._added:
            array = self.weights[name]
            self.const(name, array.T if transposed else array)
        return name

    def op(
        self, op_type: str, inputs: list[str], *, output: str | None = None, **attrs: Any
    ) -> str:
        name = output or f"{op_type}_{len(self.nodes)}"
        self.nodes.append(helper.make_node(op_type, inputs, [name], name=name, **attrs))
        return name

    def linear(self, x: str, prefix: str) -> str:
        weight = self.weight(f"{prefix}.weight", transposed=True)
        return self.op("Add", [self.op("MatMul", [x, weight]), self.weight(f"{prefix}.bias")])

    def layer_norm(self, x: str, prefix: str, eps: float) -> str:
        scale, shift = self.weight(f"{prefix}.weight"), self.weight(f"{prefix}.bias")
        return self.op("LayerNormalization", [x, scale, shift], axis=-1, epsilon=eps)
