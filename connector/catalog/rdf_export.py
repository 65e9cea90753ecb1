"""The catalog as DCAT-AP 3.0.1 RDF: normalised dataset documents -> rdflib graphs -> bytes.

Pure functions (no Flask, no SQLAlchemy). Every resource a property points to gets the class
the DCAT-AP 3.0.1 range shapes expect (``skos:Concept``, ``dct:LicenseDocument``,
``dct:MediaTypeOrExtent``...), so that the official SHACL shapes find no violation. Values
are never invented: a property the document lacks is left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCTERMS as DCT
from rdflib.namespace import FOAF, RDF, SKOS, XSD

from connector.catalog.dcat import (
    ACCESS_RIGHT_AUTHORITY,
    ACCESS_RIGHT_LABELS,
    EMAIL,
    FILE_TYPE_AUTHORITY,
    MEDIA_TYPE,
    THEME_AUTHORITY,
    THEME_LABELS,
)

# rdflib's own DCAT namespace predates DCAT 3 (it warns on dcat:version); the others have no
# term named like a str method, so plain namespaces are safe.
DCAT = Namespace("http://www.w3.org/ns/dcat#")
VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
SPDX = Namespace("http://spdx.org/rdf/terms#")
HYDRA = Namespace("http://www.w3.org/ns/hydra/core#")

#: The prefixes every serialisation uses; JSON-LD gets them as its inline ``@context``.
PREFIXES = {
    "dcat": str(DCAT), "dct": str(DCT), "foaf": str(FOAF), "vcard": str(VCARD), "skos": str(SKOS),
    "spdx": str(SPDX), "hydra": str(HYDRA), "rdf": str(RDF), "xsd": str(XSD),
}

IANA_MEDIA_TYPES = "https://www.iana.org/assignments/media-types/"
THEME_SCHEME = URIRef(THEME_AUTHORITY.rstrip("/"))
PUBLISHER_TYPES = "http://purl.org/adms/publishertype/"

# English labels of the ADMS publisher types we emit as skos:Concept (the shapes require a
# skos:prefLabel); the theme and access-right labels live in connector.catalog.dcat.
PUBLISHER_TYPE_LABELS = {
    "Academia-ScientificOrganisation": "Academia/Scientific organisation",
    "Company": "Company", "IndustryConsortium": "Industry consortium",
    "LocalAuthority": "Local authority", "NationalAuthority": "National authority",
    "NonGovernmentalOrganisation": "Non-governmental organisation",
    "NonProfitOrganisation": "Non-profit organisation", "PrivateIndividual(s)": "Private individual(s)",
    "RegionalAuthority": "Regional authority", "StandardisationBody": "Standardisation body",
    "SupraNationalAuthority": "Supra-national authority",
}

_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")
# Characters RFC 3987 keeps out of an IRI (space, controls, <>"{}|\^`): rdflib's Turtle and
# N-Triples writers refuse them, so such a value never becomes a URIRef.
_NOT_IN_IRI = re.compile(r'[\x00-\x20<>"{}|\\^`\x7f]')
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# RFC 6068: an address's characters other than these (and unreserved ones) are percent-encoded.
_MAILTO_SAFE = "!$'()*+,;:@"


def iri(value: str) -> URIRef | None:
    """``value`` as a URIRef when it is an absolute IRI every serialiser can write (a scheme,
    nothing RFC 3987 excludes); None otherwise, and the caller falls back to a label or leaves
    the value out (docs/dcat-export.md). Every URI taken from a document goes through here."""
    if _URI.match(value) and not _NOT_IN_IRI.search(value):
        return URIRef(value)
    return None


def mailto(address: str) -> URIRef | None:
    """The ``mailto:`` IRI of an e-mail address (RFC 6068: the local part's characters outside
    an IRI percent-encoded), or None when it is no address (:data:`dcat.EMAIL`)."""
    if not EMAIL.match(address):
        return None
    local, _, domain = address.removeprefix("mailto:").rpartition("@")
    return iri(f"mailto:{quote(local, safe=_MAILTO_SAFE)}@{domain}")


@dataclass(frozen=True)
class CatalogInfo:
    """What describes the catalog itself (from configuration) and where it lives."""

    base_url: str
    title: str
    description: str
    publisher: str


@dataclass(frozen=True)
class ExportedDataset:
    """One dataset as exported: its record id, its version number and its normalised document."""

    id: str
    version: int
    document: dict[str, Any]


@dataclass(frozen=True)
class PageLinks:
    """Hydra paging of a catalog page: absolute URLs of this page and its neighbours."""

    total: int
    this: str
    first: str
    last: str
    next: str | None = None
    previous: str | None = None


@dataclass(frozen=True)
class RdfFormat:
    rdflib_name: str
    media_type: str


#: File extensions served, with the rdflib serialiser and the media type of each.
FORMATS = {
    "ttl": RdfFormat("turtle", "text/turtle"),
    "jsonld": RdfFormat("json-ld", "application/ld+json"),
    "rdf": RdfFormat("xml", "application/rdf+xml"),
    "nt": RdfFormat("nt", "application/n-triples"),
}


def catalog_uri(base_url: str) -> URIRef:
    return URIRef(f"{base_url.rstrip('/')}/catalog")


def dataset_uri(base_url: str, dataset_id: str) -> URIRef:
    return URIRef(f"{base_url.rstrip('/')}/datasets/{dataset_id}")


def new_graph() -> Graph:
    graph = Graph(bind_namespaces="none")
    for prefix, namespace in PREFIXES.items():
        graph.bind(prefix, namespace)
    return graph


def dataset_graph(base_url: str, dataset: ExportedDataset) -> Graph:
    """A graph describing one dataset (with its distributions and referenced resources)."""
    graph = new_graph()
    add_dataset(graph, base_url, dataset)
    return graph


def catalog_graph(info: CatalogInfo, datasets: Iterable[ExportedDataset],
                  links: PageLinks | None = None) -> Graph:
    """The dcat:Catalog with the given datasets and, for a page of a larger catalog, its
    ``hydra:PartialCollectionView`` (first/last/next/previous; ``hydra:totalItems`` on the
    catalog, which is the Hydra collection)."""
    graph = new_graph()
    catalog = catalog_uri(info.base_url)
    graph.add((catalog, RDF.type, DCAT.Catalog))
    graph.add((catalog, DCT.title, Literal(info.title, lang="en")))
    graph.add((catalog, DCT.description, Literal(info.description, lang="en")))
    publisher = BNode()
    graph.add((catalog, DCT.publisher, publisher))
    graph.add((publisher, RDF.type, FOAF.Agent))
    graph.add((publisher, FOAF.name, Literal(info.publisher, lang="en")))
    homepage = URIRef(info.base_url.rstrip("/") + "/")
    graph.add((catalog, FOAF.homepage, homepage))
    graph.add((homepage, RDF.type, FOAF.Document))
    graph.add((catalog, DCAT.themeTaxonomy, THEME_SCHEME))
    _theme_scheme(graph)
    for dataset in datasets:
        graph.add((catalog, DCAT.dataset, add_dataset(graph, info.base_url, dataset)))
    if links is not None:
        view = URIRef(links.this)
        graph.add((catalog, RDF.type, HYDRA.Collection))
        graph.add((catalog, HYDRA.totalItems, Literal(links.total, datatype=XSD.integer)))
        graph.add((catalog, HYDRA.view, view))
        graph.add((view, RDF.type, HYDRA.PartialCollectionView))
        for predicate, url in ((HYDRA.first, links.first), (HYDRA.last, links.last),
                               (HYDRA.next, links.next), (HYDRA.previous, links.previous)):
            if url is not None:
                graph.add((view, predicate, URIRef(url)))
    return graph


def serialize(graph: Graph, extension: str) -> bytes:
    """``graph`` in the format of ``extension`` (a key of :data:`FORMATS`), UTF-8 encoded.
    JSON-LD carries an inline ``@context`` of :data:`PREFIXES`, never a remote one."""
    fmt = FORMATS[extension]
    if fmt.rdflib_name == "json-ld":
        return graph.serialize(format="json-ld", context=dict(PREFIXES), auto_compact=True,
                               encoding="utf-8")
    return graph.serialize(format=fmt.rdflib_name, encoding="utf-8")


# -- one dataset --------------------------------------------------------------------------------

def add_dataset(graph: Graph, base_url: str, dataset: ExportedDataset) -> URIRef:
    """Add the triples of one dataset to ``graph``; returns the dataset's URI."""
    doc = dataset.document
    node = dataset_uri(base_url, dataset.id)
    graph.add((node, RDF.type, DCAT.Dataset))
    if "identifier" in doc:
        graph.add((node, DCT.identifier, Literal(doc["identifier"])))
    _texts(graph, node, DCT.title, doc["title"])
    _texts(graph, node, DCT.description, doc["description"])
    for language, words in doc.get("keyword", {}).items():
        for word in words:
            graph.add((node, DCAT.keyword, Literal(word, lang=language)))
    for code in doc.get("theme", []):
        graph.add((node, DCAT.theme, _theme(graph, code)))
    if "publisher" in doc:
        graph.add((node, DCT.publisher, _agent(graph, doc["publisher"])))
    for contact in doc.get("contactPoint", []):
        graph.add((node, DCAT.contactPoint, _contact(graph, contact)))
    if "license" in doc:
        _add(graph, node, DCT.license, _typed(graph, doc["license"], DCT.LicenseDocument))
    graph.add((node, DCT.accessRights, _access_rights(graph, doc["accessRights"])))
    for period in doc.get("temporal", []):
        graph.add((node, DCT.temporal, _period(graph, period)))
    for place in doc.get("spatial", []):
        graph.add((node, DCT.spatial, _location(graph, place)))
    _dates(graph, node, doc)
    if "landingPage" in doc:
        _add(graph, node, DCAT.landingPage, _typed(graph, doc["landingPage"], FOAF.Document))
    for standard in doc.get("conformsTo", []):
        _add(graph, node, DCT.conformsTo, _typed(graph, standard, DCT.Standard))
    graph.add((node, DCAT.version, Literal(str(dataset.version))))
    for number, distribution in enumerate(doc.get("distribution", []), start=1):
        graph.add((node, DCAT.distribution,
                   _distribution(graph, URIRef(f"{node}#distribution-{number}"), distribution)))
    return node


