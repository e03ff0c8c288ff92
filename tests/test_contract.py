"""The hand-written wire contract: causes, their codes, parameters, pipelines."""

from __future__ import annotations

import json

import grpc
import pytest

from orbitmesh.protos.contract import (
    CAUSE_METADATA_KEY,
    CODE_OF_CAUSE,
    Cause,
    Param,
    Refused,
    Stage,
    cause_of,
    parse_pipeline,
)


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
    ],
)
def test_a_bad_pipeline_is_refused_as_invalid(text: str, says: str) -> None:
    with pytest.raises(Refused) as refused:
        parse_pipeline(text)
    assert refused.value.cause is Cause.INVALID
    assert says in str(refused.value)
