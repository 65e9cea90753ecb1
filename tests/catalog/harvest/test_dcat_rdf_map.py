"""DCAT-AP graphs mapped to dataset documents: multilingual text, blank nodes, nested
catalogs, series, and values our schema cannot hold (dropped, never fatal)."""

from __future__ import annotations

from rdflib import Graph

from connector.catalog.harvest.dcat_map import map_graph
from tests.conftest import SCHEMAS

PREFIXES = """@prefix dcat: <http://www.w3.org/ns/dcat#> . @prefix dct: <http://purl.org/dc/terms/> .
@prefix foaf: <http://xmlns.com/foaf/0.1/> . @prefix vcard: <http://www.w3.org/2006/vcard/ns#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> . @prefix schema: <http://schema.org/> .
@prefix spdx: <http://spdx.org/rdf/terms#> .
"""


def records(turtle: str):
    graph = Graph().parse(data=PREFIXES + turtle, format="turtle", publicID="http://example.org/page")
    found = list(map_graph(graph))
    for record in found:
        if record.document is not None:
            assert list(SCHEMAS.iter_errors("dataset", record.document)) == []
    return found


def test_multilingual_literals_are_kept_as_language_maps() -> None:
    [record] = records("""<http://example.org/ds> a dcat:Dataset ;
        dct:title "Luftqualität"@de, "Air quality"@en, "Qualité de l'air"@fr ;
        dct:description "Stündliche Messwerte"@DE-at, "Hourly values"@en ;
        dcat:keyword "Luft"@de, "air"@en, "pollution"@en, "untagged" ;
        dct:publisher [ foaf:name "Umweltamt"@de, "Environment Office"@en ] .""")
    document = record.document
    assert document["title"] == {"de": "Luftqualität", "en": "Air quality", "fr": "Qualité de l'air"}
    assert document["description"] == {"de-at": "Stündliche Messwerte", "en": "Hourly values"}
    assert document["keyword"] == {"de": ["Luft"], "en": ["air", "pollution", "untagged"]}
    assert document["publisher"]["name"] == {"de": "Umweltamt", "en": "Environment Office"}


def test_untagged_literal_stays_a_plain_string() -> None:
    [record] = records('<http://example.org/ds> a dcat:Dataset ; dct:title "Plain" ; dct:description "Text".')
    assert (record.document["title"], record.document["description"]) == ("Plain", "Text")


def test_blank_node_dataset_with_identifier_uses_it_as_remote_id() -> None:
    [record] = records("""[] a dcat:Dataset ; dct:identifier "ds-42" ; dct:title "Blank"@en ;
        dct:description "Described"@en .""")
    assert (record.remote_id, record.error, record.document["identifier"]) == ("ds-42", None, "ds-42")


def test_blank_node_dataset_without_identifier_fails_with_the_reason() -> None:
    [record] = records('[] a dcat:Dataset ; dct:title "Nameless"@en .')
    assert record.document is None
    assert record.error == "dataset is a blank node without dct:identifier: it has no stable id"
    assert "Nameless" in record.remote_id


def test_dataset_without_title_fails_and_the_others_are_mapped() -> None:
    found = records("""<http://example.org/a> a dcat:Dataset ; dct:description "No title"@en .
        <http://example.org/b> a dcat:Dataset ; dct:title "B"@en ; dct:description "Fine"@en .""")
    assert [(r.remote_id, r.error) for r in found] == [("http://example.org/a", "dataset has no dct:title"),
                                                       ("http://example.org/b", None)]


def test_datasets_of_nested_catalogs_and_untyped_listed_datasets_are_found() -> None:
    found = records("""<http://example.org/cat> a dcat:Catalog ; dct:hasPart <http://example.org/sub> ;
            dcat:catalog <http://example.org/sub2> .
        <http://example.org/sub> a dcat:Catalog ; dcat:dataset <http://example.org/in-sub> .
        <http://example.org/sub2> a dcat:Catalog ; dcat:dataset [ dct:identifier "blank-in-sub2" ;
            dct:title "Blank in sub2" ] .
        <http://example.org/in-sub> dct:title "Listed, not typed" .
        <http://example.org/series> a dcat:DatasetSeries ; dct:title "A series" .
        <http://example.org/cat> dcat:dataset <http://example.org/series> .""")
    assert sorted(r.remote_id for r in found) == ["blank-in-sub2", "http://example.org/in-sub"]


def test_dataset_series_are_not_harvested_but_their_members_are() -> None:
    found = records("""<http://example.org/series> a dcat:DatasetSeries ; dct:title "Series"@en .
        <http://example.org/member> a dcat:Dataset ; dct:title "Member"@en ;
            dcat:inSeries <http://example.org/series> .""")
    assert [r.remote_id for r in found] == ["http://example.org/member"]


