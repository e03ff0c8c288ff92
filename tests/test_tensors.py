"""The tensor codec (protos/tensors.py) against the Open Inference Protocol's wire forms.

Expected bytes are written out by hand or with ``struct`` where it matters (byte order,
the BYTES length prefix); the ONNX test runs a real onnxruntime session.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from onnx import TensorProto, helper

from orbitmesh.node.models.onnx_session import make_session
from orbitmesh.protos.contract import Cause, Refused
from orbitmesh.protos.inference import grpc_service_pb2 as pb
from orbitmesh.protos.tensors import (
    DATATYPES,
    MAX_ELEMENTS,
    ONNX_DATATYPES,
    TensorError,
    TensorSpec,
    datatype_of,
    decode_inputs,
    encode_outputs,
    onnx_specs,
    parse_infer_request,
)

Array = npt.NDArray[Any]

#: A 2x3 (or 2x2) sample of every datatype, with the extremes of each integer type.
SAMPLES: dict[str, Array] = {
    "BOOL": np.array([[True, False, True], [False, False, True]]),
    "UINT8": np.array([[0, 1, 255], [7, 128, 254]], dtype=np.uint8),
    "UINT16": np.array([[0, 1, 65535], [7, 300, 2]], dtype=np.uint16),
    "UINT32": np.array([[0, 1, 2**32 - 1], [7, 70000, 2]], dtype=np.uint32),
    "UINT64": np.array([[0, 1, 2**64 - 1], [7, 2**40, 2]], dtype=np.uint64),
    "INT8": np.array([[-128, 0, 127], [-1, 5, 9]], dtype=np.int8),
    "INT16": np.array([[-32768, 0, 32767], [-1, 500, 9]], dtype=np.int16),
    "INT32": np.array([[-(2**31), 0, 2**31 - 1], [-1, 5, 9]], dtype=np.int32),
    "INT64": np.array([[-(2**63), 0, 2**63 - 1], [-1, 5, 9]], dtype=np.int64),
    "FP16": np.array([[0.5, -2.0, 65504.0], [np.inf, 1e-3, 0.0]], dtype=np.float16),
    "FP32": np.array([[0.5, -2.0, 3.25e38], [np.inf, 1e-3, -0.0]], dtype=np.float32),
    "FP64": np.array([[0.5, -2.0, 1e300], [-np.inf, 1e-300, 0.1]], dtype=np.float64),
    "BYTES": np.array(
        [[b"", b"a", b"\x00\xff"], ["m\u00e9sh".encode(), b"x" * 300, b"orbit"]], dtype=object
    ),
}

#: The InferTensorContents field of each datatype, as the protocol specifies it.
CONTENTS_FIELDS = {
    "BOOL": "bool_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}


def raw_of(array: Array) -> bytes:
    """The protocol's raw form, built independently of the code under test."""
    if array.dtype == object:
        flat = array.ravel()
        return b"".join(struct.pack("<I", len(item)) + item for item in flat)
    return array.astype(array.dtype.newbyteorder("<")).tobytes(order="C")


def raw_request(tensors: Mapping[str, tuple[str, Sequence[int], bytes]]) -> Any:
    request = pb.ModelInferRequest(model_name="m")
    for name, (datatype, shape, data) in tensors.items():
        request.inputs.add(name=name, datatype=datatype, shape=shape)
        request.raw_input_contents.append(data)
    return request


def one_raw(datatype: str, shape: Sequence[int], data: bytes) -> Any:
    return raw_request({"x": (datatype, shape, data)})


def spec(datatype: str = "FP32", shape: tuple[int, ...] = (-1, 3)) -> dict[str, TensorSpec]:
    return {"x": TensorSpec("x", datatype, shape)}


def rejects(request: Any, expected: Mapping[str, TensorSpec], message: str, name: str) -> None:
    with pytest.raises(TensorError) as caught:
        decode_inputs(request, expected)
    assert str(caught.value) == message
    assert caught.value.tensor_name == name


