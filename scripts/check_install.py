"""Install orbitmesh as a user does and check what lands in site-packages.

Usage (from anywhere; the checkout is found from this file)::

    python scripts/check_install.py [--python PYTHON]

1. Builds the wheel from a copy of the checkout's files (``pip wheel``, in pip's isolated
   build environment: this is what proves the build-system floor in pyproject.toml).
2. Reads the wheel: its only import package is ``orbitmesh`` (no top-level ``node``,
   ``ground``, ``orchestrator``, ``protos`` or ``links``); it carries ``py.typed``, the built-in
   scenarios and the .proto sources; its base requirements pull neither Ray, ONNX
   Runtime nor scikit-learn (those come with the ``emulator`` extra).
3. Installs it into a fresh virtual environment with its base requirements only (the
   client install) and, from a folder outside the checkout: imports ``orbitmesh.ground``
   and its ``Client``, runs ``orbitmesh --version``, and checks that ``orbitmesh up``
   ends in one line naming the extra, exit status 2.

Prints one line per check; exits 1 on the first that fails.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from email.parser import Parser
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

#: What a client install must not pull (distribution names as in pyproject.toml).
HEAVY = ("ray", "onnxruntime", "scikit-learn", "skl2onnx", "onnx", "scipy", "skyfield")

#: Files that are not Python but must ship (package data in pyproject.toml).
DATA_FILES = (
    "orbitmesh/py.typed",
    "orbitmesh/orchestrator/builtin/demo.toml",
    "orbitmesh/protos/inference/grpc_service.proto",
    "orbitmesh/protos/inference/grpc_service_pb2.pyi",
)

#: The folders that are packages only inside the orbitmesh namespace.
NAMESPACED = ("node", "ground", "orchestrator", "protos", "links")


class CheckFailed(Exception):
    pass


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)


def must(result: subprocess.CompletedProcess[str], what: str) -> str:
    if result.returncode != 0:
        raise CheckFailed(f"{what} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result.stdout


def copy_checkout(scratch: Path) -> Path:
    """The files git would commit (tracked, and new ones not ignored), links kept as links:
    setuptools builds in the source folder, and a stale build/ there would leak into the
    wheel."""
    listed = must(
        run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], REPO_ROOT),
        "git ls-files",
    )
    tree = scratch / "source"
    for name in filter(None, listed.split("\0")):
        source, target = REPO_ROOT / name, tree / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the working tree, not yet in the index
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(source.readlink())
        else:
            shutil.copy2(source, target)
    return tree


def build_wheel(python: str, scratch: Path) -> Path:
    out = scratch / "dist"
    tree = copy_checkout(scratch)
    must(
        run([python, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), "."], tree),
        "pip wheel",
    )
    (wheel,) = out.glob("orbitmesh-*.whl")
    return wheel


def check_wheel(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (metadata_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = Parser().parsestr(archive.read(metadata_name).decode())
    tops = {
        name.split("/", 1)[0] for name in names if not name.split("/", 1)[0].endswith(".dist-info")
    }
    if tops != {"orbitmesh"}:
        raise CheckFailed(f"the wheel installs {sorted(tops)}, not only orbitmesh")
    for package in NAMESPACED:
        if not any(name.startswith(f"orbitmesh/{package}/") for name in names):
            raise CheckFailed(f"the wheel lacks orbitmesh/{package}/")
    for data in DATA_FILES:
        if data not in names:
            raise CheckFailed(f"the wheel lacks {data}")
    base = [r for r in metadata.get_all("Requires-Dist") or [] if "extra ==" not in r]
    pulled = [r for r in base if re.split(r"[\s<>=!~\[;]", r, maxsplit=1)[0] in HEAVY]
    if pulled:
        raise CheckFailed(f"the base install requires {pulled}")
    print(f"ok  wheel {wheel.name}: only orbitmesh/ ({len(names)} files), base requires {base}")


def check_client_install(python: str, wheel: Path, scratch: Path) -> None:
    venv = scratch / "venv"
    must(run([python, "-m", "venv", str(venv)], scratch), "python -m venv")
    bin_dir = venv / "bin"
    must(run([str(bin_dir / "pip"), "install", "--quiet", str(wheel)], scratch), "pip install")
    site = Path(
        must(
            run(
                [str(bin_dir / "python"), "-c", "import site; print(site.getsitepackages()[0])"],
                scratch,
            ),
            "site",
        ).strip()
    )
    stray = [name for name in NAMESPACED if (site / name).exists()]
    if stray:
        raise CheckFailed(f"site-packages has top-level {stray}")
    present = [name for name in ("ray", "onnxruntime", "sklearn") if (site / name).exists()]
    if present:
        raise CheckFailed(f"the client install pulled {present}")
    print(
        f"ok  client install: no top-level {'/'.join(NAMESPACED)}, no Ray/ONNX Runtime/scikit-learn"
    )

    imported = must(
        run(
            [
                str(bin_dir / "python"),
                "-c",
                "import orbitmesh, orbitmesh.ground; from orbitmesh.ground import Client; "
                "print(orbitmesh.ground.__file__)",
            ],
            scratch,
        ),
        "import orbitmesh.ground",
    ).strip()
    if not imported.startswith(str(site)):
        raise CheckFailed(f"orbitmesh.ground came from {imported}, not the install")
    print(f"ok  import orbitmesh.ground (Client) from {imported}")

    version = must(run([str(bin_dir / "orbitmesh"), "--version"], scratch), "orbitmesh --version")
    print(f"ok  orbitmesh --version: {version.strip()}")

    up = run([str(bin_dir / "orbitmesh"), "up", "demo"], scratch)
    lines = up.stderr.strip().splitlines()
    if up.returncode != 2 or len(lines) != 1 or "orbitmesh[emulator]" not in lines[0]:
        raise CheckFailed(f"`orbitmesh up` without the extra: exit {up.returncode}, {up.stderr!r}")
    print(f"ok  orbitmesh up without the extra: exit 2, {lines[0]!r}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--python", default=sys.executable, help="interpreter to build and install with"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="orbitmesh-install-") as folder:
        scratch = Path(folder)
        try:
            wheel = build_wheel(args.python, scratch)
            check_wheel(wheel)
            check_client_install(args.python, wheel, scratch)
        except CheckFailed as failure:
            print(f"FAIL {failure}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
