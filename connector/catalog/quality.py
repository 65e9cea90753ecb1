"""Metadata quality of a dataset document, after data.europa.eu's Metadata Quality Assessment.

The MQA methodology (data.europa.eu, "Metadata Quality Assessment methodology") scores five
dimensions by weighted indicators, 405 points in all, and rates the total: Excellent from
351, Good from 221, Sufficient from 121, Bad below. Distribution indicators earn their weight
times the share of distributions that satisfy them, as the MQA does for a catalogue.

Some indicators cannot be checked here: the reachability of accessURL and downloadURL needs
a network check, the vocabulary indicators need the EU file-type, licence and IANA lists,
and DCAT-AP compliance needs a SHACL run. Those are reported as ``not_assessed`` and earn no
points; they are never counted as met. The best total a document can reach here is therefore
:data:`ASSESSABLE_POINTS`, and the rating is still taken on MQA's absolute thresholds.

Pure functions over a normalised document (:func:`connector.catalog.dcat.normalise`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MET, PARTIAL, MISSING, NOT_ASSESSED = "met", "partial", "missing", "not_assessed"

#: Rating bands as (lowest total, rating), best first; the rating is also the search facet value.
RATINGS = ((351, "excellent"), (221, "good"), (121, "sufficient"), (0, "bad"))

ACCESS_RIGHTS_CODES = frozenset({"PUBLIC", "RESTRICTED", "NON_PUBLIC"})

Check = Callable[[dict[str, Any]], float] | None  # share satisfied (0..1); None: not assessable


def _has(key: str) -> Callable[[dict[str, Any]], float]:
    return lambda doc: 1.0 if doc.get(key) else 0.0


def _keyword(doc: dict[str, Any]) -> float:
    keywords = doc.get("keyword") or {}
    lists = keywords.values() if isinstance(keywords, dict) else [keywords]
    return 1.0 if any(lists) else 0.0


def _share(key: str, dataset_level: bool = False) -> Callable[[dict[str, Any]], float]:
    """Share of distributions carrying ``key``; with ``dataset_level`` a value on the dataset
    counts for all of them (DCAT-AP lets licence and dates sit on either)."""
    def check(doc: dict[str, Any]) -> float:
        if dataset_level and doc.get(key):
            return 1.0
        dists = doc.get("distribution") or []
        return sum(1 for d in dists if d.get(key) not in (None, "", [], {})) / len(dists) if dists else 0.0
    return check


def _access_rights_vocabulary(doc: dict[str, Any]) -> float:
    return 1.0 if doc.get("accessRights") in ACCESS_RIGHTS_CODES else 0.0


NETWORK = "needs a network check of the URL"
VOCABULARY = "needs a controlled vocabulary the service does not hold"

#: dimension -> (indicator property, weight, check, reason when not assessable)
INDICATORS: dict[str, tuple[tuple[str, int, Check, str | None], ...]] = {
    "findability": (
        ("dcat:keyword", 30, _keyword, None),
        ("dcat:theme", 30, _has("theme"), None),
        ("dct:spatial", 20, _has("spatial"), None),
        ("dct:temporal", 20, _has("temporal"), None),
    ),
    "accessibility": (
        ("dcat:accessURL reachable", 50, None, NETWORK),
        ("dcat:downloadURL", 20, _share("downloadURL"), None),
        ("dcat:downloadURL reachable", 30, None, NETWORK),
    ),
    "interoperability": (
        ("dct:format", 20, _share("format"), None),
        ("dcat:mediaType", 10, _share("mediaType"), None),
        ("format or media type from vocabulary", 10, None, VOCABULARY),
        ("non-proprietary format", 20, None, VOCABULARY),
        ("machine-readable format", 20, None, VOCABULARY),
        ("DCAT-AP compliance", 30, None, "needs a SHACL validation of the record"),
    ),
    "reusability": (
        ("dct:license", 20, _share("license", dataset_level=True), None),
        ("licence from vocabulary", 10, None, VOCABULARY),
        ("dct:accessRights", 10, _has("accessRights"), None),
        ("access rights from vocabulary", 5, _access_rights_vocabulary, None),
        ("dcat:contactPoint", 20, _has("contactPoint"), None),
        ("dct:publisher", 10, _has("publisher"), None),
    ),
    "contextuality": (
        ("dct:rights", 5, _share("rights"), None),
        ("dcat:byteSize", 5, _share("byteSize"), None),
        ("dct:issued", 5, _share("issued", dataset_level=True), None),
        ("dct:modified", 5, _share("modified", dataset_level=True), None),
    ),
}

MAX_POINTS = sum(w for indicators in INDICATORS.values() for _, w, _, _ in indicators)
ASSESSABLE_POINTS = sum(w for indicators in INDICATORS.values() for _, w, c, _ in indicators if c)


@dataclass(frozen=True)
class Indicator:
    """One indicator's outcome; ``share`` is the part satisfied (None when not assessed)."""

    property: str
    weight: int
    status: str
    points: int
    share: float | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Dimension:
    name: str
    points: int
    max_points: int
    indicators: tuple[Indicator, ...]

    @property
    def missing(self) -> list[str]:
        """Properties absent or present on only some distributions: what to add."""
        return [i.property for i in self.indicators if i.status in (MISSING, PARTIAL)]

    @property
    def not_assessed(self) -> list[str]:
        return [i.property for i in self.indicators if i.status == NOT_ASSESSED]


@dataclass(frozen=True)
class Assessment:
    points: int
    rating: str
    dimensions: tuple[Dimension, ...]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form the API returns (schema ``dataset-quality``)."""
        return {
            "score": self.points,
            "maxScore": MAX_POINTS,
            "assessableScore": ASSESSABLE_POINTS,
            "rating": self.rating,
            "method": "data.europa.eu Metadata Quality Assessment",
            "dimensions": {
                d.name: {"score": d.points, "maxScore": d.max_points, "missing": d.missing,
                         "notAssessed": d.not_assessed}
                for d in self.dimensions
            },
        }


def rating(points: int) -> str:
    """MQA's rating of a total."""
    return next(name for lowest, name in RATINGS if points >= lowest)


def _indicator(doc: dict[str, Any], prop: str, weight: int, check: Check, reason: str | None) -> Indicator:
    if check is None:
        return Indicator(prop, weight, NOT_ASSESSED, 0, None, reason)
    share = check(doc)
    status = MET if share >= 1 else MISSING if share <= 0 else PARTIAL
    return Indicator(prop, weight, status, int(weight * share + 0.5), round(share, 4))


def assess(document: dict[str, Any]) -> Assessment:
    """Score a normalised dataset document by the MQA dimensions and indicators."""
    dimensions = []
    for name, indicators in INDICATORS.items():
        results = tuple(_indicator(document, *spec) for spec in indicators)
        dimensions.append(Dimension(name, sum(i.points for i in results),
                                    sum(i.weight for i in results), results))
    total = sum(d.points for d in dimensions)
    return Assessment(total, rating(total), tuple(dimensions))