def assert_same(got: Array, want: Array) -> None:
    assert got.shape == want.shape
    assert got.dtype == want.dtype
    if want.dtype == object:
        assert got.tolist() == want.tolist()
    else:
        np.testing.assert_array_equal(got, want)


# --- the datatype table ---------------------------------------------------------------


def test_datatype_table() -> None:
    assert list(DATATYPES) == list(SAMPLES)
    for name, datatype in DATATYPES.items():
        assert datatype.name == name
        assert datatype.contents_field == CONTENTS_FIELDS.get(name)
        assert datatype_of(SAMPLES[name].dtype) is datatype
    assert datatype_of(np.dtype(">f4")) is DATATYPES["FP32"]
    assert datatype_of(np.dtype("S3")) is DATATYPES["BYTES"]
    assert datatype_of(np.dtype("U3")) is DATATYPES["BYTES"]
    assert datatype_of(np.complex64) is None
    fields = set(pb.InferTensorContents.DESCRIPTOR.fields_by_name)
    assert set(CONTENTS_FIELDS.values()) == fields


def test_onnx_type_strings() -> None:
    assert ONNX_DATATYPES["tensor(float)"] == "FP32"
    assert ONNX_DATATYPES["tensor(double)"] == "FP64"
    assert ONNX_DATATYPES["tensor(float16)"] == "FP16"
    assert ONNX_DATATYPES["tensor(int64)"] == "INT64"
    assert ONNX_DATATYPES["tensor(uint8)"] == "UINT8"
    assert ONNX_DATATYPES["tensor(bool)"] == "BOOL"
    assert ONNX_DATATYPES["tensor(string)"] == "BYTES"
    assert sorted(ONNX_DATATYPES.values()) == sorted(DATATYPES)


def test_tensor_spec_checks_itself() -> None:
    assert TensorSpec("x", "FP32", [-1, 3]).shape == (-1, 3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match='tensor "x": unknown datatype "FLOAT"'):
        TensorSpec("x", "FLOAT", (1,))
    with pytest.raises(ValueError, match=r"shape \[-2\] has a dimension below -1"):
        TensorSpec("x", "FP32", (-2,))
    metadata = TensorSpec("x", "INT64", (-1, 4)).metadata()
    assert metadata == pb.ModelMetadataResponse.TensorMetadata(
        name="x", datatype="INT64", shape=[-1, 4]
    )


# --- round trips ----------------------------------------------------------------------


@pytest.mark.parametrize("datatype", list(SAMPLES))
def test_raw_round_trip(datatype: str) -> None:
    array = SAMPLES[datatype]
    request = one_raw(datatype, array.shape, raw_of(array))
    decoded = decode_inputs(request, spec(datatype, (-1, array.shape[1])))
    assert list(decoded) == ["x"]
    assert_same(decoded["x"], array)

    tensors, raws = encode_outputs({"y": array}, None)
    assert [(t.name, t.datatype, list(t.shape)) for t in tensors] == [
        ("y", datatype, list(array.shape))
    ]
    assert raws == [raw_of(array)]


@pytest.mark.parametrize("datatype", [name for name in SAMPLES if name != "FP16"])
def test_typed_round_trip(datatype: str) -> None:
    array = SAMPLES[datatype]
    request = pb.ModelInferRequest()
    tensor = request.inputs.add(name="x", datatype=datatype, shape=array.shape)
    getattr(tensor.contents, CONTENTS_FIELDS[datatype]).extend(array.ravel().tolist())
    decoded = decode_inputs(request, spec(datatype, array.shape))
    assert_same(decoded["x"], array)


