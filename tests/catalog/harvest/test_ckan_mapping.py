"""The CKAN mapper on every package of ckanext-dcat's examples, and on the odd shapes portals send."""

from __future__ import annotations

import json

import pytest

from connector.catalog.harvest.ckan import package_record, solr_date
from connector.catalog.harvest.ckan_map import map_package
from tests.conftest import SCHEMAS, SHARED

EXAMPLES = sorted((SHARED / "standards" / "ckanext-dcat-examples" / "ckan").glob("*.json"))
PORTAL = "https://portal.example.eu"


def packages_in(path):
    data = json.loads(path.read_text())
    return data if isinstance(data, list) else [data]


def test_the_ckan_example_folder_holds_at_least_its_thirteen_examples():
    assert len(EXAMPLES) >= 13


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_maps_to_a_schema_valid_document_or_is_not_a_package(path):
    for raw in packages_in(path):
        record = package_record(raw, PORTAL)
        if "id" not in raw and "name" not in raw:  # the DCAT-JSON files of the folder
            assert record.error == "not a CKAN package: no 'id' or 'name'"
            continue
        assert record.error is None, record.error
        SCHEMAS.validate("dataset", record.document)
        document = record.document
        assert document["title"] in (raw["title"], raw.get("title_translated"))
        assert document["description"] in (raw["notes"], raw.get("notes_translated"))
        tags = {t["name"] for t in raw.get("tags", [])}
        keywords = document.get("keyword", [])
        assert tags == set(keywords if isinstance(keywords, list) else keywords["en"])
        urls = {r.get("access_url") or r.get("url") for r in raw.get("resources", [])}
        assert {d["accessURL"] for d in document.get("distribution", [])} <= urls


def test_full_dcat_ap_example_keeps_the_ckanext_dcat_fields():
    raw = json.loads((EXAMPLES[0].parent / "ckan_full_dataset_dcat_ap.json").read_text())
    document, notes = map_package(raw, PORTAL)
    assert document["identifier"] == "xx-some-dataset-id-yy"
    assert document["publisher"] == {"name": "Test Publisher", "identifier": "http://example.org/publisher-id",
                                     "homepage": "https://example.org", "type": "public_body"}
    assert document["contactPoint"][0] == {"fn": "Contact 1", "hasEmail": "mailto:contact1@example.org",
                                           "hasURL": "https://example.org"}
    assert document["temporal"] == [{"startDate": "1905-03-01", "endDate": "2013-01-05"},
                                    {"startDate": "2024-04-10", "endDate": "2024-05-29"}]
    assert document["spatial"] == ["https://sws.geonames.org/6361390/"]
    assert document["issued"] == "2024-05-01" and document["modified"] == "2024-05-05"
    distribution = document["distribution"][0]
    assert distribution["checksum"] == {"algorithm": "sha1",
                                        "checksumValue": "4304cf2e751e6053c90b1804c89c0ebb758f395a"}
    assert distribution["byteSize"] == 12323 and distribution["compressFormat"] == "application/gzip"
    assert distribution["issued"] == "2024-05-01T01:20:33Z"
    # themes outside the EU table and conforms_to values that are not URIs are dropped, and said so
    assert "theme" not in document and "conformsTo" not in document
    assert any("themes" in n for n in notes) and any("conforms_to" in n for n in notes)


def test_health_example_keeps_eu_vocabulary_terms():
    raw = json.loads((EXAMPLES[0].parent / "health_dcat_ap.json").read_text())[0]
    document, _ = map_package(raw, PORTAL)
    assert document["theme"] == ["HEAL"] and document["accessRights"] == "NON_PUBLIC"
    assert document["identifier"] == "http://example.com/dataset/1234567890"
    assert "http://publications.europa.eu/resource/authority/country/BEL" in document["spatial"]


def test_multilingual_example_keeps_every_language():
    raw = json.loads((EXAMPLES[0].parent / "ckan_dataset_multilingual.json").read_text())
    document, _ = map_package(raw, PORTAL)
    assert set(document["title"]) == {"en", "ca", "es"}
    assert document["keyword"]["es"] == ["Robles", "Pinos"]


def test_classic_extras_are_read():
    raw = json.loads((EXAMPLES[0].parent / "ckan_dataset.json").read_text())
    document, _ = map_package(raw, PORTAL)
    assert document["identifier"] == "9df8df51-63db-37a8-e044-0003ba9b0d98"  # extras guid
    assert document["publisher"]["name"] == "Geological Society"
    assert document["modified"] == "2012-05-10T21:04:00Z"


@pytest.mark.parametrize("licence_id,uri", [
    ("cc-by", "http://publications.europa.eu/resource/authority/licence/CC_BY_4_0"),
    ("cc-zero", "http://publications.europa.eu/resource/authority/licence/CC0"),
    ("odc-odbl", "http://publications.europa.eu/resource/authority/licence/ODC_BL"),
])
def test_common_ckan_licence_ids_become_eu_licence_uris(licence_id, uri):
    document, _ = map_package({"id": "a", "title": "t", "notes": "n", "license_id": licence_id}, PORTAL)
    assert document["license"] == uri


def test_a_licence_url_wins_and_an_unknown_id_is_dropped_with_a_note():
    document, _ = map_package({"id": "a", "title": "t", "license_id": "x",
                               "license_url": "https://example.org/licence"}, PORTAL)
    assert document["license"] == "https://example.org/licence"
    document, notes = map_package({"id": "a", "title": "t", "notes": "n", "license_id": "other-open"}, PORTAL)
    assert "license" not in document and any("other-open" in n for n in notes)


def test_odd_values_are_dropped_not_fatal():
    raw = {"id": "a", "title": "t", "notes": "n", "url": "not a url", "access_rights": "open-ish",
           "tags": [{"name": ""}, "bare", {"name": "ok"}], "contact": [{"name": "No way to reach"}],
           "resources": [{"url": ""}, {"url": "https://x.example/a.csv", "size": "12a",
                                       "hash": "not-hex", "format": "text/csv"}]}
    record = package_record(raw, PORTAL)
    SCHEMAS.validate("dataset", record.document)
    document = record.document
    assert document["accessRights"] == "PUBLIC" and "landingPage" not in document
    assert document["keyword"] == ["ok"] and "contactPoint" not in document
    assert document["distribution"] == [{"accessURL": "https://x.example/a.csv", "format": "CSV",
                                         "mediaType": "text/csv"}]
    assert "1 resource(s) without a usable URL dropped" in record.note


def test_a_package_without_title_is_a_failed_record():
    record = package_record({"id": "a", "notes": "n"}, PORTAL)
    assert record.document is None and record.error.startswith("no title")


def test_ckan_stamps_become_solr_dates_cut_to_the_second():
    assert solr_date("2024-05-05T09:33:20.123456") == "2024-05-05T09:33:20Z"
    assert solr_date("2024-05-05") == "2024-05-05T00:00:00Z"