def _distribution(graph: Graph, node: URIRef, dist: dict[str, Any]) -> URIRef:
    graph.add((node, RDF.type, DCAT.Distribution))
    if "identifier" in dist:
        graph.add((node, DCT.identifier, Literal(dist["identifier"])))
    for key, predicate in (("accessURL", DCAT.accessURL), ("downloadURL", DCAT.downloadURL)):
        target = iri(dist[key]) if key in dist else None
        if target is not None:
            graph.add((node, predicate, target))
    _texts(graph, node, DCT.title, dist.get("title", {}))
    _texts(graph, node, DCT.description, dist.get("description", {}))
    if "format" in dist:
        graph.add((node, DCT.format, _format(graph, dist["format"])))
    for key, predicate in (("mediaType", DCAT.mediaType), ("compressFormat", DCAT.compressFormat)):
        media_type = _typed(graph, IANA_MEDIA_TYPES + dist[key], DCT.MediaType) if key in dist else None
        if media_type is not None:
            graph.add((node, predicate, media_type))
    if "byteSize" in dist:
        graph.add((node, DCAT.byteSize, Literal(str(dist["byteSize"]), datatype=XSD.nonNegativeInteger)))
    if "checksum" in dist:
        graph.add((node, SPDX.checksum, _checksum(graph, dist["checksum"])))
    if "license" in dist:
        _add(graph, node, DCT.license, _typed(graph, dist["license"], DCT.LicenseDocument))
    _dates(graph, node, dist)
    return node


