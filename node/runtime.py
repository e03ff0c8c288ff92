"""The models one satellite serves: ONNX Runtime sessions and their signatures, and a
satellite's own copy of a model whose weights radiation upset."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from orbitmesh.node.ephemeris import Ephemeris
from orbitmesh.node.models.onnx_session import make_session
from orbitmesh.node.models.text_input import (
    MASK_INPUT,
    TEXT_INPUT,
    TOKEN_INPUT,
    TextTokenizer,
    is_text_model,
)
from orbitmesh.node.radiation import RadiationParams
from orbitmesh.node.upsets import (
    SatelliteRadiation,
    WeightFlip,
    WeightTensor,
    WeightUpset,
    array_bits,
    flip_weights,
)
from orbitmesh.protos.tensors import DATATYPES, TensorSpec, onnx_specs

__all__ = [
    "LoadedModel",
    "ModelLoadError",
    "ModelRuntime",
    "nominal_output_bits",
    "satellite_radiation",
    "weight_tensors",
    "with_upset_weights",
]


class ModelLoadError(RuntimeError):
    """A model file that ONNX Runtime cannot open or whose tensors the protocol cannot carry."""


#: Turns the inputs clients send into the session's (text into token ids).
Preprocess = Callable[[Mapping[str, npt.NDArray[Any]]], dict[str, npt.NDArray[Any]]]


@dataclass(frozen=True)
class LoadedModel:
    name: str
    path: Path
    session: Any  # onnxruntime.InferenceSession
    inputs: dict[str, TensorSpec]  # what clients send, model order
    outputs: dict[str, TensorSpec]  # model order
    #: None: clients' inputs go to the session as they are. A text model's file asks
    #: for its tokenizer (node/models/text_input.py): then ``inputs`` is ``text``
    #: (BYTES [-1]) while the session takes ``input_ids`` and ``attention_mask``.
    preprocess: Preprocess | None = None

    def run(
        self, feeds: Mapping[str, npt.NDArray[Any]], outputs: Sequence[str] | None = None
    ) -> dict[str, npt.NDArray[Any]]:
        """One inference; runs in a worker thread (ONNX Runtime releases the GIL).
        A text model's tokenizer raises TensorError for text that is not UTF-8."""
        names = list(outputs) if outputs else list(self.outputs)
        session_feeds = dict(feeds) if self.preprocess is None else self.preprocess(feeds)
        values = self.session.run(names, session_feeds)
        return {name: np.asarray(value) for name, value in zip(names, values, strict=True)}


class ModelRuntime:
    """Every model of one satellite, opened once at start-up.

    ``shared`` holds sessions already opened in this process, by model name and file:
    satellites of one host share them (an ONNX Runtime session runs concurrent calls),
    while each satellite still queues and is slowed on its own.
    """

    def __init__(
        self,
        paths: Mapping[str, Path | str],
        shared: dict[tuple[str, Path], LoadedModel] | None = None,
        *,
        provider: str = "cpu",
    ) -> None:
        self.models: dict[str, LoadedModel] = {}
        for name, path in paths.items():
            key = (name, Path(path))
            loaded = shared.get(key) if shared is not None else None
            if loaded is None:
                loaded = self._load(name, Path(path), provider)
                if shared is not None:
                    shared[key] = loaded
            self.models[name] = loaded

    @staticmethod
    def _load(name: str, path: Path, provider: str = "cpu") -> LoadedModel:
        try:
            session = make_session(path, provider=provider)
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelLoadError(
                f"model {name!r} ({path}): ONNX Runtime cannot load it: {exc}"
            ) from exc
        try:
            inputs = onnx_specs(session.get_inputs())
            outputs = onnx_specs(session.get_outputs())
            tokenizer = _text_tokenizer(session, inputs)
        except (ValueError, ImportError) as exc:
            raise ModelLoadError(f"model {name!r} ({path}): {exc}") from exc
        if tokenizer is None:
            return LoadedModel(
                name=name, path=path, session=session, inputs=inputs, outputs=outputs
            )
        text = TensorSpec(TEXT_INPUT, "BYTES", (-1,))
        return LoadedModel(
            name=name,
            path=path,
            session=session,
            inputs={TEXT_INPUT: text},
            outputs=outputs,
            preprocess=tokenizer,
        )

    def get(self, name: str) -> LoadedModel | None:
        return self.models.get(name)

    @property
    def names(self) -> list[str]:
        return list(self.models)


def _text_tokenizer(session: Any, inputs: Mapping[str, TensorSpec]) -> TextTokenizer | None:
    """The tokenizer a text model's file carries; None for any other model (nothing
    is imported for those). ValueError for a text model whose graph does not take
    token ids, ImportError (naming what to install) without the tokenizers package."""
    metadata = session.get_modelmeta().custom_metadata_map
    if not is_text_model(metadata):
        return None
    wanted = {
        TOKEN_INPUT: TensorSpec(TOKEN_INPUT, "INT64", (-1, -1)),
        MASK_INPUT: TensorSpec(MASK_INPUT, "INT64", (-1, -1)),
    }
    if dict(inputs) != wanted:
        shown = ", ".join(f"{s.name} {s.datatype} {list(s.shape)}" for s in inputs.values())
        raise ValueError(
            f"a text model's graph must take {TOKEN_INPUT} and {MASK_INPUT} "
            f"(INT64 [-1, -1]), not {shown}"
        )
    return TextTokenizer.from_metadata(metadata)  # errors are prefixed with the name


