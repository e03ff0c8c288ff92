"""How a satellite serves: the ``[node]`` table of a scenario."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BUILTIN_MODEL_NAMES", "NodeSpec"]

#: Built-in models every compute satellite can carry (node/models builds them locally).
BUILTIN_MODEL_NAMES: tuple[str, ...] = ("digits", "digits-cnn")


@dataclass(frozen=True)
class NodeSpec:
    """How a satellite serves: ``[node]``."""

    #: Requests waiting or running before new ones are refused ("queue").
    queue_depth: int = 16
    #: Inferences running at once on a cool satellite (fewer when throttled).
    max_concurrency: int = 1
    #: Largest request accepted (a bigger one is refused with "too-large").
    max_message_mb: float = 16.0
    builtin_models: tuple[str, ...] = BUILTIN_MODEL_NAMES

    @property
    def max_message_bytes(self) -> int:
        return int(self.max_message_mb * 2**20)