# -- referenced resources ---------------------------------------------------------------------

def _texts(graph: Graph, node: URIRef | BNode, predicate: URIRef, texts: dict[str, str]) -> None:
    for language, text in texts.items():
        graph.add((node, predicate, Literal(text, lang=language)))


def _typed(graph: Graph, uri: str, cls: URIRef) -> URIRef | None:
    """``uri`` typed ``cls``; None (the caller leaves the property out) when it is no IRI."""
    node = iri(uri)
    if node is not None:
        graph.add((node, RDF.type, cls))
    return node


def _add(graph: Graph, subject: URIRef | BNode, predicate: URIRef, target: URIRef | BNode | None) -> None:
    if target is not None:
        graph.add((subject, predicate, target))


def _concept(graph: Graph, node: URIRef | BNode, label: str | None, scheme: URIRef | None = None) -> None:
    graph.add((node, RDF.type, SKOS.Concept))
    if label is not None:
        graph.add((node, SKOS.prefLabel, Literal(label, lang="en")))
    if scheme is not None:
        graph.add((node, SKOS.inScheme, scheme))


def _theme_scheme(graph: Graph) -> None:
    graph.add((THEME_SCHEME, RDF.type, SKOS.ConceptScheme))
    graph.add((THEME_SCHEME, DCT.title, Literal("Data theme", lang="en")))


def _theme(graph: Graph, code: str) -> URIRef:
    node = URIRef(THEME_AUTHORITY + code)
    _concept(graph, node, THEME_LABELS.get(code), THEME_SCHEME)
    _theme_scheme(graph)
    return node


