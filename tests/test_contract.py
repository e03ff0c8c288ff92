"""The hand-written wire contract: causes, their codes, parameters, pipelines."""

from __future__ import annotations

import json

import grpc
import pytest

from orbitmesh.protos.contract import (
    CANCELLED,
    CAUSE_METADATA_KEY,
    CODE_OF_CAUSE,
    MAX_PIPELINE_STAGES,
    Cause,
    Param,
    Refused,
    Stage,
    cause_for_code,
    cause_of,
    parse_pipeline,
    string_param,
)
from orbitmesh.protos.inference import grpc_service_pb2 as pb


def test_every_cause_has_a_real_status_code() -> None:
    assert set(CODE_OF_CAUSE) == set(Cause)
    for name in CODE_OF_CAUSE.values():
        assert grpc.StatusCode[name] is not grpc.StatusCode.OK


def test_cause_of_reads_str_and_bytes_and_unknown_causes() -> None:
    assert cause_of([("x", "y"), (CAUSE_METADATA_KEY, "power")]) == "power"
    assert cause_of([(CAUSE_METADATA_KEY, b"link-lost")]) == "link-lost"
    assert cause_of([(CAUSE_METADATA_KEY, "from-the-future")]) == "from-the-future"
    assert cause_of([("x", "y")]) is None
    assert cause_of(None) is None


def test_parameter_names_are_unique_and_namespaced() -> None:
    names = [v for k, v in vars(Param).items() if k.isupper()]
    assert len(names) == len(set(names))
    assert all(n.startswith("orbitmesh.") for n in names)


def test_a_pipeline_round_trips() -> None:
    text = json.dumps(
        [
            {"model": "a", "satellite": "s1"},
            {"model": "b", "policy": "nearest", "inputs": {"x": "y"}},
        ]
    )
    stages = parse_pipeline(text)
    assert stages == [Stage("a", satellite="s1"), Stage("b", policy="nearest", inputs={"x": "y"})]
    assert parse_pipeline(json.dumps([s.as_json() for s in stages])) == stages


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("not json", "is not JSON"),
        ("[]", "non-empty JSON list"),
        ('{"model": "a"}', "non-empty JSON list"),
        ('[{"name": "a"}]', "non-empty JSON list"),
        ('[{"model": 3}]', "non-empty JSON list"),
        ('[{"model": "a", "satelite": "s"}]', "unknown stage key 'satelite'"),
        ('[{"model": "a", "inputs": ["x"]}]', "inputs map names to names"),
        ('[{"model": "a", "satellite": 5}]', "satellite is a string"),
        ('[{"model": "a", "satellite": ["x"]}]', "satellite is a string"),
        ('[{"model": "a", "policy": {"p": 1}}]', "policy is a string"),
        # Deeper than the JSON parser's stack: RecursionError inside json.loads.
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        # A number longer than Python converts (4,300 digits): ValueError, not JSON's own.
        ('[{"model": "a", "satellite": ' + "9" * 5000 + "}]", "not usable JSON"),
        (json.dumps([{"model": "a"}] * (MAX_PIPELINE_STAGES + 1)), "33 stages (at most 32)"),
    ],
)
def test_a_bad_pipeline_is_refused_as_invalid(text: str, says: str) -> None:
    with pytest.raises(Refused) as refused:
        parse_pipeline(text)
    assert refused.value.cause is Cause.INVALID
    assert says in str(refused.value)


def test_a_pipeline_of_the_most_stages_is_accepted() -> None:
    stages = parse_pipeline(json.dumps([{"model": "a"}] * MAX_PIPELINE_STAGES))
    assert len(stages) == MAX_PIPELINE_STAGES == 32


def test_the_new_causes_are_resource_exhausted_and_cancelled_is_not_a_cause() -> None:
    assert CODE_OF_CAUSE[Cause.TOO_MANY_CALLS] == "RESOURCE_EXHAUSTED"
    assert CODE_OF_CAUSE[Cause.TOO_MANY_STREAMS] == "RESOURCE_EXHAUSTED"
    # An outcome counted beside the causes, never sent: it must not collide with one.
    assert CANCELLED not in {c.value for c in Cause}


@pytest.mark.parametrize(
    ("code", "cause", "expected"),
    [
        (grpc.StatusCode.RESOURCE_EXHAUSTED, "power", "power"),  # its own, kept
        (grpc.StatusCode.UNAVAILABLE, "from-the-future", "from-the-future"),
        (grpc.StatusCode.UNAVAILABLE, None, "node-down"),
        (grpc.StatusCode.CANCELLED, None, "node-down"),
        (grpc.StatusCode.DEADLINE_EXCEEDED, None, "deadline"),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, None, "too-large"),
        (grpc.StatusCode.INTERNAL, None, "internal"),
        (grpc.StatusCode.UNKNOWN, "", "internal"),
    ],
)
def test_a_failure_without_a_cause_is_passed_on_with_its_codes_cause(
    code: grpc.StatusCode, cause: str | None, expected: str
) -> None:
    assert cause_for_code(code, cause) == expected


def test_string_parameters_are_read_and_other_types_refused_by_name() -> None:
    params = pb.ModelInferRequest().parameters
    assert string_param(params, Param.POLICY) is None  # absent
    params[Param.POLICY].string_param = "nearest"
    assert string_param(params, Param.POLICY) == "nearest"
    params[Param.SATELLITE].string_param = ""
    assert string_param(params, Param.SATELLITE) == ""  # present, empty: for the caller
    for kind, value in (("bool_param", True), ("int64_param", 7), ("double_param", 0.5)):
        params[Param.PIPELINE].Clear()
        setattr(params[Param.PIPELINE], kind, value)
        with pytest.raises(Refused) as refused:
            string_param(params, Param.PIPELINE)
        assert refused.value.cause is Cause.INVALID
        assert str(refused.value) == f"orbitmesh.pipeline must be a string_param, not {kind}"
    params[Param.PIPELINE].Clear()
    with pytest.raises(Refused, match="not empty"):
        string_param(params, Param.PIPELINE)
