"""Catalog protocol messages (Dataspace Protocol 2025-1): pure builders over plain values.

A DSP ``Dataset`` is one of our datasets with its active offers; each offer becomes an ODRL
``Offer`` in the compact DSP form, without a policy ``target`` (the enclosing dataset is the
target; duties keep theirs, e.g. the column to pseudonymise), with
``@id`` = ``urn:uuid:<offer id>`` so a later contract request names it unambiguously. Terms
the DSP context does not define (``conflict``, ``remedy``, ``unit``...) keep their ODRL meaning
through the ``odrl:`` prefix, and non-string right operands become typed ``@value`` literals
(the DSP schema allows strings, objects and arrays only).

An offer with a policy-level ``assignee`` is meant for that party only: it keeps the assignee
(as the plain identifier the policy evaluator compares) and :func:`offered_to` leaves it out
for every requester who does not act as that party.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from connector.dsp import CONTEXT
from connector.dsp.messages import InvalidMessage, message_schemas
from connector.policies.odrl_jsonld import PolicyInvalid, parse_policy

PULL_FORMAT = "HttpData-PULL"
PUSH_FORMAT = "AmazonS3-PUSH"
URN_UUID = "urn:uuid:"
_ODRL_PREFIXED = {"conflict", "remedy", "consequence", "unit", "dataType"}
_XSD_TYPES = {bool: "xsd:boolean", int: "xsd:integer", float: "xsd:double"}


@dataclass(frozen=True)
class OfferRecord:
    """One active offer: our offer id and its stored ODRL document."""

    id: str
    document: Mapping[str, Any]


@dataclass(frozen=True)
class DatasetRecord:
    """What a DSP dataset is built from: our dataset and its current DCAT-AP document."""

    id: str
    identifier: str
    version: int
    document: Mapping[str, Any]
    offers: tuple[OfferRecord, ...]


@dataclass(frozen=True)
class Service:
    """Our DSP data service: its ``@id`` and the base URL peers send messages to."""

    id: str
    endpoint_url: str

    def document(self) -> dict[str, Any]:
        return {"@id": self.id, "@type": "DataService", "endpointURL": self.endpoint_url}


def dataset_iri(dataset_id: str) -> str:
    return URN_UUID + dataset_id


def local_id(iri: str) -> str:
    """Our id in a DSP ``@id`` (``urn:uuid:<id>`` or the bare id)."""
    return iri.removeprefix(URN_UUID)


def offer_iri(offer_id: str) -> str:
    """The stable DSP ``@id`` of an offer."""
    return URN_UUID + offer_id


def _literal(value: Any) -> Any:
    for kind, xsd in _XSD_TYPES.items():
        if type(value) is kind:
            return {"@value": value, "@type": xsd}
    return value


def _compact(node: Any) -> Any:
    if isinstance(node, list):
        return [_compact(item) for item in node]
    if not isinstance(node, Mapping):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "rightOperand":
            value = [_literal(v) for v in value] if isinstance(value, list) else _literal(value)
        elif key not in ("@id", "@type"):
            value = _compact(value)
        out[f"odrl:{key}" if key in _ODRL_PREFIXED else key] = value
    return out


def offer(record: OfferRecord, assigner: str) -> dict[str, Any] | None:
    """The DSP ``Offer`` of one of our offers; None when it grants and forbids nothing
    (an obligation-only policy cannot be a DSP offer)."""
    document = record.document
    if not (document.get("permission") or document.get("prohibition")):
        return None
    body = _compact(document)
    body.pop("target", None)  # implied by the enclosing dataset; DSP forbids it on catalog offers
    body["@id"] = offer_iri(record.id)
    body["@type"] = "Offer"
    body["assigner"] = assigner
    body.pop("assignee", None)
    if document.get("assignee") is not None:
        try:
            body["assignee"] = parse_policy(document).assignee
        except PolicyInvalid:  # stored offers were parsed on write; never offer one we cannot read
            return None
    return body


def offered_to(parties: frozenset[str], dataset_body: Mapping[str, Any]) -> dict[str, Any] | None:
    """``dataset_body`` with only the offers open to a requester acting as ``parties`` (its
    principal, project and organisation, as :class:`~connector.policies.evaluator.RequestContext`
    names them): offers without an assignee, and those whose assignee is one of ``parties``.
    None when no offer is left."""
    offers = [o for o in dataset_body.get("hasPolicy", []) if o.get("assignee") in (None, *parties)]
    return {**dataset_body, "hasPolicy": offers} if offers else None


def _descriptive(document: Mapping[str, Any], identifier: str, version: int) -> dict[str, Any]:
    out: dict[str, Any] = {"dct:identifier": identifier, "dcat:version": str(version)}
    title = document.get("title")
    if isinstance(title, Mapping):
        out["dct:title"] = [{"@value": text, "@language": lang} for lang, text in title.items()]
    elif title:
        out["dct:title"] = title
    description = document.get("description")
    if isinstance(description, Mapping):
        out["dct:description"] = [{"@value": text, "@language": lang} for lang, text in description.items()]
    elif description:
        out["dct:description"] = description
    keywords = document.get("keyword")
    if isinstance(keywords, Mapping):  # stored as {language: [words]}: the words, each tagged
        keywords = [{"@value": word, "@language": lang} for lang, words in keywords.items() for word in words]
    if keywords:
        out["dcat:keyword"] = list(keywords)
    if document.get("license"):
        out["dct:license"] = {"@id": document["license"]}
    return out


def dataset(record: DatasetRecord, service: Service, assigner: str, *, embed_service: bool) -> dict[str, Any]:
    """The DSP ``Dataset`` (no ``@context``); ``hasPolicy`` may come out empty, see :func:`valid`."""
    offers = [o for o in (offer(item, assigner) for item in record.offers) if o is not None]
    access = service.document() if embed_service else service.id
    return {
        "@id": dataset_iri(record.id), "@type": "Dataset",
        **_descriptive(record.document, record.identifier, record.version),
        "hasPolicy": offers,
        "distribution": [{"@type": "Distribution", "format": fmt, "accessService": access}
                         for fmt in (PULL_FORMAT, PUSH_FORMAT)],
    }


def with_context(message: Mapping[str, Any]) -> dict[str, Any]:
    return {"@context": [CONTEXT], **message}


def valid(body: Mapping[str, Any]) -> bool:
    """Whether a dataset (without ``@context``) validates as an official DSP ``Dataset``."""
    try:
        message_schemas().validate(with_context(body), expected="Dataset")
    except InvalidMessage:
        return False
    return True


def catalog(participant_id: str, service: Service, datasets: Iterable[Mapping[str, Any]],
            catalog_id: str) -> dict[str, Any]:
    """The root ``Catalog``; an empty page leaves ``dataset`` out (the schema wants one or more)."""
    body: dict[str, Any] = {"@context": [CONTEXT], "@id": catalog_id, "@type": "Catalog",
                            "participantId": participant_id, "service": [service.document()]}
    items = list(datasets)
    if items:
        body["dataset"] = items
    return body


def error(code: str, reasons: Iterable[str], message_type: str = "CatalogError") -> dict[str, Any]:
    """A protocol error message (``CatalogError`` unless named) with its code and reasons."""
    return {"@context": [CONTEXT], "@type": message_type, "code": code, "reason": list(reasons)}
