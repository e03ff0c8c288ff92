"""The install as users get it: one `orbitmesh` namespace, extras, and other OIP clients
in the same process."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import tomllib
from importlib.metadata import packages_distributions, version
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

#: KServe's generated grpc_predict_v2_pb2 registers this file in protobuf's default pool:
#: the same `inference` package and message names as the Open Inference Protocol's.
KSERVE_LIKE = """
from google.protobuf import descriptor_pb2, descriptor_pool
proto = descriptor_pb2.FileDescriptorProto(name="grpc_predict_v2.proto", package="inference")
proto.message_type.add(name="ServerLiveRequest")
proto.message_type.add(name="ModelInferRequest")
service = proto.service.add(name="GRPCInferenceService")
service.method.add(name="ServerLive", input_type=".inference.ServerLiveRequest",
                   output_type=".inference.ServerLiveRequest")
descriptor_pool.Default().AddSerializedFile(proto.SerializeToString())
"""

OURS = """
from orbitmesh.ground import Client
from orbitmesh.protos.inference import grpc_service_pb2 as pb
request = pb.ModelInferRequest(model_name="digits")
assert pb.ModelInferRequest.FromString(request.SerializeToString()).model_name == "digits"
"""

TRITON = """
import tritonclient.grpc as triton
from tritonclient.grpc import service_pb2
assert service_pb2.ModelInferRequest(model_name="x").model_name == "x"
"""


def python(code: str) -> subprocess.CompletedProcess[str]:
    # A fresh interpreter: the order of first imports is what used to fail.
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO.parent,  # not the checkout: imports come from the install
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.mark.parametrize(
    "first, then",
    [(TRITON, OURS), (OURS, TRITON), (KSERVE_LIKE, OURS), (OURS, KSERVE_LIKE)],
    ids=[
        "tritonclient-then-orbitmesh",
        "orbitmesh-then-tritonclient",
        "kserve-then-orbitmesh",
        "orbitmesh-then-kserve",
    ],
)
def test_other_inference_clients_in_the_same_process(first: str, then: str) -> None:
    result = python(first + then)
    assert result.returncode == 0, result.stderr[-2000:]


def test_version_from_the_distribution() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "orbitmesh", "--version"],
        cwd=REPO.parent,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert result.stdout.strip() == f"orbitmesh {version('orbitmesh')}"


@pytest.mark.slow
def test_a_client_install_has_only_the_namespace_and_no_emulator() -> None:
    # Builds the wheel and installs it into a fresh virtual environment (scripts/check_install.py).
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "check_install.py")],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert result.stdout.count("ok  ") == 5


def test_the_cli_knows_what_the_emulator_extra_installs() -> None:
    """`EMULATOR_MODULES` (a client install cannot ask the metadata of what it lacks)
    names exactly the import packages of the extra's distributions, as installed here."""
    from orbitmesh.orchestrator.cli import EMULATOR_MODULES

    def canonical(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    extra = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]["emulator"]
    wanted = {canonical(re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0]) for r in extra}
    installed = {
        top
        for top, dists in packages_distributions().items()
        if any(canonical(d) in wanted for d in dists) and not top.startswith("_")
    }
    assert installed == EMULATOR_MODULES
