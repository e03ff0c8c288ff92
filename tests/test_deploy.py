"""deploy/: the cluster configurations agree with Ray's own schema and with the project.

Nothing here starts a cloud or Kubernetes cluster; the `ray up` file is checked by the
validator `ray up` itself runs, and the image and manifest by what they must agree on
(Ray version, packages copied, models prebuilt). Joining a real multi-node Ray cluster
is tested in test_cluster.py.
"""

from __future__ import annotations

import re
import tomllib
from typing import Any

import pytest
import ray
import yaml
from conftest import REPO

DEPLOY = REPO / "deploy"


def _ray_up_config() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load((DEPLOY / "ray-cluster.yaml").read_text())
    return config


def test_ray_up_config_passes_rays_own_validation() -> None:
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = _ray_up_config()
    validate_config(prepare_config(config))
    assert config["max_workers"] == len(config["provider"]["worker_ips"])


def test_ray_up_validation_would_catch_a_misspelt_key() -> None:
    """The check above can fail: Ray's schema refuses keys it does not know."""
    from jsonschema import ValidationError
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = _ray_up_config()
    config["setup_command"] = config.pop("setup_commands")
    with pytest.raises(ValidationError, match="setup_command"):
        validate_config(prepare_config(config))


def test_image_and_manifest_use_the_installed_ray() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    (image_ray,) = re.findall(r"^ARG RAY_VERSION=(\S+)$", dockerfile, re.MULTILINE)
    manifest = yaml.safe_load((DEPLOY / "kuberay" / "raycluster.yaml").read_text())
    assert image_ray == ray.__version__
    assert manifest["spec"]["rayVersion"] == ray.__version__


def test_image_copies_every_package_and_prebuilds_the_models() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    # orbitmesh/ and the top-level folders its symlinks map into the namespace.
    linked = {p.name for p in (REPO / "orbitmesh").iterdir() if p.is_symlink()}
    assert linked == {"node", "ground", "orchestrator", "protos"}
    copied = set(re.findall(r"^COPY --chown=\S+ (\w+) \1$", dockerfile, re.MULTILINE))
    assert copied == {"orbitmesh", *linked}
    assert "python -m orbitmesh.node.models --cache-dir" in dockerfile


def test_manifest_runs_the_image_on_every_node() -> None:
    manifest = yaml.safe_load((DEPLOY / "kuberay" / "raycluster.yaml").read_text())
    spec = manifest["spec"]
    groups = [spec["headGroupSpec"], *spec["workerGroupSpecs"]]
    images = {c["image"] for g in groups for c in g["template"]["spec"]["containers"]}
    assert images == {"orbitmesh:0.1.0"}
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert project["project"]["version"] == "0.1.0"