def test_raw_bytes_by_hand() -> None:
    fp32 = decode_inputs(
        one_raw("FP32", [1, 2], b"\x00\x00\x80\x3f\x00\x00\x00\xc0"), spec("FP32", (1, 2))
    )
    assert fp32["x"].tolist() == [[1.0, -2.0]]
    text = decode_inputs(
        one_raw("BYTES", [3], b"\x05\x00\x00\x00orbit\x00\x00\x00\x00\x01\x00\x00\x00\xff"),
        spec("BYTES", (-1,)),
    )
    assert text["x"].tolist() == [b"orbit", b"", b"\xff"]
    flags = decode_inputs(one_raw("BOOL", [3], b"\x00\x01\x02"), spec("BOOL", (3,)))
    assert flags["x"].tolist() == [False, True, True]

    _, raws = encode_outputs({"y": np.array([1, 256], dtype=">i4")}, None)
    assert raws == [b"\x01\x00\x00\x00\x00\x01\x00\x00"]
    _, raws = encode_outputs({"y": np.array(["é", "ab"])}, None)
    assert raws == [b"\x02\x00\x00\x00\xc3\xa9\x02\x00\x00\x00ab"]


def test_outputs_are_row_major_whatever_the_memory_layout() -> None:
    array = np.arange(6, dtype=np.int16).reshape(2, 3).T  # Fortran-ordered view
    tensors, raws = encode_outputs({"y": array}, None)
    assert list(tensors[0].shape) == [3, 2]
    assert raws == [struct.pack("<6h", 0, 3, 1, 4, 2, 5)]


def test_empty_tensors() -> None:
    decoded = decode_inputs(one_raw("FP32", [0, 3], b""), spec())
    assert decoded["x"].shape == (0, 3)
    request = pb.ModelInferRequest()
    request.inputs.add(name="x", datatype="FP16", shape=[0, 3])
    assert decode_inputs(request, spec("FP16"))["x"].shape == (0, 3)


def test_several_inputs_come_back_in_model_order() -> None:
    expected = {
        "a": TensorSpec("a", "FP32", (2,)),
        "b": TensorSpec("b", "INT64", (1,)),
    }
    request = raw_request(
        {
            "b": ("INT64", [1], struct.pack("<q", -5)),
            "a": ("FP32", [2], struct.pack("<2f", 1.5, 2.5)),
        }
    )
    decoded = decode_inputs(request, expected)
    assert list(decoded) == ["a", "b"]
    assert decoded["a"].tolist() == [1.5, 2.5]
    assert decoded["b"].tolist() == [-5]


# --- rejections -----------------------------------------------------------------------


def test_unknown_missing_and_duplicate_inputs() -> None:
    expected = {"a": TensorSpec("a", "FP32", (1,)), "b": TensorSpec("b", "FP32", (1,))}
    one = struct.pack("<f", 1.0)
    rejects(
        raw_request({"a": ("FP32", [1], one), "c": ("FP32", [1], one)}),
        expected,
        'unknown input "c"; the model takes "a", "b"',
        "c",
    )
    rejects(raw_request({"a": ("FP32", [1], one)}), expected, 'missing input "b"', "b")
    twice = raw_request({"a": ("FP32", [1], one), "b": ("FP32", [1], one)})
    twice.inputs.add(name="a", datatype="FP32", shape=[1])
    twice.raw_input_contents.append(one)
    rejects(twice, expected, 'input "a" is given more than once', "a")


def test_datatype_must_match_the_model() -> None:
    rejects(
        one_raw("INT64", [1, 3], bytes(24)),
        spec("FP32"),
        'input "x": datatype "INT64" does not match the model\'s "FP32"',
        "x",
    )
    rejects(
        one_raw("", [1, 3], bytes(12)),
        spec("FP32"),
        'input "x": datatype "" does not match the model\'s "FP32"',
        "x",
    )


def test_shape_must_fit_the_model() -> None:
    rejects(
        one_raw("FP32", [6], bytes(24)),
        spec(),
        'input "x": shape [6] has 1 dimensions, the model\'s [-1, 3] has 2',
        "x",
    )
    rejects(
        one_raw("FP32", [2, 4], bytes(32)),
        spec(),
        'input "x": shape [2, 4] does not fit the model\'s [-1, 3]',
        "x",
    )
    rejects(
        one_raw("FP32", [-1, 3], bytes(12)),
        spec(),
        'input "x": shape [-1, 3] has a negative dimension',
        "x",
    )


