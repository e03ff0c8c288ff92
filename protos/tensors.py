"""Tensors on the Open Inference Protocol wire (KServe v2 / Triton) <-> numpy arrays.

Pure code: numpy and the generated ``orbitmesh.protos.inference`` messages, no gRPC server and no
Ray. Satellites and gateways read a request's bytes with :func:`parse_infer_request` (too
large or malformed: :class:`~orbitmesh.protos.contract.Refused` with its cause); the
satellite's inference servicer calls :func:`decode_inputs` on each ``ModelInferRequest``
and :func:`encode_outputs` on the model's results; a :class:`TensorError` becomes
``INVALID_ARGUMENT`` naming the offending tensor.

Both of the protocol's forms of tensor data are read:

- raw: ``raw_input_contents`` holds one ``bytes`` per input, in the order of ``inputs``;
  elements are flattened row-major, little-endian, without padding. A ``BYTES`` element
  is a 4-byte little-endian length followed by that many bytes.
- typed: each input's ``contents`` holds its elements in the repeated field for its
  datatype (:data:`DATATYPES` says which); ``FP16`` has no such field and is raw only.

Outputs are always written raw (``raw_output_contents``), as Triton does.

Every size is checked against the shape before anything is allocated, and shapes are
multiplied with Python integers, so a shape that overflows 64 bits cannot pass for a small
one. Decoded raw arrays are read-only views of the request's bytes where the layout
allows (no copy).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, Protocol

import numpy as np
import numpy.typing as npt
from google.protobuf.message import DecodeError

from orbitmesh.protos.contract import Cause, Refused
from orbitmesh.protos.inference import grpc_service_pb2 as pb

__all__ = [
    "DATATYPES",
    "MAX_ELEMENTS",
    "ONNX_DATATYPES",
    "Datatype",
    "OnnxTensorArg",
    "TensorError",
    "TensorSpec",
    "datatype_of",
    "decode_inputs",
    "encode_outputs",
    "from_raw",
    "model_config",
    "onnx_specs",
    "parse_infer_request",
    "to_raw",
]

#: Most elements one tensor may have; larger shapes are refused before any allocation.
MAX_ELEMENTS: Final = 2**31

#: The length prefix of one element of a raw BYTES tensor.
_LENGTH: Final = struct.Struct("<I")


class TensorError(ValueError):
    """A tensor that does not fit the model or the protocol (INVALID_ARGUMENT).

    ``tensor_name`` names the offending input or output, so the servicer can report it
    without parsing the message; it is empty only when no single tensor is at fault
    (more raw entries than inputs).
    """

    def __init__(self, message: str, tensor_name: str) -> None:
        super().__init__(message)
        self.tensor_name = tensor_name


# --------------------------------------------------------------------------- datatypes


@dataclass(frozen=True)
class Datatype:
    """One protocol datatype and how it maps to numpy, the typed contents and ONNX."""

    #: The protocol's name: ``"FP32"``, ``"BYTES"``, ...
    name: str
    #: Little-endian numpy dtype of one element (``object`` holding ``bytes`` for BYTES).
    dtype: np.dtype[Any]
    #: The ``InferTensorContents`` field that carries the elements; None: raw form only.
    contents_field: str | None
    #: ONNX Runtime's type string for tensors of this type (``NodeArg.type``).
    onnx_type: str
    #: Triton's model-configuration ``DataType`` name (``ModelConfig`` inputs and outputs).
    config_type: str

    @property
    def is_bytes(self) -> bool:
        return self.dtype.kind == "O"


_TABLE: Final = (
    Datatype("BOOL", np.dtype(np.bool_), "bool_contents", "tensor(bool)", "TYPE_BOOL"),
    Datatype("UINT8", np.dtype("<u1"), "uint_contents", "tensor(uint8)", "TYPE_UINT8"),
    Datatype("UINT16", np.dtype("<u2"), "uint_contents", "tensor(uint16)", "TYPE_UINT16"),
    Datatype("UINT32", np.dtype("<u4"), "uint_contents", "tensor(uint32)", "TYPE_UINT32"),
    Datatype("UINT64", np.dtype("<u8"), "uint64_contents", "tensor(uint64)", "TYPE_UINT64"),
    Datatype("INT8", np.dtype("<i1"), "int_contents", "tensor(int8)", "TYPE_INT8"),
    Datatype("INT16", np.dtype("<i2"), "int_contents", "tensor(int16)", "TYPE_INT16"),
    Datatype("INT32", np.dtype("<i4"), "int_contents", "tensor(int32)", "TYPE_INT32"),
    Datatype("INT64", np.dtype("<i8"), "int64_contents", "tensor(int64)", "TYPE_INT64"),
    Datatype("FP16", np.dtype("<f2"), None, "tensor(float16)", "TYPE_FP16"),
    Datatype("FP32", np.dtype("<f4"), "fp32_contents", "tensor(float)", "TYPE_FP32"),
    Datatype("FP64", np.dtype("<f8"), "fp64_contents", "tensor(double)", "TYPE_FP64"),
    Datatype("BYTES", np.dtype(object), "bytes_contents", "tensor(string)", "TYPE_STRING"),
)

#: Every protocol datatype by name, in the protocol's order.
DATATYPES: Final[Mapping[str, Datatype]] = MappingProxyType({d.name: d for d in _TABLE})

#: ONNX Runtime type string -> protocol datatype name, for model metadata.
ONNX_DATATYPES: Final[Mapping[str, str]] = MappingProxyType({d.onnx_type: d.name for d in _TABLE})

#: Element type of each typed contents field as protobuf delivers it (wider than the
#: datatypes that share a field, so those are range-checked when narrowed).
_FIELD_DTYPES: Final[Mapping[str, np.dtype[Any]]] = MappingProxyType(
    {
        "bool_contents": np.dtype(np.bool_),
        "int_contents": np.dtype("<i4"),
        "int64_contents": np.dtype("<i8"),
        "uint_contents": np.dtype("<u4"),
        "uint64_contents": np.dtype("<u8"),
        "fp32_contents": np.dtype("<f4"),
        "fp64_contents": np.dtype("<f8"),
        "bytes_contents": np.dtype(object),
    }
)

#: Fixed-size datatypes by numpy (kind, itemsize), whatever the array's byte order.
_BY_KIND: Final[Mapping[tuple[str, int], Datatype]] = MappingProxyType(
    {(d.dtype.kind, d.dtype.itemsize): d for d in _TABLE if not d.is_bytes}
)


def datatype_of(dtype: npt.DTypeLike) -> Datatype | None:
    """The protocol datatype for numpy arrays of ``dtype``, or None if there is none.

    ``object``, ``bytes_`` (``S``) and ``str_`` (``U``) arrays are BYTES.
    """
    found = np.dtype(dtype)
    if found.kind in "OSU":
        return DATATYPES["BYTES"]
    return _BY_KIND.get((found.kind, found.itemsize))


# --------------------------------------------------------------------------- signatures


@dataclass(frozen=True)
class TensorSpec:
    """A model's input or output: name, protocol datatype and shape (-1: any size)."""

    name: str
    datatype: str
    shape: tuple[int, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))
        if self.datatype not in DATATYPES:
            raise ValueError(
                f'tensor "{self.name}": unknown datatype "{self.datatype}"; '
                f"one of {', '.join(DATATYPES)}"
            )
        if any(d < -1 for d in self.shape):
            raise ValueError(
                f'tensor "{self.name}": shape {list(self.shape)} has a dimension below -1'
            )

    def metadata(self) -> Any:
        """This signature as a ``ModelMetadataResponse.TensorMetadata`` message."""
        return pb.ModelMetadataResponse.TensorMetadata(
            name=self.name, datatype=self.datatype, shape=self.shape
        )


