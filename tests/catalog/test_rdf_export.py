"""The DCAT-AP 3.0.1 mapping: normalised documents -> RDF, checked triple by triple and against
the official SHACL shapes."""

from __future__ import annotations

import json
import warnings
from typing import Any

import pyshacl
import pytest
from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import RDF, XSD

from connector.catalog import dcat, rdf_export
from connector.catalog.rdf_export import (
    DCAT,
    DCT,
    FOAF,
    HYDRA,
    SKOS,
    SPDX,
    VCARD,
    CatalogInfo,
    ExportedDataset,
    PageLinks,
    catalog_graph,
    dataset_graph,
    date_literal,
    serialize,
)
from tests.conftest import SHARED, dataset_body

SH = Namespace("http://www.w3.org/ns/shacl#")
STANDARD = SHARED / "standards" / "dcat-ap-3.0.1"
BASE = "https://data.example.eu"

# Property shapes that ranges.ttl of the DCAT-AP 3.0.1 release lists under sh:property but that
# neither it nor dcat-ap-SHACL.ttl defines; pySHACL refuses such ill-formed shapes, so they are
# dropped (by id, so that a corrected release shows up here).
DANGLING_SHAPES = {
    "dcat:DatasetShape/4918ff7a6c1c4b0eea6403dca4b992b87ee1f4ab",
    "dcat:DatasetShape/95c69c99a1e3ade043911b51b942f206dea0e68d",
    "dcat:DistributionShape/653804840386e33525b3d39d205c174780be414b",
    "dcat:DistributionShape/a07d6e7a0a1790b89a1ce7ff602cbbd9ea835282",
    "dcat:RelationshipShape/b7aa98e1befa5130659568aa62e7f38575dc17c1",
}