def test_fields_map_to_the_dataset_document() -> None:
    [record] = records("""<http://example.org/ds> a dcat:Dataset ;
        dct:title "T"@en ; dct:description "D"@en ; dct:identifier "id-1" ;
        dcat:theme <http://publications.europa.eu/resource/authority/data-theme/ENVI>,
            <http://example.org/my-theme> ;
        dct:accessRights <http://publications.europa.eu/resource/authority/access-right/RESTRICTED> ;
        dct:publisher <http://example.org/agency> ;
        dcat:contactPoint [ vcard:fn "Desk" ; vcard:hasEmail <mailto:desk@example.org> ],
            [ vcard:fn "No way to reach" ] ;
        dct:temporal [ a dct:PeriodOfTime ; dcat:startDate "2020-01-01"^^xsd:date ;
                       dcat:endDate "2020-12-31T23:00:00Z"^^xsd:dateTime ],
                     [ schema:startDate "2019-01-01"^^xsd:date ] ;
        dct:spatial <http://publications.europa.eu/resource/authority/country/DEU> ;
        dct:issued "2020-02-03T04:05:06"^^xsd:dateTime ; dct:modified "2021"^^xsd:gYear ;
        dcat:landingPage <https://example.org/ds.html> ;
        dct:conformsTo <http://example.org/standard> ;
        dcat:distribution [ dcat:accessURL <https://example.org/data.csv> ;
            dcat:downloadURL <https://example.org/data.csv> ;
            dct:format <http://publications.europa.eu/resource/authority/file-type/CSV> ;
            dcat:mediaType <https://www.iana.org/assignments/media-types/text/csv> ;
            dcat:byteSize "2048.0"^^xsd:decimal ;
            dct:license <http://publications.europa.eu/resource/authority/licence/CC_BY_4_0> ;
            spdx:checksum [ spdx:algorithm spdx:checksumAlgorithm_sha1 ;
                            spdx:checksumValue "0123456789abcdef0123456789abcdef01234567"^^xsd:hexBinary ] ],
          [ dct:title "No URL at all" ] .
        <http://example.org/agency> foaf:name "Agency"@en ; foaf:homepage <https://agency.example.org> ;
            dct:type <http://purl.org/adms/publishertype/NationalAuthority> .""")
    document = record.document
    assert document["identifier"] == "id-1"
    assert document["theme"] == ["http://publications.europa.eu/resource/authority/data-theme/ENVI"]
    assert document["accessRights"] == "http://publications.europa.eu/resource/authority/access-right/RESTRICTED"
    assert document["publisher"] == {"name": {"en": "Agency"}, "identifier": "http://example.org/agency",
                                     "homepage": "https://agency.example.org",
                                     "type": "http://purl.org/adms/publishertype/NationalAuthority"}
    assert document["contactPoint"] == [{"fn": "Desk", "hasEmail": "mailto:desk@example.org"}]
    assert sorted(document["temporal"], key=lambda p: p["startDate"]) == [
        {"startDate": "2019-01-01"}, {"startDate": "2020-01-01", "endDate": "2020-12-31T23:00:00+00:00"}]
    assert document["spatial"] == ["http://publications.europa.eu/resource/authority/country/DEU"]
    assert document["issued"] == "2020-02-03"  # no time zone: the date only
    assert "modified" not in document  # xsd:gYear is not a date
    assert document["landingPage"] == "https://example.org/ds.html"
    assert document["conformsTo"] == ["http://example.org/standard"]
    assert document["distribution"] == [{
        "accessURL": "https://example.org/data.csv", "downloadURL": "https://example.org/data.csv",
        "format": "http://publications.europa.eu/resource/authority/file-type/CSV", "mediaType": "text/csv",
        "byteSize": 2048, "license": "http://publications.europa.eu/resource/authority/licence/CC_BY_4_0",
        "checksum": {"algorithm": "sha1", "checksumValue": "0123456789abcdef0123456789abcdef01234567"}}]
    # DCAT-AP puts the licence on distributions: the dataset takes it when they agree.
    assert document["license"] == "http://publications.europa.eu/resource/authority/licence/CC_BY_4_0"
    assert "1 distribution(s) without dcat:accessURL or dcat:downloadURL dropped" in record.note
    assert "themes outside the EU data-theme authority dropped" in record.note


def test_missing_access_rights_default_to_public_and_the_note_says_so() -> None:
    [record] = records('<http://example.org/ds> a dcat:Dataset ; dct:title "T" ; dct:description "D" .')
    assert record.document["accessRights"] == "http://publications.europa.eu/resource/authority/access-right/PUBLIC"
    assert record.note == "no dct:accessRights: PUBLIC assumed"


def test_values_the_schema_cannot_hold_are_dropped_not_fatal() -> None:
    [record] = records(f"""<http://example.org/ds> a dcat:Dataset ; dct:title "T"@en, "Bad tag"@i-klingon ;
        dct:description "{'x' * 20001}" ; dcat:keyword "{'k' * 201}", "ok" ;
        dcat:landingPage <ftp://example.org/not-http> ; dct:issued "06/05/2009" ;
        dcat:distribution [ dcat:accessURL "https://example.org/Łódź data.csv"^^xsd:anyURI ;
                            dcat:byteSize "1.5" ; dcat:mediaType "not a media type" ;
                            spdx:checksum [ spdx:algorithm spdx:checksumAlgorithm_md2 ;
                                            spdx:checksumValue "abc" ] ] .""")
    document = record.document
    assert document["title"] == {"en": "T"}
    assert document["description"] == {"en": "T"}  # too long: dropped, the title stands in
    assert document["keyword"] == ["ok"]
    assert "landingPage" not in document and "issued" not in document
    # An IRI becomes a URI (percent-encoded), the rest of the distribution is dropped value by value.
    assert document["distribution"] == [{"accessURL": "https://example.org/%C5%81%C3%B3d%C5%BA%20data.csv"}]
