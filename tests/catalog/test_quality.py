"""Metadata quality after data.europa.eu's MQA: scores, ratings, missing and unassessed properties."""

from __future__ import annotations

import pytest

from connector.catalog import dcat, quality
from tests.conftest import SCHEMAS, dataset_body

MINIMAL = {"title": "Counts", "description": "Some counts.", "accessRights": "PUBLIC"}


def doc(body):
    SCHEMAS.validate("dataset", body)  # every case is a document the API would accept
    return dcat.normalise(body)


def without(*keys):
    return {k: v for k, v in dataset_body().items() if k not in keys}


SECOND_DISTRIBUTION = {"accessURL": "https://health.example.eu/cardiac-mri/readme"}

# name, document, total, rating, {dimension: points}
CASES = [
    ("minimal", MINIMAL, 15, "bad",
     {"findability": 0, "accessibility": 0, "interoperability": 0, "reusability": 15,
      "contextuality": 0}),
    ("full", dataset_body(), 230, "good",
     {"findability": 100, "accessibility": 20, "interoperability": 30, "reusability": 65,
      "contextuality": 15}),
    ("no distributions", without("distribution"), 175, "sufficient",
     {"findability": 100, "accessibility": 0, "interoperability": 0, "reusability": 65,
      "contextuality": 10}),
    ("one of two distributions described", dataset_body(distribution=[
        dataset_body()["distribution"][0], SECOND_DISTRIBUTION]), 203, "sufficient",
     {"findability": 100, "accessibility": 10, "interoperability": 15, "reusability": 65,
      "contextuality": 13}),
    ("no keyword, theme, contact or licence", without("keyword", "theme", "contactPoint", "license"),
     130, "sufficient",
     {"findability": 40, "accessibility": 20, "interoperability": 30, "reusability": 25,
      "contextuality": 15}),
]


@pytest.mark.parametrize("name,body,total,rating,dimensions", CASES, ids=[c[0] for c in CASES])
def test_documents_score_by_the_mqa_weights(name, body, total, rating, dimensions):
    assessment = quality.assess(doc(body))
    assert {d.name: d.points for d in assessment.dimensions} == dimensions
    assert assessment.points == total == sum(dimensions.values())
    assert assessment.rating == rating


def test_minimal_document_lists_every_property_it_lacks():
    result = quality.assess(doc(MINIMAL)).to_dict()["dimensions"]
    assert result["findability"]["missing"] == ["dcat:keyword", "dcat:theme", "dct:spatial", "dct:temporal"]
    assert result["reusability"]["missing"] == ["dct:license", "dcat:contactPoint", "dct:publisher"]
    assert result["contextuality"]["missing"] == ["dct:rights", "dcat:byteSize", "dct:issued",
                                                  "dct:modified"]


def test_properties_on_only_some_distributions_are_listed_as_missing():
    body = dataset_body(distribution=[dataset_body()["distribution"][0], SECOND_DISTRIBUTION])
    assessment = quality.assess(doc(body))
    interop = next(d for d in assessment.dimensions if d.name == "interoperability")
    assert interop.missing == ["dct:format", "dcat:mediaType"]
    assert {i.property: i.status for i in interop.indicators}["dct:format"] == quality.PARTIAL


def test_network_and_vocabulary_indicators_are_not_assessed_and_earn_nothing():
    assessment = quality.assess(doc(dataset_body()))
    body = assessment.to_dict()
    assert body["dimensions"]["accessibility"]["notAssessed"] == [
        "dcat:accessURL reachable", "dcat:downloadURL reachable"]
    assert "DCAT-AP compliance" in body["dimensions"]["interoperability"]["notAssessed"]
    unassessed = [i for d in assessment.dimensions for i in d.indicators if i.status == quality.NOT_ASSESSED]
    assert unassessed and all(i.points == 0 and i.reason for i in unassessed)
    # not assessed is not missing: the steward cannot fix it by adding a property
    assert not set(body["dimensions"]["accessibility"]["missing"]) & {"dcat:accessURL reachable"}
    assert body["maxScore"] == 405 and body["assessableScore"] == 235
    assert sum(i.weight for i in unassessed) == 405 - 235


def test_the_best_assessable_document_cannot_be_rated_excellent_on_unchecked_indicators():
    assert quality.ASSESSABLE_POINTS < quality.RATINGS[0][0]


@pytest.mark.parametrize("points,rating", [(405, "excellent"), (351, "excellent"), (350, "good"),
                                           (221, "good"), (220, "sufficient"), (121, "sufficient"),
                                           (120, "bad"), (0, "bad")])
def test_ratings_follow_the_mqa_thresholds(points, rating):
    assert quality.rating(points) == rating


def test_rating_and_licence_are_indexed_as_facets():
    pairs = set(dcat.facet_values(doc(dataset_body()), "health"))
    assert ("quality", "good") in pairs and ("license", "CC_BY_4_0") in pairs
    assert ("quality", "bad") in set(dcat.facet_values(doc(MINIMAL), "health"))
    assert not any(facet == "license" for facet, _ in dcat.facet_values(doc(MINIMAL), "health"))


def test_assessment_json_matches_its_schema():
    SCHEMAS.validate("dataset-quality", quality.assess(doc(dataset_body())).to_dict())
