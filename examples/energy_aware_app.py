"""A satellite app: classify digits where it costs the constellation least.

Each compute satellite loads this class (scenario ``[app]``); clients call it like any
model, by its name ``smart-digits``. On a satellite that is in sunlight with charge to
spare it runs the accurate convolutional network itself. Otherwise it hands the work to
the best-charged sunlit neighbour over the laser links, and if no neighbour can take it,
falls back to the cheap linear model so that a dark, drained satellite still answers.

Run it: ``orbitmesh up examples/energy-aware.toml``, then
``orbitmesh infer --station frankfurt --model smart-digits --input digits.npy``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from orbitmesh.node.app import SatelliteContext
from orbitmesh.protos.tensors import TensorSpec

Arrays = dict[str, npt.NDArray[Any]]


def _text(value: str) -> npt.NDArray[np.object_]:
    return np.array([value.encode()], dtype=object)


class EnergyAwareDigits:
    name = "smart-digits"
    inputs = (TensorSpec("input", "FP32", (-1, 64)),)
    outputs = (
        TensorSpec("label", "INT64", (-1,)),
        TensorSpec("served_by", "BYTES", (1,)),  # the satellite that ran the model
        TensorSpec("model", "BYTES", (1,)),  # the model it ran
    )

    def __init__(self, context: SatelliteContext, config: dict[str, Any]) -> None:
        self.context = context
        #: Below this state of charge the satellite keeps its battery for the bus.
        self.min_soc = float(config.get("min_soc", 0.5))

    async def infer(self, inputs: Arrays, parameters: dict[str, object]) -> Arrays:
        pixels = inputs["input"]
        images = {"input": pixels.reshape(-1, 1, 8, 8)}
        me = self.context.status()
        if not parameters.get("offload") and me.sunlit and me.state_of_charge >= self.min_soc:
            out = await self.context.infer("digits-cnn", images, outputs=["label"])
            return self._answer(out["label"], self.context.satellite_id, "digits-cnn")

        helpers = [
            n
            for n in self.context.neighbours()
            if n.accepting
            and n.sunlit
            and n.state_of_charge >= self.min_soc
            and "digits-cnn" in n.models
        ]
        if helpers:
            best = max(helpers, key=lambda n: (n.state_of_charge, -n.delay_ms))
            out = await self.context.call("digits-cnn", images, satellite=best.satellite_id)
            return self._answer(out["label"], best.satellite_id, "digits-cnn")

        out = await self.context.infer("digits", {"input": pixels}, outputs=["label"])
        return self._answer(out["label"], self.context.satellite_id, "digits")

    @staticmethod
    def _answer(label: npt.NDArray[Any], where: str, model: str) -> Arrays:
        return {
            "label": np.asarray(label, dtype=np.int64),
            "served_by": _text(where),
            "model": _text(model),
        }