@pytest.mark.parametrize(
    "shape",
    [
        [65536, 65536],  # 2**32 elements
        [2**62, 4],  # 2**64: wraps to 0 in int64 arithmetic
        [0, 2**40],  # no elements, but an absurd dimension
        [MAX_ELEMENTS + 1, 1],
    ],
)
def test_absurd_shapes_are_refused_before_allocating(shape: list[int]) -> None:
    rejects(
        one_raw("FP32", shape, b""),
        spec("FP32", (-1, -1)),
        f'input "x": shape {shape} is too large (at most {MAX_ELEMENTS} elements)',
        "x",
    )


def test_the_largest_allowed_shape_is_checked_by_bytes() -> None:
    rejects(
        one_raw("UINT8", [MAX_ELEMENTS, 1], b"\x00"),
        spec("UINT8", (-1, -1)),
        f'input "x": raw content holds 1 bytes, expected {MAX_ELEMENTS} '
        f"({MAX_ELEMENTS} UINT8 elements of 1 bytes)",
        "x",
    )


def test_raw_byte_count_must_match_the_shape() -> None:
    rejects(
        one_raw("FP32", [2, 3], bytes(20)),
        spec(),
        'input "x": raw content holds 20 bytes, expected 24 (6 FP32 elements of 4 bytes)',
        "x",
    )
    rejects(
        one_raw("FP16", [1, 3], bytes(12)),
        spec("FP16"),
        'input "x": raw content holds 12 bytes, expected 6 (3 FP16 elements of 2 bytes)',
        "x",
    )


def test_malformed_raw_bytes() -> None:
    expected = spec("BYTES", (-1,))
    rejects(
        one_raw("BYTES", [2], b"\x01\x00\x00\x00a\x01\x00"),
        expected,
        'input "x": raw BYTES content ends before element 1 of 2',
        "x",
    )
    rejects(
        one_raw("BYTES", [1], b"\x09\x00\x00\x00abc"),
        expected,
        'input "x": raw BYTES element 0 claims 9 bytes, only 3 remain',
        "x",
    )
    rejects(
        one_raw("BYTES", [1], b"\x01\x00\x00\x00abc"),
        expected,
        'input "x": raw BYTES content has 2 bytes left after its 1 elements',
        "x",
    )


def test_raw_entries_must_match_the_inputs() -> None:
    expected = {"a": TensorSpec("a", "FP32", (1,)), "b": TensorSpec("b", "FP32", (1,))}
    one = struct.pack("<f", 1.0)
    short = raw_request({"a": ("FP32", [1], one)})
    short.inputs.add(name="b", datatype="FP32", shape=[1])
    rejects(short, expected, "raw_input_contents has 1 entries for 2 inputs", "b")
    extra = raw_request({"a": ("FP32", [1], one), "b": ("FP32", [1], one)})
    extra.raw_input_contents.append(one)
    rejects(extra, expected, "raw_input_contents has 3 entries for 2 inputs", "")


def test_raw_and_typed_contents_do_not_mix() -> None:
    expected = {"a": TensorSpec("a", "FP32", (1,)), "b": TensorSpec("b", "FP32", (1,))}
    request = raw_request({"a": ("FP32", [1], struct.pack("<f", 1.0))})
    typed = request.inputs.add(name="b", datatype="FP32", shape=[1])
    typed.contents.fp32_contents.append(2.0)
    rejects(
        request,
        expected,
        'input "b" has typed contents, but the request uses raw_input_contents; '
        "use one form for all inputs",
        "b",
    )


def typed_request(datatype: str, shape: Sequence[int], field: str, values: list[Any]) -> Any:
    request = pb.ModelInferRequest()
    tensor = request.inputs.add(name="x", datatype=datatype, shape=shape)
    getattr(tensor.contents, field).extend(values)
    return request