def _access_rights(graph: Graph, code: str) -> URIRef:
    node = URIRef(ACCESS_RIGHT_AUTHORITY + code)  # a code of ACCESS_RIGHT_LABELS (schema enum)
    graph.add((node, RDF.type, DCT.RightsStatement))
    graph.add((node, SKOS.prefLabel, Literal(ACCESS_RIGHT_LABELS[code], lang="en")))
    return node


def _agent(graph: Graph, agent: dict[str, Any]) -> BNode:
    node = BNode()
    graph.add((node, RDF.type, FOAF.Agent))
    _texts(graph, node, FOAF.name, agent["name"])
    if "identifier" in agent:
        graph.add((node, DCT.identifier, Literal(agent["identifier"])))
    if "homepage" in agent:
        _add(graph, node, FOAF.homepage, _typed(graph, agent["homepage"], FOAF.Document))
    kind = _publisher_type(graph, agent["type"]) if "type" in agent else None
    if kind is not None:
        graph.add((node, DCT.type, kind))
    return node


def _publisher_type(graph: Graph, value: str) -> URIRef | BNode | None:
    """An ADMS publisher type (code or URI) with its label; a free-text type becomes a concept
    labelled with that text. Another URI (another vocabulary's concept, as harvested records
    carry) is left out: DCAT-AP 3.0.1 wants a label on every concept, and we do not invent one."""
    code = value.removeprefix(PUBLISHER_TYPES)
    if code in PUBLISHER_TYPE_LABELS:
        node: URIRef | BNode = URIRef(PUBLISHER_TYPES + code)
        _concept(graph, node, PUBLISHER_TYPE_LABELS[code])
    elif _URI.match(value):
        return None
    else:
        node = BNode()
        _concept(graph, node, value)
    return node


def _contact(graph: Graph, contact: dict[str, str]) -> BNode:
    node = BNode()
    graph.add((node, RDF.type, VCARD.Kind))
    graph.add((node, VCARD.fn, Literal(contact["fn"])))
    if "hasEmail" in contact:
        _add(graph, node, VCARD.hasEmail, mailto(contact["hasEmail"]))
    if "hasURL" in contact:
        _add(graph, node, VCARD.hasURL, iri(contact["hasURL"]))
    return node


def _period(graph: Graph, period: dict[str, str]) -> BNode:
    node = BNode()
    graph.add((node, RDF.type, DCT.PeriodOfTime))
    for key, predicate in (("startDate", DCAT.startDate), ("endDate", DCAT.endDate)):
        if key in period:
            graph.add((node, predicate, date_literal(period[key])))
    return node


def _location(graph: Graph, place: str) -> URIRef | BNode:
    typed = _typed(graph, place, DCT.Location)
    if typed is not None:
        return typed
    node = BNode()
    graph.add((node, RDF.type, DCT.Location))
    graph.add((node, SKOS.prefLabel, Literal(place)))
    return node


def _format(graph: Graph, value: str) -> URIRef | BNode:
    """EU file-type URI for a code (``CSV``), the IANA URI for a media type, the URI itself for
    a URI; anything else a described ``dct:MediaTypeOrExtent``."""
    node: URIRef | BNode | None
    if re.fullmatch(r"[A-Z0-9_.+-]{1,32}", value):
        node = URIRef(FILE_TYPE_AUTHORITY + value)
    elif MEDIA_TYPE.match(value):
        node = iri(IANA_MEDIA_TYPES + value)
    else:
        node = iri(value)
    if node is None:
        node = BNode()
        graph.add((node, SKOS.prefLabel, Literal(value)))
    graph.add((node, RDF.type, DCT.MediaTypeOrExtent))
    return node


def _checksum(graph: Graph, checksum: dict[str, str]) -> BNode:
    node = BNode()
    algorithm = SPDX["checksumAlgorithm_" + checksum["algorithm"]]
    graph.add((node, RDF.type, SPDX.Checksum))
    graph.add((node, SPDX.algorithm, algorithm))
    graph.add((algorithm, RDF.type, SPDX.ChecksumAlgorithm))
    graph.add((node, SPDX.checksumValue, Literal(checksum["checksumValue"].lower(), datatype=XSD.hexBinary)))
    return node


def _dates(graph: Graph, node: URIRef, doc: dict[str, Any]) -> None:
    for key, predicate in (("issued", DCT.issued), ("modified", DCT.modified)):
        if key in doc:
            graph.add((node, predicate, date_literal(doc[key])))


def date_literal(value: str) -> Literal:
    """An xsd:date for ``2025-03-01``, an xsd:dateTime for anything longer (schema-valid input)."""
    return Literal(value, datatype=XSD.date if _DATE.match(value) else XSD.dateTime)
