"""How a satellite serves: the ``[node]`` table of a scenario."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BUILTIN_MODEL_NAMES", "DEFAULT_BUILTIN_MODELS", "NodeSpec"]

#: Built-in models a compute satellite can carry (node/models builds them locally);
#: minilm needs the `text` extra and its weights package (docs/node.md).
BUILTIN_MODEL_NAMES: tuple[str, ...] = ("digits", "digits-cnn", "minilm")
#: What every compute satellite carries unless ``[node] builtin_models`` says otherwise.
DEFAULT_BUILTIN_MODELS: tuple[str, ...] = ("digits", "digits-cnn")


@dataclass(frozen=True)
class NodeSpec:
    """How a satellite serves: ``[node]``."""

    #: Requests waiting or running before new ones are refused ("queue").
    queue_depth: int = 16
    #: Inferences running at once on a cool satellite (fewer when throttled).
    max_concurrency: int = 1
    #: Largest request accepted (a bigger one is refused with "too-large").
    max_message_mb: float = 16.0
    builtin_models: tuple[str, ...] = DEFAULT_BUILTIN_MODELS
    #: The accelerator every satellite emulates unless its shell or itself says
    #: otherwise (node/accelerator.py; "host": the host's own time).
    accelerator: str = "host"
    #: Where a host runs its ONNX Runtime sessions: "cpu", or "cuda" where
    #: onnxruntime-gpu and a CUDA device exist (else the CPU, said at start-up).
    execution_provider: str = "cpu"

    @property
    def max_message_bytes(self) -> int:
        return int(self.max_message_mb * 2**20)
