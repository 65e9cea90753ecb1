"""Normalisation of DCAT-AP documents and the words search indexes."""

from __future__ import annotations

from connector.catalog import dcat
from tests.conftest import dataset_body


def test_normalise_does_not_touch_its_input():
    body = dataset_body(organisation="health")
    before = repr(body)
    dcat.normalise(body)
    assert repr(body) == before


def test_format_codes_accept_names_and_authority_uris():
    assert dcat.format_code("csv") == "CSV"
    assert dcat.format_code("http://publications.europa.eu/resource/authority/file-type/PARQUET") == "PARQUET"
    assert dcat.format_code("text/csv") == "text/csv"


def test_content_hash_ignores_key_order():
    a = {"title": {"en": "x"}, "description": {"en": "y"}}
    b = {"description": {"en": "y"}, "title": {"en": "x"}}
    assert dcat.content_hash(a) == dcat.content_hash(b)


def test_tokens_fold_case_and_accents_and_split_on_punctuation():
    assert dcat.tokens("Données-Cœur_ÉTÉ 2024; NO2") == ["donnees", "cœur", "ete", "2024", "no2"]
    assert dcat.tokens("'; DROP TABLE x; --") == ["drop", "table", "x"]
    assert dcat.tokens("x" * 65) == []


def test_facet_values_are_unique_and_include_owner():
    doc = dcat.normalise(dataset_body(keyword=["a", "a"], theme=["HEAL"]))
    pairs = list(dcat.facet_values(doc, "health"))
    assert len(pairs) == len(set(pairs))
    assert ("organisation", "health") in pairs and ("keyword", "a") in pairs
