"""The models one satellite serves: ONNX Runtime sessions and their signatures."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from orbitmesh.node.models.onnx_session import make_session
from orbitmesh.protos.tensors import TensorSpec, onnx_specs

__all__ = ["LoadedModel", "ModelLoadError", "ModelRuntime"]


class ModelLoadError(RuntimeError):
    """A model file that ONNX Runtime cannot open or whose tensors the protocol cannot carry."""


@dataclass(frozen=True)
class LoadedModel:
    name: str
    path: Path
    session: Any  # onnxruntime.InferenceSession
    inputs: dict[str, TensorSpec]  # model order
    outputs: dict[str, TensorSpec]  # model order

    def run(
        self, feeds: Mapping[str, npt.NDArray[Any]], outputs: Sequence[str] | None
    ) -> dict[str, npt.NDArray[Any]]:
        """One inference; runs in a worker thread (ONNX Runtime releases the GIL)."""
        names = list(outputs) if outputs else list(self.outputs)
        values = self.session.run(names, dict(feeds))
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
    ) -> None:
        self.models: dict[str, LoadedModel] = {}
        for name, path in paths.items():
            key = (name, Path(path))
            loaded = shared.get(key) if shared is not None else None
            if loaded is None:
                loaded = self._load(name, Path(path))
                if shared is not None:
                    shared[key] = loaded
            self.models[name] = loaded

    @staticmethod
    def _load(name: str, path: Path) -> LoadedModel:
        try:
            session = make_session(path)
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelLoadError(
                f"model {name!r} ({path}): ONNX Runtime cannot load it: {exc}"
            ) from exc
        try:
            inputs = onnx_specs(session.get_inputs())
            outputs = onnx_specs(session.get_outputs())
        except ValueError as exc:
            raise ModelLoadError(f"model {name!r} ({path}): {exc}") from exc
        return LoadedModel(name=name, path=path, session=session, inputs=inputs, outputs=outputs)

    def get(self, name: str) -> LoadedModel | None:
        return self.models.get(name)

    @property
    def names(self) -> list[str]:
        return list(self.models)
