"""Regenerate the Python code for the .proto sources under protos/.

Usage (from anywhere; paths are resolved from this file)::

    python scripts/gen_protos.py              # write *_pb2.py, *_pb2.pyi, *_pb2_grpc.py
    python scripts/gen_protos.py --check      # exit 1 if the committed code is stale
    python scripts/gen_protos.py --out DIR    # write under DIR/protos/... instead

Every directory in ``PROTO_DIRS`` is compiled: ``protos/orbitmesh/v1`` (our own API) and
``protos/inference`` (the Open Inference Protocol that standard inference clients speak).
protoc runs once, with the repository root as its include root; its output is then
rehomed (:func:`rehome`): the modules import each other as ``from orbitmesh.protos...``
(the folder protos/ is the package ``orbitmesh.protos`` once installed) and register their
files in orbitmesh's own descriptor pool (protos/pool.py says why) instead of protobuf's
default one. Google's well-known types come from the include directory bundled with
grpcio-tools.

Generation happens in a scratch directory first; only files whose bytes changed are
rewritten, and generated files whose .proto source is gone are removed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

#: Where the .proto sources live, relative to the repository root; the generated code is
#: written beside them.
PROTO_DIRS = (Path("protos/orbitmesh/v1"), Path("protos/inference"))

#: What protoc writes for each source: messages, their type stubs, and gRPC stubs.
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")

#: Package markers the generated imports need (protos/__init__.py is hand-written).
PACKAGE_INITS = (
    Path("protos/orbitmesh/__init__.py"),
    *(directory / "__init__.py" for directory in PROTO_DIRS),
)


class ProtocError(RuntimeError):
    """protoc rejected the sources; the message is its diagnostic output."""


def proto_sources() -> list[Path]:
    """The .proto files to compile, relative to the repository root, in a stable order."""
    return sorted(
        path.relative_to(REPO_ROOT)
        for directory in PROTO_DIRS
        for path in (REPO_ROOT / directory).glob("*.proto")
    )


def well_known_include() -> Path:
    """grpcio-tools' copy of google/protobuf/*.proto (timestamp.proto and friends)."""
    import grpc_tools

    return Path(grpc_tools.__file__).resolve().parent / "_proto"


def is_generated(path: Path) -> bool:
    return path.name.endswith(GENERATED_SUFFIXES)


#: protoc's imports of our own modules, and where they live once installed.
PROTOC_IMPORT = b"from protos."
PACKAGE_IMPORT = b"from orbitmesh.protos."
#: protoc's registration in the default pool, and its replacement.
DEFAULT_POOL = b"DESCRIPTOR = _descriptor_pool.Default().AddSerializedFile("
OWN_POOL = b"DESCRIPTOR = _orbitmesh_pool.POOL.AddSerializedFile("
BUILDER_IMPORT = b"from google.protobuf.internal import builder as _builder\n"
POOL_IMPORT = b"from orbitmesh.protos import pool as _orbitmesh_pool\n"


def rehome(path: Path, content: bytes) -> bytes:
    """protoc's output for ``path`` with our imports and our descriptor pool."""
    content = content.replace(b"\n" + PROTOC_IMPORT, b"\n" + PACKAGE_IMPORT)
    if path.name.endswith("_pb2.py"):
        if DEFAULT_POOL not in content or BUILDER_IMPORT not in content:
            raise ProtocError(f"{path}: protoc's output no longer has the lines rehome() edits")
        content = content.replace(DEFAULT_POOL, OWN_POOL)
        content = content.replace(BUILDER_IMPORT, BUILDER_IMPORT + POOL_IMPORT)
    return content


def generated_files(root: Path) -> dict[Path, bytes]:
    """Generated files present under ``root``, keyed by path relative to ``root``."""
    found: dict[Path, bytes] = {}
    for directory in PROTO_DIRS:
        if not (root / directory).is_dir():
            continue
        for path in sorted((root / directory).iterdir()):
            if path.is_file() and is_generated(path):
                found[path.relative_to(root)] = path.read_bytes()
    return found


def run_protoc(out_root: Path) -> None:
    """Compile every source into ``out_root``, mirroring the repository layout."""
    sources = proto_sources()
    present = {source.parent for source in sources}
    empty = [directory for directory in PROTO_DIRS if directory not in present]
    if empty:
        raise ProtocError(f"no .proto files in {REPO_ROOT / empty[0]}")
    out_root.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"--proto_path={REPO_ROOT}",
        f"--proto_path={well_known_include()}",
        f"--python_out={out_root}",
        f"--pyi_out={out_root}",
        f"--grpc_python_out={out_root}",
        *(path.as_posix() for path in sources),
    ]
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ProtocError(result.stderr.strip() or f"protoc exited with {result.returncode}")
    if result.stderr.strip():
        print(result.stderr.strip(), file=sys.stderr)


def fresh_generation() -> dict[Path, bytes]:
    """What protoc produces from the current sources, keyed by repository-relative path."""
    with tempfile.TemporaryDirectory(prefix="orbitmesh-protos-") as scratch:
        run_protoc(Path(scratch))
        return {
            path: rehome(path, content) for path, content in generated_files(Path(scratch)).items()
        }


def stale_files(root: Path, fresh: dict[Path, bytes]) -> list[Path]:
    """Paths under ``root`` that differ from ``fresh``: changed, missing or orphaned."""
    current = generated_files(root)
    stale = {path for path in fresh.keys() | current.keys() if fresh.get(path) != current.get(path)}
    stale.update(init for init in PACKAGE_INITS if not (root / init).is_file())
    return sorted(stale)


def write_generation(root: Path, fresh: dict[Path, bytes]) -> list[Path]:
    """Bring ``root`` up to date with ``fresh``; return the paths that changed."""
    changed = stale_files(root, fresh)
    for relative in changed:
        target = root / relative
        if relative in fresh:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(fresh[relative])
        elif relative in PACKAGE_INITS:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.touch()
        else:
            target.unlink()
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO_ROOT,
        metavar="DIR",
        help="root to write (or check) instead of the repository; files go to "
        + " and ".join(f"DIR/{directory.as_posix()}/" for directory in PROTO_DIRS),
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="change nothing; exit 1 and list the stale files if the generated code differs "
        "from a fresh generation",
    )
    args = parser.parse_args(argv)
    root: Path = args.out.resolve()

    try:
        fresh = fresh_generation()
    except ProtocError as error:
        print(f"protoc failed:\n{error}", file=sys.stderr)
        return 2

    if args.check:
        stale = stale_files(root, fresh)
        if stale:
            listing = "\n".join(f"  {path.as_posix()}" for path in stale)
            print(
                f"generated protobuf code is stale (run `make protos`):\n{listing}",
                file=sys.stderr,
            )
            return 1
        return 0

    for path in write_generation(root, fresh):
        action = "wrote" if (root / path).exists() else "removed"
        print(f"{action} {path.as_posix()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
