"""DCAT-AP 2 and 3 datasets in an rdflib graph -> our dataset documents.

A pure function over a graph (:func:`map_graph`): every ``dcat:Dataset`` it holds (typed, or
listed by ``dcat:dataset`` of any catalog, nested catalogs included) becomes one
:class:`RemoteRecord`. ``dcat:DatasetSeries`` nodes are not harvested: our model has no
series, and a series carries no distributions of its own; its member datasets are.
The property-by-property table is in docs/harvesting-dcat.md.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import RDF, RDFS
from rdflib.term import Node

from connector.catalog.dcat import (
    ACCESS_RIGHT_AUTHORITY,
    ACCESS_RIGHT_CODES,
    EMAIL,
    MEDIA_TYPE,
    THEME_AUTHORITY,
    THEME_CODES,
)
from connector.catalog.harvest import rdf_values as v
from connector.catalog.harvest.records import RemoteRecord

# Plain namespaces: rdflib's closed ones reject terms newer than their copy of the vocabulary.
DCAT = Namespace("http://www.w3.org/ns/dcat#")
DCTERMS = Namespace("http://purl.org/dc/terms/")
FOAF = Namespace("http://xmlns.com/foaf/0.1/")
SKOS = Namespace("http://www.w3.org/2004/02/skos/core#")
VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
SCHEMA = Namespace("http://schema.org/")
SCHEMA_HTTPS = Namespace("https://schema.org/")
TIME = Namespace("http://www.w3.org/2006/time#")
SPDX = Namespace("http://spdx.org/rdf/terms#")

#: Derived from the one list in connector.catalog.dcat (dcat_rdf.py checks its option against it).
ACCESS_RIGHTS = frozenset(ACCESS_RIGHT_CODES)
EU_AUTHORITY = re.compile(r"^https?://publications\.europa\.eu/resource/authority/([a-z-]+)/([A-Z0-9_]+)$")
IANA_MEDIA_TYPE = re.compile(r"^https?://www\.iana\.org/assignments/media-types/(.+)$")
CHECKSUM = re.compile(r"^[0-9a-fA-F]{32,128}$")
ALGORITHMS = {"sha1", "sha256", "sha384", "sha512", "md5"}
ALGORITHM = re.compile(r"(sha|md)[/_-]?(1|5|256|384|512)$")
MAX_DISTRIBUTIONS = 1000


def dataset_nodes(graph: Graph) -> list[Node]:
    """Every dataset of the graph (typed or listed by a catalog), series excluded, sorted."""
    nodes = set(graph.subjects(RDF.type, DCAT.Dataset)) | set(graph.objects(None, DCAT.dataset))
    series = set(graph.subjects(RDF.type, DCAT.DatasetSeries))
    return v.sorted_nodes(n for n in nodes if n not in series or (n, RDF.type, DCAT.Dataset) in graph)


def map_graph(graph: Graph, *, default_access_rights: str = "PUBLIC") -> Iterator[RemoteRecord]:
    """One record per dataset of ``graph``: a document, or the reason it could not be mapped."""
    for node in dataset_nodes(graph):
        yield map_dataset(graph, node, default_access_rights=default_access_rights)


def remote_id(graph: Graph, node: Node) -> str | None:
    """The dataset URI, else its ``dct:identifier``; None for a blank node without one."""
    if isinstance(node, URIRef):
        return str(node)
    return v.one_string(graph.objects(node, DCTERMS.identifier), max_length=1024)


def map_dataset(graph: Graph, node: Node, *, default_access_rights: str = "PUBLIC") -> RemoteRecord:
    """The record of one dataset node."""
    objects = _objects(graph, node)
    title = v.text(objects(DCTERMS.title))
    key = remote_id(graph, node)
    if key is None:
        label = v.one_string(objects(DCTERMS.title), max_length=200)
        shown = f"blank node titled {label!r}" if label else "blank node without title"
        return RemoteRecord(remote_id=f"_:({shown})",
                            error="dataset is a blank node without dct:identifier: it has no stable id")
    if title is None:
        return RemoteRecord(remote_id=key, error="dataset has no dct:title")
    notes: list[str] = []
    document: dict[str, Any] = {"title": title}
    description = v.text(objects(DCTERMS.description))
    if description is None:  # the CKAN harvester's rule too
        description = title
        notes.append("no dct:description at the source: the title stands in")
    document["description"] = description
    identifier = v.one_string(objects(DCTERMS.identifier)) if isinstance(node, URIRef) else key
    identifier = identifier or str(node)
    if len(identifier) <= 512 and identifier.strip():
        document["identifier"] = identifier
    access_rights = _access_rights(objects(DCTERMS.accessRights))
    if access_rights is None:
        access_rights = ACCESS_RIGHT_AUTHORITY + default_access_rights
        stated = "no dct:accessRights"
        if objects(DCTERMS.accessRights):
            stated = "no EU access-right in dct:accessRights"
        notes.append(f"{stated}: {default_access_rights} assumed")
    document["accessRights"] = access_rights
    _put(document, "keyword", v.keywords(objects(DCAT.keyword)))
    themes = _themes(objects(DCAT.theme))
    if len(themes) < len(set(objects(DCAT.theme))):
        notes.append("themes outside the EU data-theme authority dropped")
    _put(document, "theme", themes)
    _put(document, "publisher", _publisher(graph, objects(DCTERMS.publisher)))
    _put(document, "contactPoint", _contact_points(graph, objects(DCAT.contactPoint)))
    _put(document, "temporal", _periods(graph, objects(DCTERMS.temporal)))
    _put(document, "spatial", _spatial(objects(DCTERMS.spatial)))
    _put(document, "issued", v.first_date(objects(DCTERMS.issued)))
    _put(document, "modified", v.first_date(objects(DCTERMS.modified)))
    _put(document, "landingPage", v.first_uri(objects(DCAT.landingPage), http_only=True))
    _put(document, "conformsTo", v.uris(objects(DCTERMS.conformsTo), limit=50))
    distributions, dropped = _distributions(graph, objects(DCAT.distribution))
    if dropped:
        notes.append(f"{dropped} distribution(s) without dcat:accessURL or dcat:downloadURL dropped")
    _put(document, "distribution", distributions)
    _put(document, "license", v.first_uri(objects(DCTERMS.license)) or _shared_license(distributions))
    return RemoteRecord(remote_id=key, document=document, note="; ".join(notes) or None)


def _objects(graph: Graph, node: Node):
    return lambda predicate: list(graph.objects(node, predicate))


def _put(document: dict[str, Any], key: str, value: Any) -> None:
    if value not in (None, [], {}):
        document[key] = value


def _authority_code(node: Node, authority: str) -> str | None:
    match = EU_AUTHORITY.match(str(node).strip()) if isinstance(node, URIRef) else None
    return match.group(2) if match and match.group(1) == authority else None


def _themes(nodes: list[Node]) -> list[str]:
    codes = {_authority_code(n, "data-theme") for n in nodes} & set(THEME_CODES)
    return [THEME_AUTHORITY + code for code in sorted(codes)]


def _access_rights(nodes: list[Node]) -> str | None:
    codes = sorted({_authority_code(n, "access-right") for n in nodes} & ACCESS_RIGHTS)
    return ACCESS_RIGHT_AUTHORITY + codes[0] if len(codes) == 1 else None


def _publisher(graph: Graph, nodes: list[Node]) -> dict[str, Any] | None:
    """The publisher with a name (several: the first in a stable order)."""
    agents = [_agent(graph, node) for node in nodes]
    return min(filter(None, agents), key=_stable, default=None)


def _agent(graph: Graph, node: Node) -> dict[str, Any] | None:
    if isinstance(node, Literal):
        name = v.text([node])
        return {"name": name} if name else None
    objects = _objects(graph, node)
    name = v.text(objects(FOAF.name)) or v.text(objects(SKOS.prefLabel)) or v.text(objects(RDFS.label))
    if name is None:
        return None
    agent: dict[str, Any] = {"name": name}
    identifier = v.one_string(objects(DCTERMS.identifier)) or (
        str(node) if isinstance(node, URIRef) and len(str(node)) <= 512 else None)
    _put(agent, "identifier", identifier)
    _put(agent, "homepage", v.first_uri(objects(FOAF.homepage), http_only=True))
    kind = v.first_uri(objects(DCTERMS.type)) or v.one_string(objects(DCTERMS.type))
    if kind and len(kind) <= 512:
        agent["type"] = kind
    return agent


def _contact_points(graph: Graph, nodes: list[Node]) -> list[dict[str, str]]:
    contacts = []
    for node in v.sorted_nodes(nodes):
        if isinstance(node, Literal):
            continue
        objects = _objects(graph, node)
        name = v.one_string(objects(VCARD.fn)) or v.one_string(objects(VCARD["organization-name"]))
        if name is None:
            continue
        contact = {"fn": name}
        _put(contact, "hasEmail", _email(objects(VCARD.hasEmail)))
        _put(contact, "hasURL", v.first_uri(objects(VCARD.hasURL), http_only=True))
        if ("hasEmail" in contact or "hasURL" in contact) and contact not in contacts:
            contacts.append(contact)
    return sorted(contacts, key=_stable)[:20]


def _email(nodes: list[Node]) -> str | None:
    for node in v.sorted_nodes(nodes):
        value = str(node).strip()
        if EMAIL.match(value) and len(value) <= 512:
            return value
    return None


def _periods(graph: Graph, nodes: list[Node]) -> list[dict[str, str]]:
    periods = []
    for node in v.sorted_nodes(nodes):
        if isinstance(node, Literal):
            continue
        objects = _objects(graph, node)
        period: dict[str, str] = {}
        for key, predicates, instant in (
            ("startDate", (DCAT.startDate, SCHEMA.startDate, SCHEMA_HTTPS.startDate), TIME.hasBeginning),
            ("endDate", (DCAT.endDate, SCHEMA.endDate, SCHEMA_HTTPS.endDate), TIME.hasEnd),
        ):
            values = [o for p in predicates for o in objects(p)]
            for moment in objects(instant):  # OWL-Time instants (DCAT-AP 1.x)
                values += [o for p in (TIME.inXSDDate, TIME.inXSDDateTime, TIME.inXSDDateTimeStamp)
                           for o in graph.objects(moment, p)]
            _put(period, key, v.first_date(values))
        if period and period not in periods:
            periods.append(period)
    return sorted(periods, key=_stable)[:20]


def _spatial(nodes: list[Node]) -> list[str]:
    places = {v.uri(n) for n in nodes if isinstance(n, URIRef)}
    places |= {str(n).strip() for n in nodes if isinstance(n, Literal)}
    return sorted(p for p in places if p and len(p) <= 2048)[:100]


def _distributions(graph: Graph, nodes: list[Node]) -> tuple[list[dict[str, Any]], int]:
    """The distributions with a URL, in a stable order, and how many were dropped."""
    distributions, dropped = [], 0
    for node in v.sorted_nodes(nodes):
        distribution = None if isinstance(node, Literal) else _distribution(graph, node)
        if distribution is None:
            dropped += 1
        elif distribution not in distributions:
            distributions.append(distribution)
    distributions.sort(key=_stable)
    return distributions[:MAX_DISTRIBUTIONS], dropped


def _distribution(graph: Graph, node: Node) -> dict[str, Any] | None:
    objects = _objects(graph, node)
    download = v.first_uri(objects(DCAT.downloadURL))
    # accessURL is mandatory in DCAT-AP; a download URL gives access too, so it stands in for
    # a missing one (as ckanext-dcat does). Without either the distribution is dropped.
    access = v.first_uri(objects(DCAT.accessURL)) or download
    if access is None:
        return None
    distribution: dict[str, Any] = {"accessURL": access}
    _put(distribution, "downloadURL", download)
    identifier = v.one_string(objects(DCTERMS.identifier))
    _put(distribution, "identifier", identifier)
    _put(distribution, "title", v.text(objects(DCTERMS.title)))
    _put(distribution, "description", v.text(objects(DCTERMS.description)))
    # DCTERMS.format would be str.format: Namespace is a str.
    fmt, format_media_type = _format(graph, objects(DCTERMS["format"]))
    _put(distribution, "format", fmt)
    _put(distribution, "mediaType", _media_type(graph, objects(DCAT.mediaType)) or format_media_type)
    _put(distribution, "compressFormat", _media_type(graph, objects(DCAT.compressFormat)))
    _put(distribution, "byteSize", v.byte_size(objects(DCAT.byteSize)))
    _put(distribution, "checksum", _checksum(graph, objects(SPDX.checksum)))
    _put(distribution, "license", v.first_uri(objects(DCTERMS.license)))
    _put(distribution, "issued", v.first_date(objects(DCTERMS.issued)))
    _put(distribution, "modified", v.first_date(objects(DCTERMS.modified)))
    return distribution


def _format(graph: Graph, nodes: list[Node]) -> tuple[str | None, str | None]:
    """(format, media type) from ``dct:format``: an authority URI as it is; a format
    described in the graph (``dct:IMT``) by its label, its ``rdf:value`` as the media type."""
    formats, media_types = set(), set()
    for node in nodes:
        label = v.one_string(graph.objects(node, RDFS.label)) if not isinstance(node, Literal) else None
        value = v.one_string(graph.objects(node, RDF.value)) if not isinstance(node, Literal) else None
        if isinstance(node, URIRef) and (EU_AUTHORITY.match(str(node)) or not (label or value)):
            formats.add(v.uri(node))
        elif isinstance(node, Literal):
            formats.add(str(node).strip())
        else:
            formats.add(label or value)
            media_types.add(_media_type_value(value))
    formats.discard(None)
    media_types.discard(None)
    fmt = min((f for f in formats if f and len(f) <= 512), default=None)
    return fmt, min(media_types, default=None)


def _media_type(graph: Graph, nodes: list[Node]) -> str | None:
    found = set()
    for node in nodes:
        if isinstance(node, BNode):
            found.add(_media_type_value(v.one_string(list(graph.objects(node, RDF.value))
                                                     + list(graph.objects(node, RDFS.label)))))
        else:
            found.add(_media_type_value(str(node)))
    found.discard(None)
    return min(found, default=None)


def _media_type_value(value: str | None) -> str | None:
    if value is None:
        return None
    iana = IANA_MEDIA_TYPE.match(value.strip())
    value = (iana.group(1) if iana else value).split(";")[0].strip().lower()
    return value if MEDIA_TYPE.match(value) and len(value) <= 255 else None


def _checksum(graph: Graph, nodes: list[Node]) -> dict[str, str] | None:
    found = []
    for node in nodes:
        algorithm = min(filter(None, map(_algorithm, graph.objects(node, SPDX.algorithm))), default=None)
        value = v.one_string(graph.objects(node, SPDX.checksumValue))
        if algorithm in ALGORITHMS and value and CHECKSUM.match(value):
            found.append({"algorithm": algorithm, "checksumValue": value})
    return min(found, key=_stable, default=None)


def _stable(value: Any) -> str:
    # A sort key for values built from blank nodes, whose labels change from parse to parse.
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _algorithm(node: Node) -> str | None:
    # spdx:checksumAlgorithm_sha256, and DCAT-AP.de's .../hashAlgorithms/sha/256
    match = ALGORITHM.search(str(node).lower())
    return match.group(1) + match.group(2) if match else None


def _shared_license(distributions: list[dict[str, Any]]) -> str | None:
    # DCAT-AP puts the licence on distributions; when they all agree it is the dataset's.
    licences = {d.get("license") for d in distributions}
    return licences.pop() if len(licences) == 1 else None
