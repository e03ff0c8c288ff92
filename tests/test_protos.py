"""The committed protobuf code matches its sources, and the API has the agreed shape."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import Descriptor, FieldDescriptor, FileDescriptor

from orbitmesh.protos.inference import grpc_service_pb2, grpc_service_pb2_grpc
from orbitmesh.protos.orbitmesh.v1 import (
    ground_station_pb2,
    ground_station_pb2_grpc,
    satellite_pb2,
    satellite_pb2_grpc,
    types_pb2,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
SCRIPT = REPO_ROOT / "scripts" / "gen_protos.py"
PROTO_DIR = Path("protos/orbitmesh/v1")
INFERENCE_DIR = Path("protos/inference")
PROTO_DIRS = (PROTO_DIR, INFERENCE_DIR)
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")

#: Name endings that state a unit. Integers without one are counts.
UNIT_SUFFIXES = ("_ms", "_s", "_km", "_m", "_deg", "_wh", "_w", "_c", "_mbps", "_bytes", "_rad")
#: Floating-point fields that are ratios, where a unit suffix would mislead.
DIMENSIONLESS = frozenset(
    {
        "orbitmesh.v1.SatelliteStatus.state_of_charge",
        "orbitmesh.v1.SatelliteVitals.state_of_charge",
    }
)
#: Words that mark an integer field as a physical quantity rather than a count.
QUANTITY_WORDS = (
    "interval",
    "delay",
    "latency",
    "duration",
    "timeout",
    "period",
    "time",
    "range",
    "distance",
    "alt",
    "energy",
    "power",
    "battery",
    "temperature",
    "rate",
    "size",
)

FLOATING = (FieldDescriptor.CPPTYPE_DOUBLE, FieldDescriptor.CPPTYPE_FLOAT)
INTEGER = (
    FieldDescriptor.CPPTYPE_INT32,
    FieldDescriptor.CPPTYPE_INT64,
    FieldDescriptor.CPPTYPE_UINT32,
    FieldDescriptor.CPPTYPE_UINT64,
)

FILES: tuple[FileDescriptor, ...] = (
    types_pb2.DESCRIPTOR,
    satellite_pb2.DESCRIPTOR,
    ground_station_pb2.DESCRIPTOR,
)


def run_generator(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO_ROOT,
    )


def generated_files(root: Path) -> dict[str, bytes]:
    """Generated files under ``root``, keyed by repository-relative POSIX path."""
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for directory in PROTO_DIRS
        for path in sorted((root / directory).iterdir())
        if path.name.endswith(GENERATED_SUFFIXES)
    }


# --- the committed code is what the sources produce ------------------------------------


def test_committed_code_matches_a_fresh_generation(tmp_path: Path) -> None:
    result = run_generator("--out", str(tmp_path))
    assert result.returncode == 0, result.stderr

    committed = generated_files(REPO_ROOT)
    fresh = generated_files(tmp_path)
    assert committed, "no generated code committed: run `make protos`"
    for directory in PROTO_DIRS:
        assert any(name.startswith(f"{directory.as_posix()}/") for name in fresh), directory
    assert sorted(committed) == sorted(fresh), (
        "generated files differ from the .proto sources: run `make protos`"
    )
    stale = [name for name in fresh if committed[name] != fresh[name]]
    assert not stale, f"generated code is stale: {stale}; run `make protos`"


def test_generation_is_deterministic(tmp_path: Path) -> None:
    for name in ("a", "b"):
        assert run_generator("--out", str(tmp_path / name)).returncode == 0
    assert generated_files(tmp_path / "a") == generated_files(tmp_path / "b")


def test_check_passes_on_fresh_code_and_names_stale_files(tmp_path: Path) -> None:
    assert run_generator("--out", str(tmp_path)).returncode == 0
    clean = run_generator("--check", "--out", str(tmp_path))
    assert clean.returncode == 0, clean.stderr

    victim = tmp_path / PROTO_DIR / "satellite_pb2.py"
    victim.write_bytes(victim.read_bytes() + b"# edited by hand\n")
    orphan = tmp_path / PROTO_DIR / "retired_pb2.py"
    orphan.write_text("")
    stale = run_generator("--check", "--out", str(tmp_path))
    assert stale.returncode == 1
    assert "make protos" in stale.stderr
    assert f"{PROTO_DIR.as_posix()}/satellite_pb2.py" in stale.stderr
    assert f"{PROTO_DIR.as_posix()}/retired_pb2.py" in stale.stderr
    assert "types_pb2.py" not in stale.stderr
    assert "grpc_service_pb2.py" not in stale.stderr

    inference = tmp_path / INFERENCE_DIR / "grpc_service_pb2_grpc.py"
    inference.unlink()
    missing = run_generator("--check", "--out", str(tmp_path))
    assert missing.returncode == 1
    assert f"{INFERENCE_DIR.as_posix()}/grpc_service_pb2_grpc.py" in missing.stderr

    assert run_generator("--out", str(tmp_path)).returncode == 0
    assert not orphan.exists()
    assert inference.is_file()
    assert run_generator("--check", "--out", str(tmp_path)).returncode == 0


# --- the API surface -------------------------------------------------------------------


def test_satellite_service_shape() -> None:
    service = satellite_pb2.DESCRIPTOR.services_by_name["Satellite"]
    assert service.full_name == "orbitmesh.v1.Satellite"
    methods = service.methods_by_name
    assert set(methods) == {"Status", "WatchStatus"}

    status = methods["Status"]
    assert status.input_type.full_name == "orbitmesh.v1.StatusRequest"
    assert status.output_type.full_name == "orbitmesh.v1.SatelliteStatus"
    assert not status.server_streaming

    watch = methods["WatchStatus"]
    assert watch.input_type.full_name == "orbitmesh.v1.WatchStatusRequest"
    assert watch.output_type.full_name == "orbitmesh.v1.SatelliteStatus"
    assert watch.server_streaming
    assert not watch.client_streaming

    assert callable(satellite_pb2_grpc.SatelliteStub)
    assert callable(satellite_pb2_grpc.add_SatelliteServicer_to_server)


def test_ground_station_service_shape() -> None:
    service = ground_station_pb2.DESCRIPTOR.services_by_name["GroundStation"]
    assert service.full_name == "orbitmesh.v1.GroundStation"
    expected = {
        "Info": ("InfoRequest", "StationInfo", False),
        "Visible": ("VisibleRequest", "VisibleSatellites", False),
        "Routes": ("RoutesRequest", "RouteTable", False),
        "LinkStats": ("LinkStatsRequest", "LinkStatsReply", False),
        "WatchContacts": ("WatchContactsRequest", "ContactEvent", True),
    }
    actual = {
        name: (
            method.input_type.name,
            method.output_type.name,
            bool(method.server_streaming),
        )
        for name, method in service.methods_by_name.items()
    }
    assert actual == expected
    assert not any(m.client_streaming for m in service.methods)

    assert callable(ground_station_pb2_grpc.GroundStationStub)
    assert callable(ground_station_pb2_grpc.add_GroundStationServicer_to_server)


def test_everything_lives_in_package_orbitmesh_v1() -> None:
    for file in FILES:
        assert file.package == "orbitmesh.v1", file.name
        assert file.name.startswith(f"{PROTO_DIR.as_posix()}/"), file.name


def test_power_states() -> None:
    names = set(types_pb2.PowerState.keys())
    assert {"POWER_STATE_UNSPECIFIED", "POWER_STATE_NOMINAL", "POWER_STATE_RESERVE"} <= names
    assert types_pb2.PowerState.Value("POWER_STATE_UNSPECIFIED") == 0


# --- messages survive the wire ---------------------------------------------------------


def full_status() -> satellite_pb2.SatelliteStatus:
    status = satellite_pb2.SatelliteStatus(
        satellite_id="shell1-3-7",
        name="shell1-3-7",
        position=types_pb2.GeodeticPosition(lat_deg=51.5, lon_deg=-0.12, alt_km=550.0),
        position_itrs=types_pb2.Vector3Km(x_km=3977.0, y_km=-8.3, z_km=5405.1),
        sunlit=True,
        battery_wh=812.5,
        battery_capacity_wh=1000.0,
        state_of_charge=0.8125,
        temperature_c=-12.75,
        power_state=types_pb2.POWER_STATE_RESERVE,
        queue_depth=3,
        queue_capacity=16,
        served_count=2**40,
        energy=types_pb2.EnergyLedger(
            solar_in_wh=120.0,
            base_load_wh=40.0,
            compute_wh=25.5,
            radio_wh=4.5,
            clipped_wh=10.0,
            stored_delta_wh=40.0,
            unmet_wh=0.5,
        ),
        models=["resnet18", "yolov8n"],
        thermal_state=types_pb2.THERMAL_STATE_THROTTLED,
        running=1,
        concurrency_limit=2,
        inference_latency=types_pb2.Histogram(
            upper_bounds_s=[0.001, 0.01], cumulative_counts=[3, 5], count=6, sum_s=0.125
        ),
        radiation=types_pb2.RadiationCounts(
            weight_upset_count=12,
            output_upset_count=3,
            latchup_count=1,
            dose_rad=4.75,
            weight_upsets_in_effect=2,
            latched_up=True,
        ),
        accelerator="h100",
        late_inferences=4,
        late_by=types_pb2.Histogram(
            upper_bounds_s=[0.001, 0.01], cumulative_counts=[1, 4], count=4, sum_s=0.02
        ),
    )
    status.sim_time.FromDatetime(datetime(2026, 3, 20, 12, 0, 0, 250_000, tzinfo=UTC))
    status.refused.by_cause["power"] = 7
    status.refused.by_cause["queue"] = 2
    return status


def test_satellite_status_round_trip() -> None:
    status = full_status()
    wire = status.SerializeToString(deterministic=True)
    parsed = satellite_pb2.SatelliteStatus.FromString(wire)

    assert parsed == status
    assert parsed.sim_time.ToDatetime(tzinfo=UTC) == datetime(
        2026, 3, 20, 12, 0, 0, 250_000, tzinfo=UTC
    )
    assert dict(parsed.refused.by_cause) == {"power": 7, "queue": 2}
    assert list(parsed.models) == ["resnet18", "yolov8n"]
    assert parsed.served_count == 2**40
    assert parsed.power_state == types_pb2.POWER_STATE_RESERVE
    assert parsed.position.lat_deg == 51.5
    # Every field of the fully-populated status made it across.
    populated = {field.name for field, _ in parsed.ListFields()}
    assert populated == set(satellite_pb2.SatelliteStatus.DESCRIPTOR.fields_by_name)


def test_contact_event_round_trip() -> None:
    event = ground_station_pb2.ContactEvent(
        satellite_id="44235",
        kind=ground_station_pb2.CONTACT_KIND_HANDOVER,
        previous_satellite_id="44236",
    )
    event.sim_time.FromSeconds(1_774_008_000)
    parsed = ground_station_pb2.ContactEvent.FromString(event.SerializeToString())
    assert parsed == event
    assert ground_station_pb2.ContactKind.Name(parsed.kind) == "CONTACT_KIND_HANDOVER"


# --- units in names --------------------------------------------------------------------


def messages(file: FileDescriptor) -> Iterator[Descriptor]:
    pending = list(file.message_types_by_name.values())
    while pending:
        message = pending.pop()
        if message.GetOptions().map_entry:
            continue
        yield message
        pending.extend(message.nested_types)


def unitless_fields(file: FileDescriptor) -> list[str]:
    """Numeric fields of ``file`` that look like physical quantities but name no unit."""
    missing = []
    for message in messages(file):
        for field in message.fields:
            name = field.name
            if name.endswith(UNIT_SUFFIXES) or field.full_name in DIMENSIONLESS:
                continue
            if field.cpp_type in FLOATING or (
                field.cpp_type in INTEGER and any(word in name for word in QUANTITY_WORDS)
            ):
                missing.append(field.full_name)
    return sorted(missing)


@pytest.mark.parametrize("file", FILES, ids=lambda file: Path(file.name).name)
def test_physical_quantities_carry_units(file: FileDescriptor) -> None:
    assert unitless_fields(file) == []


def test_unit_check_catches_a_bare_number() -> None:
    proto = descriptor_pb2.FileDescriptorProto(
        name="bad_units.proto", package="bad.v1", syntax="proto3"
    )
    message = proto.message_type.add(name="Pass")
    for number, (name, kind) in enumerate(
        [
            ("altitude", descriptor_pb2.FieldDescriptorProto.TYPE_DOUBLE),
            ("altitude_km", descriptor_pb2.FieldDescriptorProto.TYPE_DOUBLE),
            ("timeout", descriptor_pb2.FieldDescriptorProto.TYPE_UINT32),
            ("hop_count", descriptor_pb2.FieldDescriptorProto.TYPE_UINT32),
        ],
        start=1,
    ):
        message.field.add(
            name=name,
            number=number,
            type=kind,
            label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
        )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    file = pool.FindFileByName("bad_units.proto")
    assert unitless_fields(file) == ["bad.v1.Pass.altitude", "bad.v1.Pass.timeout"]


# --- the Open Inference Protocol (KServe v2 / Triton), wire-compatible with upstream -----

#: Names and numbers fixed by KServe's grpc_predict_v2.proto and Triton's grpc_service.proto
#: (InferParameter choices 4 and 5 are Triton's). Changing any of them breaks stock clients.
INFERENCE_FIELDS: dict[str, dict[str, tuple[int, int]]] = {
    "ServerLiveResponse": {"live": (1, FieldDescriptor.TYPE_BOOL)},
    "ServerReadyResponse": {"ready": (1, FieldDescriptor.TYPE_BOOL)},
    "ModelReadyRequest": {
        "name": (1, FieldDescriptor.TYPE_STRING),
        "version": (2, FieldDescriptor.TYPE_STRING),
    },
    "ModelReadyResponse": {"ready": (1, FieldDescriptor.TYPE_BOOL)},
    "ServerMetadataResponse": {
        "name": (1, FieldDescriptor.TYPE_STRING),
        "version": (2, FieldDescriptor.TYPE_STRING),
        "extensions": (3, FieldDescriptor.TYPE_STRING),
    },
    "ModelMetadataRequest": {
        "name": (1, FieldDescriptor.TYPE_STRING),
        "version": (2, FieldDescriptor.TYPE_STRING),
    },
    "ModelMetadataResponse": {
        "name": (1, FieldDescriptor.TYPE_STRING),
        "versions": (2, FieldDescriptor.TYPE_STRING),
        "platform": (3, FieldDescriptor.TYPE_STRING),
        "inputs": (4, FieldDescriptor.TYPE_MESSAGE),
        "outputs": (5, FieldDescriptor.TYPE_MESSAGE),
    },
    "ModelMetadataResponse.TensorMetadata": {
        "name": (1, FieldDescriptor.TYPE_STRING),
        "datatype": (2, FieldDescriptor.TYPE_STRING),
        "shape": (3, FieldDescriptor.TYPE_INT64),
    },
    "InferParameter": {
        "bool_param": (1, FieldDescriptor.TYPE_BOOL),
        "int64_param": (2, FieldDescriptor.TYPE_INT64),
        "string_param": (3, FieldDescriptor.TYPE_STRING),
        "double_param": (4, FieldDescriptor.TYPE_DOUBLE),
        "uint64_param": (5, FieldDescriptor.TYPE_UINT64),
    },
    "InferTensorContents": {
        "bool_contents": (1, FieldDescriptor.TYPE_BOOL),
        "int_contents": (2, FieldDescriptor.TYPE_INT32),
        "int64_contents": (3, FieldDescriptor.TYPE_INT64),
        "uint_contents": (4, FieldDescriptor.TYPE_UINT32),
        "uint64_contents": (5, FieldDescriptor.TYPE_UINT64),
        "fp32_contents": (6, FieldDescriptor.TYPE_FLOAT),
        "fp64_contents": (7, FieldDescriptor.TYPE_DOUBLE),
        "bytes_contents": (8, FieldDescriptor.TYPE_BYTES),
    },
    "ModelInferRequest": {
        "model_name": (1, FieldDescriptor.TYPE_STRING),
        "model_version": (2, FieldDescriptor.TYPE_STRING),
        "id": (3, FieldDescriptor.TYPE_STRING),
        "parameters": (4, FieldDescriptor.TYPE_MESSAGE),
        "inputs": (5, FieldDescriptor.TYPE_MESSAGE),
        "outputs": (6, FieldDescriptor.TYPE_MESSAGE),
        "raw_input_contents": (7, FieldDescriptor.TYPE_BYTES),
    },
    "ModelInferRequest.InferInputTensor": {
        "name": (1, FieldDescriptor.TYPE_STRING),
        "datatype": (2, FieldDescriptor.TYPE_STRING),
        "shape": (3, FieldDescriptor.TYPE_INT64),
        "parameters": (4, FieldDescriptor.TYPE_MESSAGE),
        "contents": (5, FieldDescriptor.TYPE_MESSAGE),
    },
    "ModelInferRequest.InferRequestedOutputTensor": {
        "name": (1, FieldDescriptor.TYPE_STRING),
        "parameters": (2, FieldDescriptor.TYPE_MESSAGE),
    },
    "ModelInferResponse": {
        "model_name": (1, FieldDescriptor.TYPE_STRING),
        "model_version": (2, FieldDescriptor.TYPE_STRING),
        "id": (3, FieldDescriptor.TYPE_STRING),
        "parameters": (4, FieldDescriptor.TYPE_MESSAGE),
        "outputs": (5, FieldDescriptor.TYPE_MESSAGE),
        "raw_output_contents": (6, FieldDescriptor.TYPE_BYTES),
    },
    "ModelInferResponse.InferOutputTensor": {
        "name": (1, FieldDescriptor.TYPE_STRING),
        "datatype": (2, FieldDescriptor.TYPE_STRING),
        "shape": (3, FieldDescriptor.TYPE_INT64),
        "parameters": (4, FieldDescriptor.TYPE_MESSAGE),
        "contents": (5, FieldDescriptor.TYPE_MESSAGE),
    },
}


def inference_message(name: str) -> Descriptor:
    outer, *nested = name.split(".")
    message: Descriptor = grpc_service_pb2.DESCRIPTOR.message_types_by_name[outer]
    for part in nested:
        message = message.nested_types_by_name[part]
    return message


def test_inference_file_package_and_location() -> None:
    file = grpc_service_pb2.DESCRIPTOR
    assert file.package == "inference"
    assert file.name == f"{INFERENCE_DIR.as_posix()}/grpc_service.proto"
    proto = descriptor_pb2.FileDescriptorProto()
    file.CopyToProto(proto)
    assert proto.syntax == "proto3"
    assert not proto.dependency, "the protocol file must stand alone"


def test_inference_service_shape() -> None:
    service = grpc_service_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"]
    assert service.full_name == "inference.GRPCInferenceService"
    actual = {
        name: (method.input_type.full_name, method.output_type.full_name)
        for name, method in service.methods_by_name.items()
    }
    assert actual == {
        rpc: (f"inference.{rpc}Request", f"inference.{rpc}Response")
        for rpc in (
            "ServerLive",
            "ServerReady",
            "ModelReady",
            "ServerMetadata",
            "ModelMetadata",
            "ModelInfer",
            "ModelConfig",
            "ModelStatistics",
        )
    }
    assert not any(m.client_streaming or m.server_streaming for m in service.methods)

    assert callable(grpc_service_pb2_grpc.GRPCInferenceServiceStub)
    assert callable(grpc_service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server)
    # The HTTP/2 path a client calls is /package.Service/Method.
    stub_source = Path(grpc_service_pb2_grpc.__file__).read_text()
    assert "'/inference.GRPCInferenceService/ModelInfer'" in stub_source


@pytest.mark.parametrize("message", sorted(INFERENCE_FIELDS))
def test_inference_fields_match_the_published_spec(message: str) -> None:
    descriptor = inference_message(message)
    actual = {field.name: (field.number, field.type) for field in descriptor.fields}
    assert actual == INFERENCE_FIELDS[message]


def test_inference_spot_checks() -> None:
    request = grpc_service_pb2.ModelInferRequest
    assert request.RAW_INPUT_CONTENTS_FIELD_NUMBER == 7
    assert grpc_service_pb2.ModelInferResponse.RAW_OUTPUT_CONTENTS_FIELD_NUMBER == 6
    assert grpc_service_pb2.InferTensorContents.FP32_CONTENTS_FIELD_NUMBER == 6
    assert grpc_service_pb2.InferParameter.INT64_PARAM_FIELD_NUMBER == 2

    oneof = grpc_service_pb2.InferParameter.DESCRIPTOR.oneofs_by_name["parameter_choice"]
    assert [field.name for field in oneof.fields] == [
        "bool_param",
        "int64_param",
        "string_param",
        "double_param",
        "uint64_param",
    ]
    repeated = {
        field.full_name
        for name in INFERENCE_FIELDS
        for field in inference_message(name).fields
        if field.is_repeated
    }
    assert "inference.ModelInferRequest.raw_input_contents" in repeated
    assert "inference.ModelMetadataResponse.TensorMetadata.shape" in repeated
    assert "inference.InferParameter.int64_param" not in repeated
    parameters = request.DESCRIPTOR.fields_by_name["parameters"].message_type
    assert parameters.GetOptions().map_entry
    assert parameters.fields_by_name["value"].message_type.full_name == "inference.InferParameter"


def test_infer_request_round_trip() -> None:
    request = grpc_service_pb2.ModelInferRequest(
        model_name="digits",
        id="req-1",
        inputs=[
            grpc_service_pb2.ModelInferRequest.InferInputTensor(
                name="x", datatype="FP32", shape=[-1, 64]
            )
        ],
        outputs=[grpc_service_pb2.ModelInferRequest.InferRequestedOutputTensor(name="y")],
        raw_input_contents=[b"\x00\x00\x80\x3f"],
    )
    request.parameters["priority"].uint64_param = 2**63
    request.parameters["timeout"].double_param = 0.5
    parsed = grpc_service_pb2.ModelInferRequest.FromString(request.SerializeToString())
    assert parsed == request
    assert parsed.parameters["priority"].WhichOneof("parameter_choice") == "uint64_param"
    assert parsed.parameters["priority"].uint64_param == 2**63
    assert list(parsed.inputs[0].shape) == [-1, 64]


def _triton_messages() -> dict[str, Descriptor]:
    """Triton's own generated descriptors (tritonclient, in protobuf's default pool), an
    independent statement of the protocol's names and numbers."""
    from tritonclient.grpc import model_config_pb2, service_pb2

    found: dict[str, Descriptor] = {}

    def walk(message: Descriptor) -> None:
        found[message.full_name] = message
        for nested in message.nested_types:
            walk(nested)

    for module in (service_pb2, model_config_pb2):
        for message in module.DESCRIPTOR.message_types_by_name.values():
            walk(message)
    return found