def test_typed_element_count_must_match_the_shape() -> None:
    rejects(
        typed_request("FP32", [2, 3], "fp32_contents", [1.0] * 5),
        spec(),
        'input "x": contents.fp32_contents holds 5 elements, expected 6',
        "x",
    )
    rejects(
        pb.ModelInferRequest(
            inputs=[pb.ModelInferRequest.InferInputTensor(name="x", datatype="FP32", shape=[1, 3])]
        ),
        spec(),
        'input "x": contents.fp32_contents holds 0 elements, expected 3',
        "x",
    )


def test_typed_contents_must_use_the_datatypes_field() -> None:
    rejects(
        typed_request("FP32", [1, 3], "fp64_contents", [1.0] * 3),
        spec(),
        'input "x": FP32 elements go in contents.fp32_contents, not contents.fp64_contents',
        "x",
    )
    rejects(
        typed_request("INT64", [1, 3], "int_contents", [1] * 3),
        spec("INT64"),
        'input "x": INT64 elements go in contents.int64_contents, not contents.int_contents',
        "x",
    )
    request = typed_request("FP32", [1, 3], "fp32_contents", [1.0] * 3)
    request.inputs[0].contents.bytes_contents.append(b"stray")
    rejects(
        request,
        spec(),
        'input "x": FP32 elements go in contents.fp32_contents, not contents.bytes_contents',
        "x",
    )
    rejects(
        typed_request("FP16", [1, 3], "fp32_contents", [1.0] * 3),
        spec("FP16"),
        'input "x": FP16 has no typed contents; send it in raw_input_contents',
        "x",
    )


def test_typed_integers_must_fit_their_datatype() -> None:
    rejects(
        typed_request("INT8", [1, 3], "int_contents", [1, 300, -1]),
        spec("INT8"),
        'input "x": contents.int_contents holds 300, outside the range of INT8',
        "x",
    )
    rejects(
        typed_request("UINT16", [1, 3], "uint_contents", [70000, 0, 1]),
        spec("UINT16"),
        'input "x": contents.uint_contents holds 70000, outside the range of UINT16',
        "x",
    )


def test_tensor_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match='missing input "x"'):
        decode_inputs(pb.ModelInferRequest(), spec())


# --- choosing outputs -----------------------------------------------------------------

OUTPUTS: dict[str, Array] = {
    "probs": np.array([[0.25, 0.75]], dtype=np.float32),
    "label": np.array([1], dtype=np.int64),
    "names": np.array(["one"], dtype=object),
}


def test_encode_outputs_all_in_model_order() -> None:
    everything: tuple[list[str] | None, ...] = (None, [])
    for requested in everything:
        tensors, raws = encode_outputs(OUTPUTS, requested)
        assert [(t.name, t.datatype, list(t.shape)) for t in tensors] == [
            ("probs", "FP32", [1, 2]),
            ("label", "INT64", [1]),
            ("names", "BYTES", [1]),
        ]
        assert raws == [
            struct.pack("<2f", 0.25, 0.75),
            struct.pack("<q", 1),
            b"\x03\x00\x00\x00one",
        ]


def test_encode_outputs_in_requested_order() -> None:
    tensors, raws = encode_outputs(OUTPUTS, ["names", "probs"])
    assert [t.name for t in tensors] == ["names", "probs"]
    assert raws == [b"\x03\x00\x00\x00one", struct.pack("<2f", 0.25, 0.75)]


def encode_rejects(
    outputs: Mapping[str, Array], requested: list[str] | None, message: str, name: str
) -> None:
    with pytest.raises(TensorError) as caught:
        encode_outputs(outputs, requested)
    assert str(caught.value) == message
    assert caught.value.tensor_name == name


def test_encode_outputs_rejections() -> None:
    encode_rejects(
        OUTPUTS,
        ["label", "logits"],
        'unknown output "logits"; the model gives "probs", "label", "names"',
        "logits",
    )
    encode_rejects(
        OUTPUTS, ["label", "label"], 'output "label" is requested more than once', "label"
    )
    encode_rejects(
        {"z": np.zeros(2, dtype=np.complex64)},
        None,
        'output "z": numpy dtype complex64 has no protocol datatype',
        "z",
    )
    encode_rejects(
        {"o": np.array([b"a", 5], dtype=object)},
        None,
        'output "o": BYTES element 1 is int, not bytes or str',
        "o",
    )


