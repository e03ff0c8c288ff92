"""The accelerator a satellite emulates: how long its inferences take and what they draw.

A satellite runs its models on the host for real outputs, but a host core is not the
hardware in orbit: 100 satellites sharing two cores would each be slower than any of
them alone. An :class:`Accelerator` profile gives the time an inference takes on the
emulated hardware, and the power it draws busy and idle; the satellite replies at the
modelled finish and books the profile's energy and heat (node/inference.py). ``host``
(no profile) keeps the host's own time and the ``[power]`` table's ``compute_w``.

Modelled time of a batch of ``n`` items: ``launch_ms + n * latency_ms[model]`` where the
profile gives a per-item latency measured on that hardware, else ``launch_ms + n *
flops / (peak_tflops * 1e12)`` with the FLOPs counted from the model's ONNX graph
(node/models/opcount.py).

Pure domain code: no Ray, no gRPC, no ONNX.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from orbitmesh.checking import ParamChecker, ParamProblem

__all__ = ["BUILTIN_ACCELERATORS", "HOST", "Accelerator"]

#: The name that means "no profile: the host's own speed".
HOST = "host"


@dataclass(frozen=True)
class Accelerator:
    """One accelerator profile (a scenario's ``[[accelerator]]`` table, or a built-in)."""

    name: str
    #: Drawn while an inference runs (replaces ``[power] compute_w``).
    active_w: float
    #: Drawn while powered and idle.
    idle_w: float
    #: Sustained (not peak marketing) TFLOPS, for models missing from ``latency_ms``.
    peak_tflops: float
    #: Per batch item, measured on that hardware, by model name.
    latency_ms: Mapping[str, float] = field(default_factory=dict)
    #: Fixed cost of one batch (kernel launches, host transfers).
    launch_ms: float = 0.0
    #: Where the figures come from (shown by ``orbitmesh`` and docs/node.md).
    source: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "latency_ms", MappingProxyType(dict(self.latency_ms)))

    def validate(self, path: str) -> list[ParamProblem]:
        """Every problem, each with its field path under ``path``."""
        check = ParamChecker(path)
        check.non_negative("active_w", self.active_w)
        check.non_negative("idle_w", self.idle_w)
        check.positive("peak_tflops", self.peak_tflops)
        check.non_negative("launch_ms", self.launch_ms)
        if math.isfinite(self.idle_w) and self.idle_w > self.active_w:
            check.problem(
                "idle_w", f"must not exceed active_w ({self.active_w}), got {self.idle_w}"
            )
        for model, ms in self.latency_ms.items():
            check.positive(f"latency_ms.{model}", ms)
        return check.problems

    def inference_s(self, model: str, batch: int, flops_per_item: float | None) -> float:
        """Modelled seconds for one batch of ``batch`` items of ``model``.

        ``flops_per_item``: counted from the model's graph; needed only when the model
        is missing from ``latency_ms`` (ValueError if it is then None).
        """
        items = max(1, batch)
        per_item_ms = self.latency_ms.get(model)
        if per_item_ms is not None:
            return (self.launch_ms + items * per_item_ms) / 1e3
        if flops_per_item is None:
            raise ValueError(
                f"accelerator {self.name!r} has no latency_ms for model {model!r} and its "
                "operation count is unknown"
            )
        return self.launch_ms / 1e3 + items * flops_per_item / (self.peak_tflops * 1e12)


def _builtin(*profiles: Accelerator) -> Mapping[str, Accelerator]:
    return MappingProxyType({p.name: p for p in profiles})


#: Built-in profiles. No model of ours has a published latency on this hardware, so
#: their times come from the operation count and a sustained rate; ``launch_ms`` is an
#: engineering estimate of a batch's fixed cost (a few kernel launches of ~5 us each
#: on a GPU, an XLA dispatch on a TPU). Users with measurements add ``latency_ms``.
BUILTIN_ACCELERATORS: Mapping[str, Accelerator] = _builtin(
    Accelerator(
        name="h100",
        # NVIDIA H100 SXM5 (the part Starcloud-1 flew in November 2025 is an H100): up to
        # 700 W (NVIDIA H100 Tensor Core GPU datasheet, SXM form factor, max TDP).
        active_w=700.0,
        # Engineering estimate: NVIDIA publishes no idle figure; an idle H100 SXM module
        # reads 60-80 W in nvidia-smi.
        idle_w=70.0,
        # 989 TFLOPS dense BF16 tensor peak (datasheet) at 40% utilisation: Meta reports
        # 38-43% BF16 model FLOPs utilisation on H100s ("The Llama 3 Herd of Models",
        # 2024, Table 4).
        peak_tflops=396.0,
        launch_ms=0.02,
        source="NVIDIA H100 datasheet (700 W, 989 TFLOPS BF16 dense); 40% MFU (Llama 3 paper)",
    ),
    Accelerator(
        name="tpu-v6e",
        # Engineering estimate: Google publishes no power for Trillium; Cloud TPU v3's
        # documented measured min/mean/max is 123/220/262 W a chip, and v6e's peak
        # compute is 7.5 times v3's.
        active_w=300.0,
        idle_w=90.0,
        # 918 TFLOPS BF16 peak a chip (Cloud TPU v6e documentation), 40% sustained as
        # for the H100.
        peak_tflops=367.0,
        launch_ms=0.05,
        source="Cloud TPU v6e docs (918 TFLOPS BF16 a chip); power estimated from TPU v3's",
    ),
    Accelerator(
        name="jetson-orin",
        # Jetson Orin NX 16GB: "power configurable between 10W and 25W" (NVIDIA Jetson
        # Orin NX series datasheet); the 25 W mode, as [power] compute_w's default.
        active_w=25.0,
        # The datasheet's lowest mode is 10 W under load; idle module, engineering
        # estimate.
        idle_w=5.0,
        # 100 INT8 TOPS with sparsity (datasheet) is about 25 dense FP16 TFLOPS across
        # GPU and DLAs; 20% of that sustained for FP32-exported ONNX models on the GPU.
        peak_tflops=5.0,
        launch_ms=0.05,
        source="NVIDIA Jetson Orin NX datasheet (10-25 W, 100 sparse INT8 TOPS)",
    ),
)
