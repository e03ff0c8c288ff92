"""ONNX Runtime sessions sized for many inference processes on few cores."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import onnxruntime

__all__ = ["make_session"]


def make_session(model: Path | str | bytes) -> onnxruntime.InferenceSession:
    """A CPU session that uses one thread and never spins.

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
    return onnxruntime.InferenceSession(
        source, sess_options=options, providers=["CPUExecutionProvider"]
    )
