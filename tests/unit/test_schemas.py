"""Every schema is valid; every valid example passes and every invalid one fails."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from tests.conftest import REPO, SCHEMAS

EXAMPLES = REPO / "schemas" / "examples"


def examples(kind: str) -> list[tuple[str, Path]]:
    return [(path.parent.parent.name, path)
            for path in sorted(EXAMPLES.glob(f"*/{kind}/*.json"))]


def test_every_schema_is_a_valid_draft_2020_12_schema_with_an_id():
    for name, document in SCHEMAS.documents.items():
        Draft202012Validator.check_schema(document)
        assert document["$id"] == f"urn:connector:schema:{name}"


def test_there_are_examples_both_ways_for_each_request_schema():
    for name in ("dataset", "odrl-policy", "access-request", "offer-request"):
        assert examples("valid") and any(n == name for n, _ in examples("valid"))
        assert any(n == name for n, _ in examples("invalid"))


@pytest.mark.parametrize("name,path", examples("valid"), ids=lambda p: getattr(p, "name", p))
def test_valid_example_passes(name, path):
    SCHEMAS.validate(name, json.loads(path.read_text()))


@pytest.mark.parametrize("name,path", examples("invalid"), ids=lambda p: getattr(p, "name", p))
def test_invalid_example_fails(name, path):
    assert list(SCHEMAS.iter_errors(name, json.loads(path.read_text())))


def test_references_to_unknown_schemas_are_not_fetched(tmp_path):
    (tmp_path / "x.schema.json").write_text(json.dumps({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:connector:schema:x",
        "$ref": "http://127.0.0.1:9/never.json",
    }))
    from referencing.exceptions import Unresolvable

    from connector.schemas import SchemaStore

    with pytest.raises(Unresolvable):
        SchemaStore(tmp_path).validate("x", {})
