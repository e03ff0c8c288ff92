"""deploy/: the cluster configurations agree with Ray's and KubeRay's own schemas and with
the project.

Nothing here starts a cloud or Kubernetes cluster; the `ray up` file is checked by the
validator `ray up` itself runs, the KubeRay manifests against the operator's CRD schemas
(tests/data/kuberay/, from the kuberay repository), and the image and manifests by what
they must agree on (Ray version, packages copied, models prebuilt, the job's command).
Joining a real multi-node Ray cluster is tested in test_cluster.py.
"""

from __future__ import annotations

import gzip
import json
import re
import shlex
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
    assert linked == {"node", "ground", "orchestrator", "protos", "links"}
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


# --- KubeRay manifests against the operator's own CRD schemas ---------------------------

#: Ports KubeRay gives Ray's containers by these names (utils/constant.go): ours must differ.
KUBERAY_PORT_NAMES = {"gcs-server", "dashboard", "client", "metrics", "serve"}


def _crd_schema(kind: str) -> dict[str, Any]:
    """The v1 openAPIV3Schema of a KubeRay CRD, vendored by scripts/vendor_kuberay_schemas.py."""
    path = REPO / "tests" / "data" / "kuberay" / f"{kind}.schema.json.gz"
    document: dict[str, Any] = json.loads(gzip.decompress(path.read_bytes()))
    assert document["kind"] == kind
    return document


def _unknown_fields(value: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Fields the schema does not define. The API server drops them without a word (CRD
    pruning), so a misspelt key would silently do nothing; `kubectl apply
    --validate=strict` refuses them, and so does this."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return []
    found: list[str] = []
    if isinstance(value, dict):
        properties = schema.get("properties")
        additional = schema.get("additionalProperties")
        for key, item in value.items():
            if properties is not None and key in properties:
                found += _unknown_fields(item, properties[key], f"{path}.{key}")
            elif isinstance(additional, dict):
                found += _unknown_fields(item, additional, f"{path}.{key}")
            elif properties is not None or additional is False:
                found.append(f"{path}.{key}")
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            found += _unknown_fields(item, schema["items"], f"{path}[{index}]")
    return found


def _check_manifest(manifest: dict[str, Any]) -> list[str]:
    from jsonschema import Draft7Validator

    crd = _crd_schema(manifest["kind"])
    assert manifest["apiVersion"] == crd["apiVersion"]
    problems = [
        f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
        for e in Draft7Validator(crd["schema"]).iter_errors(manifest)
    ]
    return problems + [
        f"{p}: not in the {manifest['kind']} schema"
        for p in _unknown_fields(manifest, crd["schema"])
    ]


def _manifests() -> dict[str, dict[str, Any]]:
    return {
        path.name: yaml.safe_load(path.read_text())
        for path in sorted((DEPLOY / "kuberay").glob("*.yaml"))
    }


def test_kuberay_manifests_match_the_operators_crds() -> None:
    manifests = _manifests()
    assert {m["kind"] for m in manifests.values()} == {"RayCluster", "RayJob"}
    for name, manifest in manifests.items():
        assert _check_manifest(manifest) == [], name


def test_the_crd_check_can_fail() -> None:
    cluster = _manifests()["raycluster.yaml"]
    cluster["spec"]["headGroupSpec"]["rayStartparams"] = {}  # misspelt
    cluster["spec"]["workerGroupSpecs"][0]["replicas"] = "four"
    problems = _check_manifest(cluster)
    assert any("replicas" in p for p in problems), problems
    assert any(p.endswith(".rayStartparams: not in the RayCluster schema") for p in problems)


def test_rayjob_runs_a_load_test_on_the_manifests_cluster() -> None:
    from orbitmesh.orchestrator.cli import build_parser

    manifests = _manifests()
    cluster, job = manifests["raycluster.yaml"], manifests["rayjob-load.yaml"]
    assert job["spec"]["clusterSelector"] == {"ray.io/cluster": cluster["metadata"]["name"]}
    # The entrypoint is a command this orbitmesh accepts, and a load test that brings the
    # emulation up itself (a scenario, not an endpoints file) reachable from other pods.
    argv = shlex.split(job["spec"]["entrypoint"])
    assert argv[0] == "orbitmesh"
    args = build_parser().parse_args(argv[1:])
    assert args.command == "load" and args.target == "starlink-shell1"
    assert args.host == "0.0.0.0" and args.address is None  # RAY_ADDRESS names the cluster
    # Serving beyond loopback is a choice the manifest states (docs/security.md).
    from orbitmesh.orchestrator.cli_run import security_of

    assert args.insecure and security_of(args) is None
    (submitter,) = job["spec"]["submitterPodTemplate"]["spec"]["containers"]
    assert submitter["image"] == "orbitmesh:0.1.0"


def test_kuberay_port_names_are_our_own() -> None:
    cluster = _manifests()["raycluster.yaml"]
    groups = [cluster["spec"]["headGroupSpec"], *cluster["spec"]["workerGroupSpecs"]]
    names = [
        port["name"]
        for group in groups
        for container in group["template"]["spec"]["containers"]
        for port in container.get("ports", [])
    ]
    assert len(names) == len(set(names))
    assert not set(names) & KUBERAY_PORT_NAMES
    assert all(len(n) <= 15 and re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?", n) for n in names)
