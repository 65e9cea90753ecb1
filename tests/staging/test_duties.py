"""Duties on record batches: drop and keyed pseudonymisation, with errors that name the column."""

from __future__ import annotations

import hashlib
import hmac

import pyarrow as pa
import pytest

from connector.staging.duties import (
    DropColumns,
    DutyPlan,
    Pseudonymise,
    Pseudonymiser,
    apply_duties,
    derive_project_key,
    hkdf_sha256,
    key_id,
    parse_duties,
)
from connector.staging.errors import DutyError
from tests.staging.conftest import SECRET, make_batch


def reference(project: str, value: bytes, secret: str = SECRET) -> str:
    return hmac.new(derive_project_key(secret, project), value, hashlib.sha256).hexdigest()


def pseudonymise(batch: pa.RecordBatch, columns: list[str], project: str = "cardio",
                 **spec) -> pa.RecordBatch:
    plan = DutyPlan([{"action": "pseudonymise", "columns": columns, **spec}], project=project, secret=SECRET)
    return plan.bind(batch.schema)(batch)


def test_hkdf_matches_the_rfc_5869_test_vectors():
    ikm = bytes([0x0B]) * 22
    okm = hkdf_sha256(ikm, salt=bytes(range(13)), info=bytes(range(0xF0, 0xFA)), length=42)
    assert okm.hex() == ("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
                         "34007208d5b887185865")
    okm = hkdf_sha256(ikm, salt=b"", info=b"", length=42)
    assert okm.hex() == ("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
                         "9d201395faa4b61a96c8")


def test_pseudonyms_are_hmac_sha256_of_the_utf8_value_under_the_project_key():
    batch = pa.record_batch({"name": ["Zoë", "Ann", None, "Zoë"]})
    out = pseudonymise(batch, ["name"]).column("name").to_pylist()
    assert out == [reference("cardio", "Zoë".encode()), reference("cardio", b"Ann"), None,
                   reference("cardio", "Zoë".encode())]
    assert out[0] == out[3] and len(out[0]) == 64


def test_same_value_in_the_same_project_gets_the_same_pseudonym_across_datasets_and_batches():
    first = pseudonymise(pa.record_batch({"patient": ["P1", "P2"]}), ["patient"])
    other_dataset = pseudonymise(pa.record_batch({"subject": ["P2", "P9", "P1"]}), ["subject"])
    joined = other_dataset.column(0).to_pylist()
    assert first.column(0).to_pylist() == [joined[2], joined[0]]


def test_another_project_or_another_secret_gives_unrelated_pseudonyms():
    batch = pa.record_batch({"patient": ["P1", "P2"]})
    cardio = pseudonymise(batch, ["patient"], project="cardio").column(0).to_pylist()
    radar = pseudonymise(batch, ["patient"], project="radar").column(0).to_pylist()
    assert set(cardio).isdisjoint(radar)
    other_secret = DutyPlan([Pseudonymise(("patient",))], project="cardio",
                            secret="another-secret-of-enough-bytes")
    assert set(other_secret.bind(batch.schema)(batch).column(0).to_pylist()).isdisjoint(cardio)
    assert derive_project_key(SECRET, "cardio") != derive_project_key(SECRET, "radar")


def test_integers_are_hashed_as_decimal_text_so_they_join_with_text_ids():
    ints = pseudonymise(pa.record_batch({"id": pa.array([42, -7, None], pa.int32())}), ["id"])
    text = pseudonymise(pa.record_batch({"id": ["42", "-7", None]}), ["id"])
    assert ints.column(0).to_pylist() == text.column(0).to_pylist()
    assert ints.schema.field("id").type == pa.string()


def test_binary_output_is_the_32_byte_digest():
    batch = pa.record_batch({"name": ["Ann", None]})
    out = pseudonymise(batch, ["name"], output="binary")
    assert out.schema.field("name").type == pa.binary(32)
    assert out.column(0).to_pylist() == [bytes.fromhex(reference("cardio", b"Ann")), None]


def test_binary_and_large_text_columns_are_hashed_as_their_bytes():
    batch = pa.record_batch({"raw": pa.array([b"\x00\xff", b"Ann"], pa.binary()),
                             "big": pa.array(["Ann", "Bob"], pa.large_string())})
    out = pseudonymise(batch, ["raw", "big"])
    assert out.column("raw").to_pylist() == [reference("cardio", b"\x00\xff"), reference("cardio", b"Ann")]
    assert out.column("big").to_pylist() == [reference("cardio", b"Ann"), reference("cardio", b"Bob")]


def test_dictionary_columns_keep_their_indices_and_get_their_dictionary_hashed():
    column = pa.array(["Lyon", "Berlin", None, "Lyon"]).dictionary_encode()
    out = pseudonymise(pa.record_batch({"site": column}), ["site"]).column(0)
    assert pa.types.is_dictionary(out.type)
    assert out.indices.to_pylist() == column.indices.to_pylist()
    assert out.to_pylist() == [reference("cardio", b"Lyon"), reference("cardio", b"Berlin"), None,
                               reference("cardio", b"Lyon")]


def test_sliced_arrays_with_nulls_are_hashed_at_the_right_positions():
    values = pa.array([None if i % 3 == 0 else f"v{i}" for i in range(50)]).slice(7, 20)
    key = derive_project_key(SECRET, "cardio")
    out = Pseudonymiser(key).array(values, "hex").to_pylist()
    assert out == [None if v is None else reference("cardio", v.encode()) for v in values.to_pylist()]


