"""Every schema is valid; every valid example passes and every invalid one fails."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from connector.errors import ValidationFailed
from tests.conftest import REPO, SCHEMAS

EXAMPLES = REPO / "schemas" / "examples"


def examples(kind: str) -> list[tuple[str, Path]]:
    return [(path.parent.parent.name, path)
            for path in sorted(EXAMPLES.glob(f"*/{kind}/*.json"))]


def test_every_schema_is_a_valid_draft_2020_12_schema_with_an_id():
    files = {p.name.removesuffix(".schema.json") for p in (REPO / "schemas").glob("*.schema.json")}
    assert files and set(SCHEMAS.documents) == files
    for name, document in SCHEMAS.documents.items():
        Draft202012Validator.check_schema(document)
        assert document["$id"] == f"urn:connector:schema:{name}"


def test_there_are_examples_both_ways_for_each_request_schema():
    for name in ("dataset", "odrl-policy", "access-request", "offer-request"):
        for kind in ("valid", "invalid"):
            assert any(n == name for n, _ in examples(kind)), (name, kind)
        assert any(n == name for n, _ in examples("invalid"))


@pytest.mark.parametrize("name,path", examples("valid"), ids=lambda p: getattr(p, "name", p))
def test_valid_example_passes(name, path):
    SCHEMAS.validate(name, json.loads(path.read_text()))


@pytest.mark.parametrize("name,path", examples("invalid"), ids=lambda p: getattr(p, "name", p))
def test_invalid_example_fails(name, path):
    document = json.loads(path.read_text())
    assert list(SCHEMAS.iter_errors(name, document))
    assert not SCHEMAS.is_valid(name, document)
    with pytest.raises(ValidationFailed):
        SCHEMAS.validate(name, document)


def store_of_one(directory: Path, **keywords):
    """A SchemaStore over ``directory`` holding one schema ``x`` with ``keywords``."""
    from connector.schemas import SchemaStore

    (directory / "x.schema.json").write_text(json.dumps({
        "$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "urn:connector:schema:x",
        **keywords}))
    return SchemaStore(directory)


def test_prepare_checks_a_schema_against_its_meta_schema_before_any_document_is_validated(tmp_path):
    from jsonschema.exceptions import SchemaError

    with pytest.raises(SchemaError):
        store_of_one(tmp_path, type="no-such-type").prepare("x")


def test_references_to_unknown_schemas_are_not_fetched(tmp_path):
    from referencing.exceptions import Unresolvable

    with pytest.raises(Unresolvable):
        store_of_one(tmp_path, **{"$ref": "http://127.0.0.1:9/never.json"}).validate("x", {})


def test_dcat_schema_enumerates_exactly_the_vocabulary_codes_the_code_knows():
    from connector.catalog import dcat

    defs = SCHEMAS.documents["dcat"]["$defs"]
    for name, codes in (("theme", dcat.THEME_CODES), ("accessRights", dcat.ACCESS_RIGHT_CODES)):
        enumerated = defs[name]["pattern"].rsplit("(", 1)[1].removesuffix(")$").split("|")
        assert enumerated == list(codes), name
    assert defs["distribution"]["properties"]["mediaType"]["pattern"] == dcat.MEDIA_TYPE.pattern
    assert defs["distribution"]["properties"]["compressFormat"]["pattern"] == dcat.MEDIA_TYPE.pattern
    assert defs["contactPoint"]["properties"]["hasEmail"]["pattern"] == dcat.EMAIL.pattern


@pytest.mark.parametrize("address,valid", [
    ("desk@health.example.eu", True), ("mailto:desk@health.example.eu", True),
    ("o'hara^{x}@example.org", True), ("desk@data<example>", False), ("desk@", False),
    ("two@at@example.org", False), ("desk @example.org", False),
])
def test_contact_email_must_be_an_address(address, valid):
    body = {"title": "x", "description": "y", "accessRights": "PUBLIC",
            "contactPoint": {"fn": "Desk", "hasEmail": address}}
    assert (not list(SCHEMAS.iter_errors("dataset", body))) is valid


def test_harvest_source_format_option_accepts_exactly_what_the_rdf_parser_reads():
    from connector.catalog.harvest.rdf_parse import FORMAT_ALIASES, PARSERS, format_option

    enum = SCHEMAS.documents["harvest-source"]["properties"]["options"]["properties"]["format"]["enum"]
    assert sorted(enum) == sorted(FORMAT_ALIASES)
    for name in enum:
        body = {"name": "portal", "kind": "dcat", "url": "https://data.example.eu/catalog",
                "options": {"format": name}}
        assert not list(SCHEMAS.iter_errors("harvest-source", body)), name
        assert format_option(name) in PARSERS, name
    refused = {"name": "portal", "kind": "dcat", "url": "https://data.example.eu/catalog",
               "options": {"format": "csv"}}
    assert list(SCHEMAS.iter_errors("harvest-source", refused))