class OnnxTensorArg(Protocol):
    """What onnxruntime's ``NodeArg`` (``session.get_inputs()[i]``) offers."""

    @property
    def name(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def shape(self) -> Sequence[int | str | None] | None: ...


def onnx_specs(args: Iterable[OnnxTensorArg]) -> dict[str, TensorSpec]:
    """TensorSpecs, by name and in model order, from ``session.get_inputs()`` or outputs.

    Symbolic dimensions (``"batch"``) and unknown ones (``None``) become -1. A tensor
    whose type the protocol cannot carry (a sequence or map) raises ValueError.
    """
    specs: dict[str, TensorSpec] = {}
    for arg in args:
        datatype = ONNX_DATATYPES.get(arg.type)
        if datatype is None:
            raise ValueError(f'tensor "{arg.name}": ONNX type {arg.type} has no protocol datatype')
        if arg.shape is None:
            raise ValueError(f'tensor "{arg.name}": the model does not state its rank')
        shape = tuple(d if isinstance(d, int) and d >= 0 else -1 for d in arg.shape)
        specs[arg.name] = TensorSpec(arg.name, datatype, shape)
    return specs


def _names(names: Iterable[str]) -> str:
    return ", ".join(f'"{name}"' for name in names)


def _checked_shape(tensor: Any, spec: TensorSpec) -> tuple[tuple[int, ...], int]:
    """The request's shape for ``tensor`` and its element count, checked against ``spec``."""
    name = tensor.name
    if tensor.datatype != spec.datatype:
        raise TensorError(
            f'input "{name}": datatype "{tensor.datatype}" does not match '
            f'the model\'s "{spec.datatype}"',
            name,
        )
    shape = tuple(int(d) for d in tensor.shape)
    shown = list(shape)
    if any(d < 0 for d in shape):
        raise TensorError(f'input "{name}": shape {shown} has a negative dimension', name)
    if len(shape) != len(spec.shape):
        raise TensorError(
            f'input "{name}": shape {shown} has {len(shape)} dimensions, '
            f"the model's {list(spec.shape)} has {len(spec.shape)}",
            name,
        )
    if any(want not in (-1, got) for got, want in zip(shape, spec.shape, strict=True)):
        raise TensorError(
            f'input "{name}": shape {shown} does not fit the model\'s {list(spec.shape)}',
            name,
        )
    count = 1
    for d in shape:
        count *= d
        if d > MAX_ELEMENTS or count > MAX_ELEMENTS:
            raise TensorError(
                f'input "{name}": shape {shown} is too large (at most {MAX_ELEMENTS} elements)',
                name,
            )
    return shape, count


# --------------------------------------------------------------------------- decoding


def parse_infer_request(
    data: bytes, *, max_message_bytes: int, server: str
) -> pb.ModelInferRequest:
    """A ModelInferRequest's bytes as the message, refused with a cause otherwise:
    ``too-large`` beyond ``max_message_bytes`` (checked before parsing), ``invalid`` when
    they are not the message. ``server`` names the refusing server in the message."""
    if len(data) > max_message_bytes:
        raise Refused(
            Cause.TOO_LARGE,
            f"request of {len(data):,} bytes exceeds {server}'s limit of "
            f"{max_message_bytes:,} bytes",
        )
    try:
        request: pb.ModelInferRequest = pb.ModelInferRequest.FromString(data)
    except DecodeError as exc:
        raise Refused(Cause.INVALID, f"malformed ModelInferRequest: {exc}") from None
    return request


def _has_contents(tensor: Any) -> bool:
    return bool(tensor.HasField("contents") and tensor.contents.ListFields())


def _bytes_array(items: Sequence[bytes]) -> npt.NDArray[np.object_]:
    array = np.empty(len(items), dtype=object)
    array[:] = items
    return array


def from_raw(role: str, name: str, datatype: Datatype, data: bytes, count: int) -> npt.NDArray[Any]:
    """``count`` elements of raw tensor content, flat (the inverse of :func:`to_raw`);
    TensorError when the bytes do not hold exactly that."""
    if datatype.is_bytes:
        return _from_raw_bytes(role, name, data, count)
    itemsize = datatype.dtype.itemsize
    expected = count * itemsize
    if len(data) != expected:
        raise TensorError(
            f'{role} "{name}": raw content holds {len(data)} bytes, expected {expected} '
            f"({count} {datatype.name} elements of {itemsize} bytes)",
            name,
        )
    if datatype.name == "BOOL":
        flags: npt.NDArray[np.bool_] = np.frombuffer(data, dtype=np.uint8) != 0
        return flags
    array = np.frombuffer(data, dtype=datatype.dtype)
    return array.astype(datatype.dtype.newbyteorder("="), copy=False)


def _from_raw_bytes(role: str, name: str, data: bytes, count: int) -> npt.NDArray[np.object_]:
    items: list[bytes] = []
    offset = 0
    for index in range(count):
        if offset + _LENGTH.size > len(data):
            raise TensorError(
                f'{role} "{name}": raw BYTES content ends before element {index} of {count}',
                name,
            )
        (length,) = _LENGTH.unpack_from(data, offset)
        offset += _LENGTH.size
        if offset + length > len(data):
            raise TensorError(
                f'{role} "{name}": raw BYTES element {index} claims {length} bytes, '
                f"only {len(data) - offset} remain",
                name,
            )
        items.append(data[offset : offset + length])
        offset += length
    if offset != len(data):
        raise TensorError(
            f'{role} "{name}": raw BYTES content has {len(data) - offset} bytes left '
            f"after its {count} elements",
            name,
        )
    return _bytes_array(items)


def _from_contents(name: str, datatype: Datatype, contents: Any, count: int) -> npt.NDArray[Any]:
    present = [field.name for field, _ in contents.ListFields()]
    wanted = datatype.contents_field
    if wanted is None:
        if present or count:
            raise TensorError(
                f'input "{name}": {datatype.name} has no typed contents; '
                "send it in raw_input_contents",
                name,
            )
        return np.empty(0, dtype=datatype.dtype.newbyteorder("="))
    wrong = [field for field in present if field != wanted]
    if wrong:
        raise TensorError(
            f'input "{name}": {datatype.name} elements go in contents.{wanted}, '
            f"not contents.{wrong[0]}",
            name,
        )
    values = getattr(contents, wanted)
    if len(values) != count:
        raise TensorError(
            f'input "{name}": contents.{wanted} holds {len(values)} elements, expected {count}',
            name,
        )
    if datatype.is_bytes:
        return _bytes_array(list(values))
    wire = _FIELD_DTYPES[wanted]
    array = np.fromiter(values, dtype=wire, count=count)
    if wire != datatype.dtype:
        info = np.iinfo(datatype.dtype)
        outside = array[(array < info.min) | (array > info.max)]
        if outside.size:
            raise TensorError(
                f'input "{name}": contents.{wanted} holds {outside[0]}, '
                f"outside the range of {datatype.name}",
                name,
            )
    return array.astype(datatype.dtype.newbyteorder("="), copy=False)


def decode_inputs(request: Any, expected: Mapping[str, TensorSpec]) -> dict[str, npt.NDArray[Any]]:
    """The inputs of a ``ModelInferRequest`` as arrays, by name in the model's order.

    ``expected`` is the model's inputs (:func:`onnx_specs`). Every input must be given
    exactly once, with the model's datatype and a shape that fits the model's; the data
    may come raw or typed (not both). Raises :class:`TensorError` naming the input.
    """
    inputs = list(request.inputs)
    seen: set[str] = set()
    for tensor in inputs:
        name = tensor.name
        if name not in expected:
            raise TensorError(f'unknown input "{name}"; the model takes {_names(expected)}', name)
        if name in seen:
            raise TensorError(f'input "{name}" is given more than once', name)
        seen.add(name)
    for name in expected:
        if name not in seen:
            raise TensorError(f'missing input "{name}"', name)

    shapes = [_checked_shape(tensor, expected[tensor.name]) for tensor in inputs]

    raw = request.raw_input_contents
    if raw:
        for tensor in inputs:
            if _has_contents(tensor):
                raise TensorError(
                    f'input "{tensor.name}" has typed contents, but the request uses '
                    "raw_input_contents; use one form for all inputs",
                    tensor.name,
                )
        if len(raw) != len(inputs):
            culprit = inputs[len(raw)].name if len(raw) < len(inputs) else ""
            raise TensorError(
                f"raw_input_contents has {len(raw)} entries for {len(inputs)} inputs",
                culprit,
            )

    decoded: dict[str, npt.NDArray[Any]] = {}
    for index, (tensor, (shape, count)) in enumerate(zip(inputs, shapes, strict=True)):
        datatype = DATATYPES[tensor.datatype]
        if raw:
            array = from_raw("input", tensor.name, datatype, raw[index], count)
        else:
            array = _from_contents(tensor.name, datatype, tensor.contents, count)
        decoded[tensor.name] = array.reshape(shape)
    return {name: decoded[name] for name in expected}


# --------------------------------------------------------------------------- encoding


def _bytes_element(role: str, name: str, index: int, item: object) -> bytes:
    if isinstance(item, bytes):
        return item
    if isinstance(item, str):
        return item.encode("utf-8")
    raise TensorError(
        f'{role} "{name}": BYTES element {index} is {type(item).__name__}, not bytes or str',
        name,
    )


def to_raw(role: str, name: str, datatype: Datatype, array: npt.NDArray[Any]) -> bytes:
    """``array`` as raw tensor content (``raw_input_contents`` / ``raw_output_contents``):
    row-major little-endian elements; a BYTES element (bytes, or str as UTF-8) is a 4-byte
    little-endian length and its bytes. ``role`` ("input"/"output") names the tensor in
    errors."""
    if not datatype.is_bytes:
        return np.ascontiguousarray(array, dtype=datatype.dtype).tobytes()
    parts: list[bytes] = []
    for index, item in enumerate(array.ravel(order="C")):
        element = _bytes_element(role, name, index, item)
        parts.append(_LENGTH.pack(len(element)))
        parts.append(element)
    return b"".join(parts)


def encode_outputs(
    outputs: Mapping[str, npt.ArrayLike], requested: Sequence[str] | None = None
) -> tuple[list[Any], list[bytes]]:
    """Output tensors and their ``raw_output_contents``, for a ``ModelInferResponse``.

    ``requested`` names the outputs to return, in that order; None or empty returns all
    of ``outputs`` in its order (the model's). Returns the ``InferOutputTensor`` messages
    and one raw entry for each. Raises :class:`TensorError` for an unknown or repeated
    name, or an array the protocol has no datatype for.
    """
    names = list(requested) if requested else list(outputs)
    seen: set[str] = set()
    for name in names:
        if name not in outputs:
            raise TensorError(f'unknown output "{name}"; the model gives {_names(outputs)}', name)
        if name in seen:
            raise TensorError(f'output "{name}" is requested more than once', name)
        seen.add(name)

    tensors: list[Any] = []
    raws: list[bytes] = []
    for name in names:
        array = np.asarray(outputs[name])
        datatype = datatype_of(array.dtype)
        if datatype is None:
            raise TensorError(
                f'output "{name}": numpy dtype {array.dtype} has no protocol datatype', name
            )
        raws.append(to_raw("output", name, datatype, array))
        tensors.append(
            pb.ModelInferResponse.InferOutputTensor(
                name=name, datatype=datatype.name, shape=array.shape
            )
        )
    return tensors, raws


# --------------------------------------------------------------------------- client side


def encode_inputs(request: Any, inputs: Mapping[str, npt.ArrayLike]) -> None:
    """Add named inputs to a ``ModelInferRequest`` in raw form, each with the protocol
    datatype of its numpy dtype (the client side of :func:`decode_inputs`)."""
    for name, value in inputs.items():
        array = np.asarray(value)
        datatype = datatype_of(array.dtype)
        if datatype is None:
            raise TensorError(
                f'input "{name}": numpy dtype {array.dtype} has no protocol datatype', name
            )
        request.inputs.add(name=name, datatype=datatype.name, shape=list(array.shape))
        request.raw_input_contents.append(to_raw("input", name, datatype, array))


def decode_outputs(response: Any) -> dict[str, npt.NDArray[Any]]:
    """The outputs of a ``ModelInferResponse`` as arrays (raw or typed contents)."""
    raws = list(response.raw_output_contents)
    out: dict[str, npt.NDArray[Any]] = {}
    for i, tensor in enumerate(response.outputs):
        datatype = DATATYPES.get(tensor.datatype)
        if datatype is None:
            raise TensorError(
                f'output "{tensor.name}": unknown datatype "{tensor.datatype}"', tensor.name
            )
        shape = tuple(int(d) for d in tensor.shape)
        count = int(np.prod(shape, dtype=np.int64))
        if raws:
            flat = from_raw("output", tensor.name, datatype, raws[i], count)
        else:
            flat = _from_contents(tensor.name, datatype, tensor.contents, count)
        out[tensor.name] = flat.reshape(shape)
    return out


# --------------------------------------------------------------------------- configuration

#: Bytes a BYTES element is counted as when sizing batches: its 4-byte length prefix and
#: at least one byte (the real size is the caller's).
_BYTES_ELEMENT_SIZE = 5


def model_config(
    name: str,
    platform: str,
    inputs: Iterable[TensorSpec],
    outputs: Iterable[TensorSpec],
    *,
    max_message_bytes: int,
    instances: int,
) -> Any:
    """Triton's ``ModelConfig`` for a signature.

    A model whose every input and output has a leading dimension of any size takes a
    batch: its dims drop that dimension and ``max_batch_size`` is the largest batch whose
    inputs fit one request (``max_message_bytes``). Otherwise ``max_batch_size`` is 0 and
    the dims are the whole shapes.
    """
    inputs, outputs = list(inputs), list(outputs)
    batched = all(spec.shape[:1] == (-1,) for spec in [*inputs, *outputs])
    item_bytes = sum(
        int(np.prod([max(d, 1) for d in spec.shape[1:]]))
        * (
            _BYTES_ELEMENT_SIZE
            if DATATYPES[spec.datatype].is_bytes
            else DATATYPES[spec.datatype].dtype.itemsize
        )
        for spec in inputs
    )

    def dims(spec: TensorSpec) -> tuple[int, ...]:
        return spec.shape[1:] if batched else spec.shape

    def data_type(spec: TensorSpec) -> Any:
        return pb.DataType.Value(DATATYPES[spec.datatype].config_type)

    return pb.ModelConfig(
        name=name,
        platform=platform,
        backend=platform.split("_", 1)[0],
        max_batch_size=min(2**31 - 1, max(1, max_message_bytes // max(1, item_bytes)))
        if batched
        else 0,
        input=[pb.ModelInput(name=s.name, data_type=data_type(s), dims=dims(s)) for s in inputs],
        output=[pb.ModelOutput(name=s.name, data_type=data_type(s), dims=dims(s)) for s in outputs],
        instance_group=[
            pb.ModelInstanceGroup(
                name=name, count=instances, kind=pb.ModelInstanceGroup.Kind.KIND_CPU
            )
        ],
    )