def _our_messages() -> Iterator[Descriptor]:
    def walk(message: Descriptor) -> Iterator[Descriptor]:
        yield message
        for nested in message.nested_types:
            yield from walk(nested)

    for message in grpc_service_pb2.DESCRIPTOR.message_types_by_name.values():
        yield from walk(message)


@pytest.mark.parametrize("message", [m.full_name for m in _our_messages()])
def test_every_field_is_tritons_own(message: str) -> None:
    """Each of our fields exists in Triton's message of the same name, with the same
    number, type, cardinality and (for messages and enums) the same type, so either side
    parses what the other writes."""
    theirs = _triton_messages()[message]
    ours = grpc_service_pb2.DESCRIPTOR.pool.FindMessageTypeByName(message)
    for field in ours.fields:
        other = theirs.fields_by_name.get(field.name)
        assert other is not None, f"{message}.{field.name} is not in Triton's"
        assert (field.number, field.type, field.is_repeated) == (
            other.number,
            other.type,
            other.is_repeated,
        ), f"{message}.{field.name}"
        for kind in ("message_type", "enum_type"):
            mine, its = getattr(field, kind), getattr(other, kind)
            assert (mine and mine.full_name) == (its and its.full_name), f"{message}.{field.name}"
        if field.enum_type is not None:
            values = {v.name: v.number for v in field.enum_type.values}
            assert values.items() <= {v.name: v.number for v in other.enum_type.values}.items()
