"""ONNX Runtime sessions sized for many inference processes on few cores."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import onnxruntime

__all__ = ["make_session", "providers_for"]

_CUDA = "CUDAExecutionProvider"
_CPU = "CPUExecutionProvider"


def providers_for(wanted: str) -> tuple[list[str], str]:
    """The ONNX Runtime providers for ``[node] execution_provider`` (``"cpu"`` or
    ``"cuda"``) and a line saying what was found, for the host to report at start-up.
    ``"cuda"`` without onnxruntime-gpu (or without its CUDA provider) falls back to the
    CPU, said so."""
    import onnxruntime

    if wanted == "cpu":
        return [_CPU], "ONNX Runtime on the CPU"
    if wanted != "cuda":
        raise ValueError(f"execution_provider must be cpu or cuda, got {wanted!r}")
    available = onnxruntime.get_available_providers()
    if _CUDA not in available:
        return [_CPU], (
            "execution_provider cuda asked for, but this ONNX Runtime has no CUDA provider "
            f"(available: {', '.join(available)}; install onnxruntime-gpu): running on the CPU"
        )
    return [_CUDA, _CPU], "ONNX Runtime on CUDA"


def make_session(
    model: Path | str | bytes, *, provider: str = "cpu"
) -> onnxruntime.InferenceSession:
    """A session that uses one CPU thread and never spins, on ``provider`` (see
    :func:`providers_for`; a CUDA session whose device is missing runs on the CPU, and
    its ``get_providers()`` says so).

    Each compute satellite is its own process; a hundred of them share a few cores, so
    thread pools sized to the machine, or threads that busy-wait for work between
    requests, would steal the cores the other satellites need. ``model`` is a path or the
    serialised model.
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    source = model if isinstance(model, bytes) else str(model)
    providers, _ = providers_for(provider)
    return onnxruntime.InferenceSession(source, sess_options=options, providers=providers)