# --- a real onnxruntime session -------------------------------------------------------


def adder_model() -> bytes:
    """sum = a + b, with a symbolic batch on `a` and an unnamed dynamic one on `b`."""
    graph = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["sum"])],
        "adder",
        [
            helper.make_tensor_value_info("a", TensorProto.FLOAT, ["batch", 3]),
            helper.make_tensor_value_info("b", TensorProto.FLOAT, [None, 3]),
        ],
        [helper.make_tensor_value_info("sum", TensorProto.FLOAT, ["batch", 3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return bytes(model.SerializeToString())


def test_onnx_session_specs_and_inference() -> None:
    session = make_session(adder_model())
    inputs = onnx_specs(session.get_inputs())
    outputs = onnx_specs(session.get_outputs())
    assert inputs == {
        "a": TensorSpec("a", "FP32", (-1, 3)),
        "b": TensorSpec("b", "FP32", (-1, 3)),
    }
    assert outputs == {"sum": TensorSpec("sum", "FP32", (-1, 3))}

    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.full((2, 3), 0.5, dtype=np.float32)
    request = raw_request({"a": ("FP32", [2, 3], raw_of(a)), "b": ("FP32", [2, 3], raw_of(b))})
    feeds = decode_inputs(request, inputs)
    results = dict(zip(outputs, session.run(list(outputs), feeds), strict=True))
    tensors, raws = encode_outputs(results, None)

    response = pb.ModelInferResponse.FromString(
        pb.ModelInferResponse(outputs=tensors, raw_output_contents=raws).SerializeToString()
    )
    (tensor,) = response.outputs
    assert (tensor.name, tensor.datatype, list(tensor.shape)) == ("sum", "FP32", [2, 3])
    got = np.frombuffer(response.raw_output_contents[0], dtype="<f4").reshape(2, 3)
    np.testing.assert_array_equal(got, a + b)


def test_onnx_types_without_a_datatype_are_refused() -> None:
    graph = helper.make_graph(
        [helper.make_node("SequenceConstruct", ["a"], ["seq"])],
        "sequence",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [2])],
        [helper.make_tensor_sequence_value_info("seq", TensorProto.FLOAT, None)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    session = make_session(bytes(model.SerializeToString()))
    with pytest.raises(
        ValueError, match=re.escape('tensor "seq": ONNX type seq(tensor(float)) has no')
    ):
        onnx_specs(session.get_outputs())


# --------------------------------------------------------------------------- a request's bytes


def test_a_request_is_parsed_up_to_the_limit_and_refused_past_it() -> None:
    request = pb.ModelInferRequest(model_name="m", raw_input_contents=[b"\x00" * 100])
    data = request.SerializeToString()
    # Field 1 (model_name): tag, length 1, "m" = 3 bytes; field 7 (raw_input_contents):
    # tag, length 100 as one varint byte, the 100 bytes = 102 bytes.
    assert len(data) == 105
    parsed = parse_infer_request(data, max_message_bytes=105, server="here")
    assert parsed.model_name == "m" and parsed.raw_input_contents[0] == b"\x00" * 100
    with pytest.raises(Refused) as refused:
        parse_infer_request(data, max_message_bytes=104, server="station x")
    assert refused.value.cause is Cause.TOO_LARGE
    assert str(refused.value) == "request of 105 bytes exceeds station x's limit of 104 bytes"


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xff\xff",  # a tag of field 0 is never valid
        b"\x0a\x05ab",  # a string field claiming 5 bytes where 2 remain
        b"\x3a\x80",  # a length whose varint never ends
    ],
)
def test_bytes_that_are_not_a_request_are_refused_as_invalid(data: bytes) -> None:
    with pytest.raises(Refused) as refused:
        parse_infer_request(data, max_message_bytes=1 << 20, server="here")
    assert refused.value.cause is Cause.INVALID
    assert str(refused.value).startswith("malformed ModelInferRequest")
