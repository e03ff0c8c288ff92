"""From a scenario to the configuration of every compute satellite's process."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from orbitmesh.clock import SimClock
from orbitmesh.links.model import LinkParams
from orbitmesh.node.models import ensure_model
from orbitmesh.node.server import NodeConfig
from orbitmesh.orchestrator.geometry import GeometryEngine
from orbitmesh.protos.serving import Security

__all__ = ["node_configs"]


def node_configs(
    engine: GeometryEngine,
    clock: SimClock,
    *,
    satellites: Sequence[int] | None = None,
    duration_s: float | None = None,
    host: str = "127.0.0.1",
    model_cache: Path | None = None,
    security: Security | None = None,
) -> list[NodeConfig]:
    """One :class:`NodeConfig` per compute satellite (or per index in ``satellites``),
    its servers secured by ``security`` when given.

    Built-in models are built once here, in the driver, so that satellite processes only
    open cached files; each satellite gets its own ephemeris over the run.
    """
    scenario, catalog = engine.scenario, engine.catalog
    nodes = scenario.nodes
    chosen = list(catalog.compute_indices) if satellites is None else list(satellites)
    end_s = scenario.time.duration_s if duration_s is None else duration_s
    builtin = {
        name: str(ensure_model(name, model_cache).path) for name in nodes.node.builtin_models
    }
    user = {m.name: str(m.path) for m in nodes.models}
    ephemerides = engine.ephemeris(chosen, 0.0, end_s + 60.0)
    configs = []
    for i, eph in zip(chosen, ephemerides, strict=True):
        sid = catalog.ids[i]
        shell = catalog.shell_name(i)
        power, thermal = nodes.params_for(shell, sid)
        names = catalog.models_for(i, nodes.node.builtin_models)
        configs.append(
            NodeConfig(
                satellite_id=sid,
                name=catalog.names[i],
                power=power,
                thermal=thermal,
                node=nodes.node,
                models={name: builtin.get(name) or user[name] for name in names},
                clock=clock,
                ephemeris=eph,
                radio_rate_mbps=scenario.links.gsl_bandwidth_mbps,
                host=host,
                app=nodes.app,
                link_params=LinkParams(
                    loss_rate=scenario.links.loss_rate, seed=scenario.links.loss_seed
                ),
                security=security,
                radiation=scenario.radiation,
                accelerator=nodes.accelerator_for(shell, sid),
            )
        )
    return configs