def parse_rdf(data: bytes | str, rdflib_format: str) -> Graph:
    """Parse an export back; rdflib's JSON-LD parser warns about its own deprecated internals."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "ConjunctiveGraph is deprecated", DeprecationWarning)
        return Graph().parse(data=data, format=rdflib_format)


def _load(*names: str) -> Graph:
    graph = Graph()
    for name in names:
        graph.parse(STANDARD / name)
    return graph


def official_shapes() -> Graph:
    """The DCAT-AP 3.0.1 release shapes: dcat-ap-SHACL.ttl with ranges.ttl."""
    shapes = _load("shacl/dcat-ap-SHACL.ttl", "shacl/ranges.ttl")
    dangling = [(shape, prop) for shape, prop in shapes.subject_objects(SH.property)
                if shapes.value(prop, SH.path) is None]
    assert {str(prop).split("#", 1)[1] for _, prop in dangling} == DANGLING_SHAPES
    for shape, prop in dangling:
        shapes.remove((shape, SH.property, prop))
    return shapes


def split_shapes() -> Graph:
    """The same constraints as split for the HTML specification (shapes.ttl, range.ttl)."""
    return _load("shacl-html/shapes.ttl", "shacl-html/range.ttl")


def recommended_shapes() -> Graph:
    return _load("shacl-html/shapes_recommended.ttl")


def shacl_results(data: Graph, shapes: Graph) -> list[tuple[str, str, str]]:
    """(severity, focus node, path) of every validation result."""
    _, report, _ = pyshacl.validate(data, shacl_graph=shapes, inference="none")
    return sorted(
        (str(report.value(r, SH.resultSeverity)).rsplit("#", 1)[-1], str(report.value(r, SH.focusNode)),
         str(report.value(r, SH.resultPath)))
        for r in report.subjects(RDF.type, SH.ValidationResult))


def violations(data: Graph, shapes: Graph) -> list[tuple[str, str, str]]:
    return [r for r in shacl_results(data, shapes) if r[0] == "Violation"]


def full_body() -> dict[str, Any]:
    """A registration body with every field the dataset schema has."""
    body = dataset_body()
    body["publisher"] = {"name": {"en": "Health Data Agency", "de": "Gesundheitsdatenagentur"},
                         "identifier": "https://health.example.eu/#agency",
                         "homepage": "https://health.example.eu", "type": "NationalAuthority"}
    body["contactPoint"] = [{"fn": "Data desk", "hasEmail": "data@health.example.eu",
                             "hasURL": "https://health.example.eu/contact"}]
    body["keyword"] = {"en": ["cardiology", "MRI"], "de": ["Kardiologie"]}
    body["theme"] = ["HEAL", "http://publications.europa.eu/resource/authority/data-theme/TECH"]
    body["temporal"] = [{"startDate": "2019-01-01", "endDate": "2024-12-31T23:59:59Z"},
                        {"startDate": "2025-01-01"}]
    body["spatial"] = ["http://publications.europa.eu/resource/authority/country/DEU", "Bavaria"]
    body["conformsTo"] = ["https://www.hl7.org/fhir/", "https://semiceu.github.io/DCAT-AP/releases/3.0.1"]
    body["distribution"][0].update({
        "identifier": "cardiac-mri-csv", "title": {"en": "Measurements", "de": "Messungen"},
        "description": "One row per scan.", "compressFormat": "application/gzip",
        "license": "http://publications.europa.eu/resource/authority/licence/CC_BY_4_0",
        "issued": "2025-03-01", "modified": "2025-06-30T12:00:00Z"})
    body["distribution"].append({"accessURL": "https://health.example.eu/cardiac-mri/api",
                                 "format": "application/json", "description": "Query by scan.",
                                 "license": "http://publications.europa.eu/resource/authority/licence/CC_BY_4_0"})
    return body


def graph_of(body: dict[str, Any], version: int = 1, dataset_id: str = "d-1") -> Graph:
    return dataset_graph(BASE, ExportedDataset(dataset_id, version, dcat.normalise(body)))


DS = URIRef(f"{BASE}/datasets/d-1")
DIST = URIRef(f"{BASE}/datasets/d-1#distribution-1")


def test_dataset_carries_identifier_multilingual_texts_keywords_and_version():
    graph = graph_of(full_body(), version=3)
    assert (DS, RDF.type, DCAT.Dataset) in graph
    assert graph.value(DS, DCT.identifier).startswith("urn:example:dataset:")
    assert set(graph.objects(DS, DCT.title)) == {Literal("Cardiac MRI cohort", lang="en"),
                                                Literal("Kardiale MRT-Kohorte", lang="de")}
    assert Literal("Kardiologie", lang="de") in set(graph.objects(DS, DCAT.keyword))
    assert graph.value(DS, DCAT.version) == Literal("3")


def test_vocabulary_codes_become_eu_authority_uris_with_the_classes_the_ranges_expect():
    graph = graph_of(full_body())
    heal = URIRef(dcat.THEME_AUTHORITY + "HEAL")
    assert set(graph.objects(DS, DCAT.theme)) == {heal, URIRef(dcat.THEME_AUTHORITY + "TECH")}
    assert (heal, RDF.type, SKOS.Concept) in graph
    assert graph.value(heal, SKOS.prefLabel) == Literal("Health", lang="en")
    rights = graph.value(DS, DCT.accessRights)
    assert rights == URIRef(dcat.ACCESS_RIGHT_AUTHORITY + "PUBLIC")
    assert (rights, RDF.type, DCT.RightsStatement) in graph
    assert (graph.value(DS, DCT.license), RDF.type, DCT.LicenseDocument) in graph
    fmt = graph.value(DIST, DCT.format)
    assert fmt == URIRef(dcat.FILE_TYPE_AUTHORITY + "CSV")
    assert (fmt, RDF.type, DCT.MediaTypeOrExtent) in graph
    media = graph.value(DIST, DCAT.mediaType)
    assert media == URIRef("https://www.iana.org/assignments/media-types/text/csv")
    assert (media, RDF.type, DCT.MediaType) in graph


def test_agent_contact_period_and_checksum_are_typed_nodes():
    graph = graph_of(full_body())
    agent = graph.value(DS, DCT.publisher)
    assert (agent, RDF.type, FOAF.Agent) in graph
    assert Literal("Gesundheitsdatenagentur", lang="de") in set(graph.objects(agent, FOAF.name))
    kind = graph.value(agent, DCT.type)
    assert kind == URIRef("http://purl.org/adms/publishertype/NationalAuthority")
    assert graph.value(kind, SKOS.prefLabel) == Literal("National authority", lang="en")
    contact = graph.value(DS, DCAT.contactPoint)
    assert (contact, RDF.type, VCARD.Kind) in graph
    assert graph.value(contact, VCARD.hasEmail) == URIRef("mailto:data@health.example.eu")
    starts = {graph.value(p, DCAT.startDate) for p in graph.objects(DS, DCT.temporal)}
    assert starts == {Literal("2019-01-01", datatype=XSD.date), Literal("2025-01-01", datatype=XSD.date)}
    checksum = graph.value(DIST, SPDX.checksum)
    assert graph.value(checksum, SPDX.algorithm) == SPDX.checksumAlgorithm_sha256
    assert graph.value(checksum, SPDX.checksumValue) == Literal("ab" * 32, datatype=XSD.hexBinary)
    assert graph.value(DIST, DCAT.byteSize) == Literal("1048576", datatype=XSD.nonNegativeInteger)


def test_dates_are_typed_date_or_datetime():
    assert date_literal("2025-03-01").datatype == XSD.date
    assert date_literal("2025-06-30T12:00:00Z").datatype == XSD.dateTime
    graph = graph_of(full_body())
    assert graph.value(DS, DCT.issued).datatype == XSD.date
    assert graph.value(DS, DCT.modified).datatype == XSD.dateTime


@pytest.mark.parametrize("value,expected", [
    ("csv", URIRef(dcat.FILE_TYPE_AUTHORITY + "CSV")),
    ("text/csv", URIRef("https://www.iana.org/assignments/media-types/text/csv")),
    ("https://formats.example/x", URIRef("https://formats.example/x")),
])
def test_format_maps_codes_media_types_and_uris(value, expected):
    body = dataset_body(distribution=[{"accessURL": "https://x.example/d", "format": value}])
    graph = graph_of(body)
    assert graph.value(DIST, DCT.format) == expected
    assert (expected, RDF.type, DCT.MediaTypeOrExtent) in graph


def test_free_text_format_spatial_and_publisher_type_become_labelled_nodes():
    body = dataset_body(distribution=[{"accessURL": "https://x.example/d", "format": "Scanned paper forms"}],
                        spatial=["Lower Saxony"],
                        publisher={"name": "A clinic", "type": "University hospital"})
    graph = graph_of(body)
    fmt = graph.value(DIST, DCT.format)
    assert isinstance(fmt, BNode) and graph.value(fmt, SKOS.prefLabel) == Literal("Scanned paper forms")
    place = graph.value(DS, DCT.spatial)
    assert (place, RDF.type, DCT.Location) in graph
    assert graph.value(place, SKOS.prefLabel) == Literal("Lower Saxony")
    kind = graph.value(graph.value(DS, DCT.publisher), DCT.type)
    assert graph.value(kind, SKOS.prefLabel) == Literal("University hospital", lang="en")
    assert violations(graph, official_shapes()) == []


def test_publisher_type_uri_outside_adms_is_left_out_rather_than_given_an_invented_label():
    graph = graph_of(dataset_body(publisher={"name": "A clinic", "type": "https://types.example/clinic"}))
    assert graph.value(graph.value(DS, DCT.publisher), DCT.type) is None
    assert URIRef("https://types.example/clinic") not in set(graph.subjects())
    assert violations(graph, official_shapes()) == []


def test_catalog_lists_datasets_and_describes_its_hydra_page():
    info = CatalogInfo(BASE, "Our catalog", "Everything", "Operator")
    links = PageLinks(total=7, this=f"{BASE}/catalog.ttl?page=2", first=f"{BASE}/catalog.ttl?page=1",
                      last=f"{BASE}/catalog.ttl?page=4", next=f"{BASE}/catalog.ttl?page=3",
                      previous=f"{BASE}/catalog.ttl?page=1")
    docs = [ExportedDataset(f"d-{n}", 1, dcat.normalise(dataset_body())) for n in (1, 2)]
    graph = catalog_graph(info, docs, links)
    catalog = URIRef(f"{BASE}/catalog")
    assert set(graph.objects(catalog, DCAT.dataset)) == {URIRef(f"{BASE}/datasets/d-1"),
                                                         URIRef(f"{BASE}/datasets/d-2")}
    assert graph.value(graph.value(catalog, DCT.publisher), FOAF.name) == Literal("Operator", lang="en")
    assert graph.value(catalog, HYDRA.totalItems).toPython() == 7
    view = graph.value(catalog, HYDRA.view)
    assert (view, RDF.type, HYDRA.PartialCollectionView) in graph
    assert graph.value(view, HYDRA.next) == URIRef(f"{BASE}/catalog.ttl?page=3")
    assert graph.value(view, HYDRA.last) == URIRef(f"{BASE}/catalog.ttl?page=4")


def test_jsonld_carries_an_inline_context_of_prefixes():
    document = json.loads(serialize(graph_of(full_body()), "jsonld"))
    assert document["@context"]["dcat"] == str(DCAT)
    assert all(isinstance(v, str) for v in document["@context"].values())
    assert len(parse_rdf(json.dumps(document), "json-ld")) == len(graph_of(full_body()))


def test_full_document_conforms_to_the_official_shapes_and_the_html_split_shapes():
    graph = catalog_graph(CatalogInfo(BASE, "T", "D", "P"),
                          [ExportedDataset("d-1", 2, dcat.normalise(full_body()))])
    assert shacl_results(graph, official_shapes()) == []
    assert shacl_results(graph, split_shapes()) == []


def test_shapes_catch_a_theme_without_its_class_and_a_dataset_without_title():
    graph = graph_of(full_body())
    heal = URIRef(dcat.THEME_AUTHORITY + "HEAL")
    graph.remove((heal, RDF.type, SKOS.Concept))
    graph.remove((DS, DCT.title, None))
    paths = {path for _, _, path in violations(graph, official_shapes())}
    assert paths == {str(DCAT.theme), str(DCT.title)}



def test_stored_values_that_are_no_iri_are_left_out_and_every_format_still_serialises():
    """Versions stored before the schema tightened may hold a media type with ``^`` or an
    e-mail that is no address; they are left out rather than breaking the whole page."""
    body = dataset_body(contactPoint=[{"fn": "Desk", "hasEmail": "desk@data<example>",
                                       "hasURL": "https://x.example/contact"}],
                        distribution=[{"accessURL": "https://x.example/d", "mediaType": "text/a^b",
                                       "compressFormat": "application/gzip"}])
    graph = graph_of(body)
    assert graph.value(DIST, DCAT.mediaType) is None
    assert graph.value(DIST, DCAT.compressFormat) == URIRef(
        "https://www.iana.org/assignments/media-types/application/gzip")
    contact = graph.value(DS, DCAT.contactPoint)
    assert graph.value(contact, VCARD.hasEmail) is None
    assert graph.value(contact, VCARD.hasURL) == URIRef("https://x.example/contact")
    for extension in ("ttl", "nt", "jsonld", "rdf"):
        assert serialize(graph, extension)
    assert violations(graph, official_shapes()) == []


@pytest.mark.parametrize("value,kept", [
    ("http://publications.europa.eu/resource/authority/country/DEU", True),
    ("https://de.wikipedia.org/wiki/Köln", True), ("geo:a<b>", False), ("http://x.example/a b", False),
    ('urn:x:"q"', False), ("urn:x:a|b", False), ("urn:x:a`b", False), ("Lower Saxony", False),
])
def test_only_iris_every_serialiser_writes_become_uris(value, kept):
    assert (rdf_export.iri(value) is not None) is kept
    graph = graph_of(dataset_body(spatial=[value]))
    place = graph.value(DS, DCT.spatial)
    assert isinstance(place, URIRef) is kept
    if not kept:
        assert graph.value(place, SKOS.prefLabel) == Literal(value)
    assert Graph().parse(data=serialize(graph, "nt"), format="nt")
