"""Copy the KubeRay CRDs' schemas that tests/test_deploy.py validates deploy/ against.

Usage::

    git clone https://github.com/ray-project/kuberay /tmp/kuberay
    python scripts/vendor_kuberay_schemas.py /tmp/kuberay [--tag v1.5.1]

For each kind (RayCluster, RayJob) it reads the CRD the operator installs
(``ray-operator/config/crd/bases/ray.io_<plural>.yaml`` at the tag), takes the
``openAPIV3Schema`` of its ``v1`` version and writes it as gzipped JSON to
``tests/data/kuberay/<kind>.schema.json.gz`` with the tag and commit it came from. The tag
is the oldest operator deploy/ supports (token authentication needs 1.5.1).
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
OUT = REPO_ROOT / "tests" / "data" / "kuberay"
KINDS = {"RayCluster": "rayclusters", "RayJob": "rayjobs"}


def git(kuberay: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(kuberay), *args], capture_output=True, text=True, check=True
    ).stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("kuberay", type=Path, help="a clone of github.com/ray-project/kuberay")
    parser.add_argument("--tag", default="v1.5.1")
    args = parser.parse_args()
    commit = git(args.kuberay, "rev-parse", f"{args.tag}^{{commit}}").strip()
    OUT.mkdir(parents=True, exist_ok=True)
    for kind, plural in KINDS.items():
        path = f"ray-operator/config/crd/bases/ray.io_{plural}.yaml"
        crd = yaml.load(git(args.kuberay, "show", f"{commit}:{path}"), Loader=yaml.CSafeLoader)
        assert crd["spec"]["names"]["kind"] == kind
        (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
        document = {
            "source": f"github.com/ray-project/kuberay {args.tag} ({commit}) {path}",
            "apiVersion": f"{crd['spec']['group']}/v1",
            "kind": kind,
            "schema": version["schema"]["openAPIV3Schema"],
        }
        target = OUT / f"{kind}.schema.json.gz"
        # mtime=0: the same input gives the same bytes.
        with gzip.GzipFile(target, "wb", mtime=0) as out:
            out.write(json.dumps(document, sort_keys=True, separators=(",", ":")).encode())
        print(f"wrote {target.relative_to(REPO_ROOT)} ({target.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
