"""User code on satellites: a class each compute satellite loads (``[app]`` in a scenario).

An app appears to clients as one more model, named by its ``name`` attribute, and is
served by every compute satellite. When a request for it arrives, the satellite calls
the app's ``infer`` with the decoded inputs and a :class:`SatelliteContext`, through
which the app sees its own satellite (position, sunlight, battery, heat, neighbours) and
runs models locally or on other satellites over the emulated laser links::

    class MyApp:
        name = "my-app"
        inputs = [TensorSpec("input", "FP32", (-1, 64))]
        outputs = [TensorSpec("label", "INT64", (-1,))]

        def __init__(self, context: SatelliteContext, config: dict[str, object]) -> None: ...

        async def infer(self, inputs: dict[str, np.ndarray], parameters: dict) -> dict:
            ...

See examples/energy_aware_app.py for a worked example.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy.typing as npt

from orbitmesh.node.inference import InferenceCore
from orbitmesh.node.runtime import ModelRuntime
from orbitmesh.node.state import NodeSnapshot
from orbitmesh.protos.contract import Cause, Refused
from orbitmesh.protos.inference import grpc_service_pb2 as pb
from orbitmesh.protos.tensors import TensorSpec, decode_inputs, decode_outputs, encode_inputs

if TYPE_CHECKING:  # the forwarder's import chain (routes, scipy) is not needed to parse specs
    from orbitmesh.node.forwarding import Forwarder

__all__ = ["APP_MEMBERS", "AppSpec", "Neighbour", "SatelliteApp", "SatelliteContext", "load_app"]

Arrays = dict[str, npt.NDArray[Any]]


@dataclass(frozen=True)
class AppSpec:
    """``[app]``: where the class is and what it is given."""

    entry: str  # "package.module:ClassName"
    path: str | None = None  # folder added to sys.path first (absolute)
    config: Mapping[str, Any] = field(default_factory=dict)


class SatelliteApp(Protocol):
    name: str
    inputs: Sequence[TensorSpec]
    outputs: Sequence[TensorSpec]

    async def infer(self, inputs: Arrays, parameters: dict[str, object]) -> Arrays: ...


#: What an app must have (:class:`SatelliteApp`'s members): ``load_app`` checks an
#: instance, ``orbitmesh validate`` the class (orchestrator/preflight.py).
APP_MEMBERS: tuple[str, ...] = ("name", "inputs", "outputs", "infer")


@dataclass(frozen=True)
class Neighbour:
    """A compute satellite reachable from this one now."""

    satellite_id: str
    delay_ms: float  # one-way propagation over the current route
    hops: tuple[str, ...]
    models: tuple[str, ...]
    state_of_charge: float
    sunlit: bool
    accepting: bool


class SatelliteContext:
    """What an app can see and do from inside its satellite."""

    def __init__(
        self, satellite_id: str, *, core: InferenceCore, runtime: ModelRuntime, forwarder: Forwarder
    ) -> None:
        self.satellite_id = satellite_id
        self._core = core
        self._runtime = runtime
        self._forwarder = forwarder

    def status(self) -> NodeSnapshot:
        """This satellite now: position, sunlight, battery, temperature, queue."""
        return self._core.state.snapshot()

    @property
    def models(self) -> list[str]:
        return self._runtime.names

    def neighbours(self) -> list[Neighbour]:
        """Other compute satellites reachable over laser links now, nearest first."""
        routes = self._forwarder.routes()
        fleet = self._forwarder.view.fleet
        out = []
        for sid, route in routes.items() if routes is not None else ():
            info = fleet.info(sid)
            if info is None or not info.up:
                continue
            out.append(
                Neighbour(
                    satellite_id=sid,
                    delay_ms=route.delay_ms,
                    hops=route.hops,
                    models=info.models,
                    state_of_charge=info.state_of_charge,
                    sunlit=info.sunlit,
                    accepting=info.accepting_power and info.accepting_thermal,
                )
            )
        return sorted(out, key=lambda n: n.delay_ms)

    async def infer(
        self, model: str, inputs: Arrays, outputs: Sequence[str] | None = None
    ) -> Arrays:
        """Run one of this satellite's models (it waits in the satellite's queue and
        spends its battery like any request)."""
        loaded = self._runtime.get(model)
        if loaded is None:
            known = ", ".join(self._runtime.names)
            raise Refused(
                Cause.NOT_FOUND, f"this satellite has no model {model!r} (models: {known})"
            )
        request = pb.ModelInferRequest(model_name=model)
        encode_inputs(request, inputs)
        feeds = decode_inputs(request, loaded.inputs)
        result, _timing = await self._core.run(
            loaded, feeds, list(outputs) if outputs else None, admitted=True
        )
        return result

    async def call(
        self,
        model: str,
        inputs: Arrays,
        *,
        satellite: str | None = None,
        policy: str | None = None,
        timeout_s: float | None = 30.0,
    ) -> Arrays:
        """Run ``model`` on another satellite (pinned, or chosen by ``policy``, default
        the nearest able one), across the emulated laser links."""
        target, route = self._forwarder.pick(model, satellite=satellite, policy=policy)
        request = pb.ModelInferRequest(model_name=model)
        encode_inputs(request, inputs)
        reply, _transfer = await self._forwarder.call(
            target, route, request.SerializeToString(), timeout_s
        )
        return decode_outputs(pb.ModelInferResponse.FromString(reply))


def load_app(spec: AppSpec, context: SatelliteContext) -> SatelliteApp:
    """Import the app's class and instantiate it for this satellite."""
    if spec.path is not None and spec.path not in sys.path:
        sys.path.insert(0, spec.path)
    module_name, _, class_name = spec.entry.partition(":")
    module = importlib.import_module(module_name)
    cls = getattr(module, class_name)
    app: SatelliteApp = cls(context, dict(spec.config))
    for attribute in APP_MEMBERS:
        if not hasattr(app, attribute):
            raise TypeError(f"app {spec.entry} has no {attribute!r} (see node/app.py)")
    return app