def test_mostly_distinct_columns_skip_dictionary_encoding_and_give_the_same_pseudonyms():
    pseudonymiser = Pseudonymiser(derive_project_key(SECRET, "cardio"), cache_entries=3)
    for start in (0, 1000, 2000):  # the second and third batch take the in-place path
        values = pa.array([None if i % 97 == 0 else f"u{i}" for i in range(start, start + 1000)])
        out = pseudonymiser.array(values, "hex", column="user").to_pylist()
        assert out == [None if v is None else reference("cardio", v.encode()) for v in values.to_pylist()]
    assert pseudonymiser._distinct["user"] > 0.5


def test_a_full_cache_still_gives_correct_pseudonyms():
    pseudonymiser = Pseudonymiser(derive_project_key(SECRET, "cardio"), cache_entries=2)
    values = pa.array([f"v{i % 7}" for i in range(100)])
    for _ in range(3):
        out = pseudonymiser.array(values, "hex").to_pylist()
        assert out == [reference("cardio", v.encode()) for v in values.to_pylist()]
    assert len(pseudonymiser._cache) == 2


def test_drop_removes_the_columns_and_keeps_the_rest_in_order():
    batch = make_batch(0, 10)
    out = DutyPlan([DropColumns(("note", "lvef"))]).bind(batch.schema)(batch)
    assert out.schema.names == ["id", "patient", "site", "measured", "consent"]
    assert out.column("id").equals(batch.column("id"))


def test_a_duty_naming_a_missing_column_is_an_error_naming_that_column():
    batch = make_batch(0, 5)
    with pytest.raises(DutyError, match="'ssn'.*does not have") as caught:
        DutyPlan([{"action": "drop", "columns": ["ssn"]}]).bind(batch.schema)
    assert caught.value.extensions["column"] == "ssn"
    with pytest.raises(DutyError, match="'email'"):
        DutyPlan([Pseudonymise(("email",))], project="p", secret=SECRET).bind(batch.schema)


def test_pseudonymising_a_column_an_earlier_duty_dropped_says_so():
    batch = make_batch(0, 5)
    plan = DutyPlan([DropColumns(("patient",)), Pseudonymise(("patient",))], project="p", secret=SECRET)
    with pytest.raises(DutyError, match="'patient'.*earlier drop duty removed"):
        plan.bind(batch.schema)


def test_a_column_of_an_unsupported_type_is_refused_with_its_name_and_type():
    batch = make_batch(0, 5)
    with pytest.raises(DutyError, match="'lvef' of type double"):
        pseudonymise(batch, ["lvef"])


def test_dropping_every_column_is_refused():
    batch = pa.record_batch({"a": [1]})
    with pytest.raises(DutyError, match="drop every column"):
        DutyPlan([DropColumns(("a",))]).bind(batch.schema)


def test_a_later_batch_without_a_kept_column_is_an_error_naming_it():
    batches = [pa.record_batch({"a": [1], "b": ["x"]}), pa.record_batch({"a": [2]})]
    stream = apply_duties(batches, [DropColumns(("a",))])
    next(stream)
    with pytest.raises(DutyError, match="no column 'b'"):
        next(stream)


@pytest.mark.parametrize("spec, message", [
    ({"action": "encrypt", "columns": ["a"]}, "unknown duty action 'encrypt'"),
    ({"action": "drop", "columns": "a"}, "non-empty list"),
    ({"action": "drop", "columns": []}, "non-empty list"),
    ({"action": "drop", "columns": ["a"], "output": "hex"}, "unknown field"),
    ({"action": "pseudonymise", "columns": ["a"], "salt": "x"}, "unknown field.*salt"),
    ({"action": "pseudonymise", "columns": ["a"], "output": "base64"}, "'hex' or 'binary'"),
])
def test_malformed_duty_specs_are_refused(spec, message):
    with pytest.raises(DutyError, match=message):
        parse_duties([spec])


def test_pseudonymisation_needs_a_secret_of_at_least_16_bytes_and_a_project():
    with pytest.raises(DutyError, match="service secret"):
        DutyPlan([Pseudonymise(("a",))], project="p")
    with pytest.raises(ValueError, match="at least 16 bytes"):
        DutyPlan([Pseudonymise(("a",))], project="p", secret="short")


def test_the_manifest_description_names_algorithm_and_key_id_but_not_the_key():
    plan = DutyPlan([DropColumns(("note",)), {"action": "pseudonymize", "columns": ["patient"]}],
                    project="cardio", secret=SECRET)
    described = plan.describe()
    key = derive_project_key(SECRET, "cardio")
    assert described == [
        {"action": "drop", "columns": ["note"]},
        {"action": "pseudonymise", "columns": ["patient"], "output": "hex", "algorithm": "HMAC-SHA256",
         "keyDerivation": "HKDF-SHA256", "keyId": key_id(key)},
    ]
    assert key.hex() not in repr(described) and key_id(key) != key_id(derive_project_key(SECRET, "radar"))


@pytest.mark.parametrize("key", [bytes(range(32)), bytes(range(100))], ids=["32-byte", "longer-than-a-block"])
def test_the_precomputed_hmac_equals_the_standard_library_for_any_key_length(key):
    pseudonymiser = Pseudonymiser(key)
    for value in (b"", b"x", "Zoë".encode(), bytes(range(256)) * 3):
        assert pseudonymiser.digest(value) == hmac.digest(key, value, "sha256")
    out = pseudonymiser.array(pa.array([b"", b"x"], pa.binary()), "binary").to_pylist()
    assert out == [hmac.digest(key, b"", "sha256"), hmac.digest(key, b"x", "sha256")]