# --------------------------------------------------------------------------- upset weights


def satellite_radiation(
    runtime: ModelRuntime, params: RadiationParams, ephemeris: Ephemeris, *, satellite_id: str
) -> SatelliteRadiation | None:
    """What radiation will do to a satellite carrying ``runtime``'s models along its
    track; None when the run has no radiation (then nothing is read or drawn)."""
    if not params.enabled:
        return None
    models = list(runtime.models.values())
    return SatelliteRadiation(
        params,
        ephemeris,
        satellite_id=satellite_id,
        weights=[tensor for model in models for tensor in weight_tensors(model)],
        output_bits=sum(nominal_output_bits(model) for model in models),
    )


def nominal_output_bits(model: LoadedModel) -> int:
    """Bits of the model's outputs for one batch item (free dimensions count 1): the
    output buffers an output upset's rate is per bit of. BYTES outputs hold pointers,
    not their values, and count none."""
    total = 0
    for spec in model.outputs.values():
        datatype = DATATYPES[spec.datatype]
        if datatype.is_bytes:
            continue
        items = int(np.prod([max(d, 1) for d in spec.shape], dtype=np.int64))
        total += items * datatype.dtype.itemsize * 8
    return total


def weight_tensors(model: LoadedModel) -> tuple[WeightTensor, ...]:
    """The model's floating-point parameters, which weight upsets strike: its
    initializers, and the float lists and tensors its operators carry as attributes
    (ONNX-ML operators such as ``LinearClassifier`` hold their coefficients there).
    Integer tensors and attributes are left out: they are shapes, axes and labels,
    whose corruption would break the graph rather than its numbers."""
    return tuple(WeightTensor(model.name, name, bits) for name, bits in _weight_layout(model.path))


@functools.lru_cache(maxsize=64)
def _weight_layout(path: Path) -> tuple[tuple[str, int], ...]:
    # Read once per process and file: every satellite of a host carrying the model asks.
    proto = _load_proto(path)
    return tuple((name, array_bits(get())) for name, (get, _put) in _parameters(proto).items())


def with_upset_weights(
    model: LoadedModel, upsets: Sequence[WeightUpset]
) -> tuple[LoadedModel, list[WeightFlip]]:
    """A copy of ``model`` with the upsets' bits of its weights flipped, in a session of
    its own (the shared one stays clean for the host's other satellites), and the bits
    flipped. Read from the model's file, so each copy starts from clean weights."""
    proto = _load_proto(model.path)
    slots = _parameters(proto)
    struck = {u.tensor for u in upsets}
    arrays = {name: slots[name][0]() for name in struck}
    flips = flip_weights(arrays, upsets)
    for name, array in arrays.items():
        slots[name][1](array)
    try:
        session = make_session(proto.SerializeToString())
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ModelLoadError(
            f"model {model.name!r} with upset weights: ONNX Runtime cannot load it: {exc}"
        ) from exc
    return dataclasses.replace(model, session=session), flips


_Slot = tuple[Callable[[], npt.NDArray[Any]], Callable[[npt.NDArray[Any]], None]]


def _load_proto(path: Path) -> Any:
    import onnx  # the emulator extra; only satellites under radiation need it

    return onnx.load(str(path))


def _parameters(proto: Any) -> dict[str, _Slot]:
    """Every floating-point parameter of the graph by name, as (read a writeable copy,
    write it back) pairs. Attributes are named ``<node>.<attribute>``, the node by its
    name or, unnamed, ``<op type>#<position in the graph>``."""
    from onnx import AttributeProto, numpy_helper

    slots: dict[str, _Slot] = {}
    for tensor in proto.graph.initializer:
        if _is_float(numpy_helper.to_array(tensor)):
            slots[tensor.name] = _tensor_slot(tensor)
    for position, node in enumerate(proto.graph.node):
        owner = node.name or f"{node.op_type}#{position}"
        for attribute in node.attribute:
            name = f"{owner}.{attribute.name}"
            if attribute.type == AttributeProto.FLOATS and len(attribute.floats):
                slots[name] = _floats_slot(attribute)
            elif attribute.type == AttributeProto.TENSOR and _is_float(
                numpy_helper.to_array(attribute.t)
            ):
                slots[name] = _tensor_slot(attribute.t)
    return slots


def _is_float(array: npt.NDArray[Any]) -> bool:
    return array.dtype.kind == "f" and array.size > 0


def _tensor_slot(tensor: Any) -> _Slot:
    from onnx import numpy_helper

    def read() -> npt.NDArray[Any]:
        return np.array(numpy_helper.to_array(tensor), copy=True, order="C")

    def write(array: npt.NDArray[Any]) -> None:
        tensor.CopyFrom(numpy_helper.from_array(array, tensor.name))

    return read, write


def _floats_slot(attribute: Any) -> _Slot:
    def read() -> npt.NDArray[Any]:
        return np.array(attribute.floats, dtype=np.float32)

    def write(array: npt.NDArray[Any]) -> None:
        # Through Python floats: exact for every float32 but a signalling NaN, which
        # comes back quiet (one bit more than the upset flipped).
        attribute.floats[:] = array.tolist()

    return read, write
