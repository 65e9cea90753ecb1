"""The manifest: its JSON Schema and examples, and the helpers that write it."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pytest

from connector.errors import ValidationFailed
from connector.manifest_read import ManifestInvalid, check_manifest, decode_schema
from connector.staging.manifest import (
    encode_schema,
    format_timestamp,
    provenance_entry,
    validate_manifest,
)
from tests.conftest import REPO

EXAMPLES = REPO / "schemas" / "examples" / "manifest"
# Each invalid example breaks exactly one rule, at this JSON path.
INVALID = {
    "file-path-traversal": "$.files[0].path",
    "uppercase-sha256": "$.files[0].sha256",
    "no-files": "$.files",
    "timestamp-without-z": "$.created",
    "missing-agreement": "$",
    "provenance-without-checksum": "$.provenance[0]",
    "pseudonymise-without-key-id": "$.duties[0]",
    "unknown-field": "$",
    "negative-rows": "$.files[0].rows",
    "hidden-version-name": "$.dataset.version",
}


@pytest.mark.parametrize("path", sorted((EXAMPLES / "valid").glob("*.json")), ids=lambda p: p.stem)
def test_valid_examples_pass_the_schema_and_the_reader_checks(path):
    document = json.loads(path.read_text())
    validate_manifest(document)
    assert check_manifest(document) is document


def test_every_invalid_example_breaks_exactly_the_rule_it_is_named_after():
    assert sorted(p.stem for p in (EXAMPLES / "invalid").glob("*.json")) == sorted(INVALID)
    for name, where in INVALID.items():
        with pytest.raises(ValidationFailed) as caught:
            validate_manifest(json.loads((EXAMPLES / "invalid" / f"{name}.json").read_text()))
        assert {e["path"] for e in caught.value.errors} == {where}, name


def test_timestamps_are_utc_with_z_and_naive_ones_are_refused():
    assert format_timestamp(datetime(2025, 6, 30, 14, 0, tzinfo=timezone(timedelta(hours=2)))) == \
        "2025-06-30T12:00:00Z"
    with pytest.raises(ValueError, match="timezone-aware"):
        format_timestamp(datetime(2025, 6, 30, 12, 0))


def test_the_arrow_schema_round_trips_exactly():
    schema = pa.schema([pa.field("t", pa.timestamp("ms", tz="UTC"), nullable=False),
                        pa.field("d", pa.dictionary(pa.int16(), pa.string()))], metadata={b"k": b"v"})
    assert decode_schema(encode_schema(schema)).equals(schema, check_metadata=True)


def test_provenance_entries_default_the_final_url_and_name_what_is_missing():
    assert provenance_entry({"url": "u", "bytes": 1, "sha256": "AB" * 32}) == \
        {"url": "u", "bytes": 1, "sha256": "ab" * 32, "finalUrl": "u"}
    with pytest.raises(ValueError, match="'sha256'"):
        provenance_entry({"url": "u", "bytes": 1})


def test_the_reader_checks_refuse_file_names_outside_the_version():
    document = json.loads((EXAMPLES / "valid" / "full.json").read_text())
    document["files"][1]["path"] = "/etc/passwd"
    with pytest.raises(ManifestInvalid, match=r"files\[1\]\.path"):
        check_manifest(document)
