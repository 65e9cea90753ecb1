"""Catalog protocol, provider side (DSP 2025-1): POST <base>/catalog/request and
GET <base>/catalog/datasets/{id}, named after the Eclipse Dataspace TCK scenarios where they apply."""

from __future__ import annotations

import json
import re
import uuid
from importlib import resources

import pytest
import rdflib
from rdflib.plugins.parsers import jsonld

from connector.dsp.messages import message_schemas
from tests.dsp.conftest import (
    HEALTH_OFFER,
    OWN_ID,
    PARTNER,
    RADAR,
    SIMPLE_OFFER,
    catalog_request,
)

BASE = "/dsp/2025-1"
SERVICE = "http://localhost/dsp/2025-1"
COUNT_OFFER = {"policy": {"@type": "Offer", "permission": [{"action": "use", "constraint": [
    {"leftOperand": "count", "operator": "lteq", "rightOperand": 5}]}]}}


def _catalog(dsp, headers, limit=100, **extra):
    response = dsp.post(f"{BASE}/catalog/request?limit={limit}", json=catalog_request(**extra),
                        headers=headers)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert message_schemas().validate(body, expected="Catalog") == "Catalog"
    return body


def _ids(catalog):
    return [item["@id"] for item in catalog.get("dataset", [])]


@pytest.fixture
def world(client, actors, register):
    """Datasets of two organisations, with and without offers, at every access level."""
    made = {
        "public": register(HEALTH_OFFER, accessRights="PUBLIC"),
        "restricted": register(SIMPLE_OFFER, COUNT_OFFER, accessRights="RESTRICTED"),
        "no-offer": register(accessRights="PUBLIC"),
        "non-public": register(SIMPLE_OFFER, accessRights="NON_PUBLIC"),
        "defence": register(SIMPLE_OFFER, steward="defence-steward", accessRights="RESTRICTED",
                            title={"en": "Radar returns"}),
        "offer-withdrawn": register(SIMPLE_OFFER, accessRights="PUBLIC"),
        "dataset-withdrawn": register(SIMPLE_OFFER, accessRights="PUBLIC"),
    }
    gone = made["offer-withdrawn"]
    assert client.delete(f"/api/v1/datasets/{gone['id']}/offers/{gone['offers'][0]['id']}",
                         headers=actors.headers("steward")).status_code == 204
    assert client.delete(f"/api/v1/datasets/{made['dataset-withdrawn']['id']}",
                         headers=actors.headers("steward")).status_code == 200
    return {name: f"urn:uuid:{item['id']}" for name, item in made.items()} | {"_raw": made}


def test_cat_01_01_catalog_lists_only_what_the_participant_may_see_with_offers(dsp, world):
    cardio = _catalog(dsp, PARTNER)
    assert cardio["participantId"] == OWN_ID
    assert cardio["service"] == [{"@id": SERVICE, "@type": "DataService", "endpointURL": SERVICE}]
    assert sorted(_ids(cardio)) == sorted([world["public"], world["restricted"]])
    radar = _catalog(dsp, RADAR)
    assert sorted(_ids(radar)) == sorted([world["public"], world["defence"]])


def test_cat_01_01_every_dataset_carries_our_offers_and_a_pull_and_a_push_distribution(dsp, world):
    raw = world["_raw"]["restricted"]
    (dataset,) = [d for d in _catalog(dsp, PARTNER)["dataset"] if d["@id"] == world["restricted"]]
    assert [offer["@id"] for offer in dataset["hasPolicy"]] == [f"urn:uuid:{o['id']}" for o in raw["offers"]]
    for offer, ours in zip(dataset["hasPolicy"], raw["offers"], strict=True):
        assert offer["@type"] == "Offer" and offer["assigner"] == OWN_ID and "target" not in offer
        assert [rule["action"] for rule in offer["permission"]] == [
            rule["action"] for rule in ours["policy"]["permission"]]
    count = dataset["hasPolicy"][1]["permission"][0]["constraint"][0]
    assert count == {"leftOperand": "count", "operator": "lteq",
                     "rightOperand": {"@value": 5, "@type": "xsd:integer"}}
    assert dataset["distribution"] == [{"@type": "Distribution", "format": "HttpData-PULL",
                                        "accessService": SERVICE},
                                       {"@type": "Distribution", "format": "AmazonS3-PUSH",
                                        "accessService": SERVICE}]
    assert dataset["dct:identifier"] == raw["identifier"]


def test_cat_01_01_offer_ids_are_stable_across_requests(dsp, world):
    first = _catalog(dsp, PARTNER)["dataset"]
    assert first == _catalog(dsp, PARTNER)["dataset"]


def test_health_template_offer_keeps_its_duties_and_constraints(dsp, world):
    (dataset,) = [d for d in _catalog(dsp, PARTNER)["dataset"] if d["@id"] == world["public"]]
    (offer,) = dataset["hasPolicy"]
    ours = world["_raw"]["public"]["offers"][0]["policy"]
    assert offer["permission"][0]["duty"] == ours["permission"][0]["duty"]
    assert len(offer["permission"][0]["constraint"]) == len(ours["permission"][0]["constraint"])


def test_an_empty_catalog_is_still_a_valid_catalog(dsp, actors):
    body = _catalog(dsp, RADAR)
    assert "dataset" not in body and body["participantId"] == OWN_ID


def test_a_dataset_whose_only_offer_grants_nothing_is_not_listed(dsp, register):
    duty_only = {"policy": {"@type": "Offer", "obligation": [{"action": "delete"}]}}
    register(duty_only, accessRights="PUBLIC")
    listed = register(SIMPLE_OFFER, accessRights="PUBLIC")
    assert _ids(_catalog(dsp, PARTNER)) == [f"urn:uuid:{listed['id']}"]


def _links(response):
    found = {}
    for part in response.headers.get("Link", "").split(","):
        match = re.fullmatch(r'\s*<([^>]+)>;\s*rel="(\w+)"\s*', part)
        if match:
            found[match.group(2)] = match.group(1)
    return found


def test_catalog_pages_are_linked_next_and_previous(dsp, register):
    expected = [f"urn:uuid:{register(SIMPLE_OFFER, accessRights='PUBLIC')['id']}" for _ in range(5)]
    seen, url, pages = [], f"{BASE}/catalog/request", []
    while url:
        response = dsp.post(url, json=catalog_request(), headers=PARTNER)
        assert response.status_code == 200
        message_schemas().validate(response.get_json(), expected="Catalog")
        links = _links(response)
        pages.append((len(_ids(response.get_json())), sorted(links)))
        seen += _ids(response.get_json())
        url = links.get("next", "").removeprefix("http://localhost")
    assert seen == expected  # page size 2 (DSP_PAGE_SIZE), in registration order, no repeats
    assert pages == [(2, ["next"]), (2, ["next", "previous"]), (1, ["previous"])]
    back = dsp.post(f"{BASE}/catalog/request?offset=4&limit=2", json=catalog_request(), headers=PARTNER)
    assert _links(back)["previous"] == "http://localhost/dsp/2025-1/catalog/request?offset=2&limit=2"


def test_an_empty_filter_is_no_filter(dsp, world):
    assert sorted(_ids(_catalog(dsp, PARTNER, filter=[]))) == sorted([world["public"], world["restricted"]])


def test_a_catalog_filter_is_refused_with_catalog_error(dsp, world):
    response = dsp.post(f"{BASE}/catalog/request", json=catalog_request(filter=[{"keyword": "MRI"}]),
                        headers=PARTNER)
    assert response.status_code == 400 and response.get_json()["code"] == "filter-unsupported"


@pytest.mark.parametrize(("message", "fragment"), [
    ({"@type": "CatalogRequestMessage"}, "@context"),
    ({"@context": ["https://example.org/other.jsonld"], "@type": "CatalogRequestMessage"}, "@context"),
    ({"@context": ["https://w3id.org/dspace/2025/1/context.jsonld"], "@type": "CatalogRequestMessage",
      "filter": "keyword=MRI"}, "filter"),
    ({"@context": ["https://w3id.org/dspace/2025/1/context.jsonld"], "@type": "DatasetRequestMessage",
      "dataset": "x"}, "DatasetRequestMessage"),
    ({"@context": ["https://w3id.org/dspace/2025/1/context.jsonld"], "@type": "CatalogRequest"},
     "CatalogRequest"),
    ({"@context": ["https://w3id.org/dspace/2025/1/context.jsonld"]}, "@type"),
    ([], "JSON object"),
], ids=["no-context", "foreign-context", "filter-not-array", "other-type", "unknown-type", "no-type",
        "not-object"])
def test_invalid_catalog_request_messages_get_400_naming_the_error(dsp, actors, message, fragment):
    response = dsp.post(f"{BASE}/catalog/request", json=message, headers=PARTNER)
    assert response.status_code == 400
    body = response.get_json()
    assert body["code"] == "invalid-message"
    assert fragment in " ".join(body["reason"]), body["reason"]


@pytest.mark.parametrize(("query", "data"), [
    ("?limit=0", None), ("?limit=1001", None), ("?offset=-1", None), ("?page=2", None),
    ("", b"{not json"), ("?offset=²", None), ("?limit=²", None), ("?offset=" + "9" * 30, None),
    ("?limit=" + "9" * 30, None), ("?offset=٣", None),
], ids=["limit-zero", "limit-too-large", "negative-offset", "unknown-parameter", "malformed-json",
        "superscript-offset", "superscript-limit", "huge-offset", "huge-limit", "arabic-indic-offset"])
def test_bad_paging_arguments_or_bodies_get_400(dsp, actors, query, data):
    kwargs = {"data": data, "content_type": "application/json"} if data else {"json": catalog_request()}
    response = dsp.post(f"{BASE}/catalog/request{query}", headers=PARTNER, **kwargs)
    assert response.status_code == 400 and response.get_json()["code"] == "bad-request"
    name = query[1:].split("=")[0]
    if name in ("offset", "limit"):
        assert any(reason.startswith(f"{name} must be") for reason in response.get_json()["reason"])


@pytest.mark.parametrize("form", ["urn", "bare"])
def test_cat_01_02_dataset_request_returns_the_dataset_with_its_offers(dsp, world, form):
    dataset_id = world["restricted"] if form == "urn" else world["_raw"]["restricted"]["id"]
    response = dsp.get(f"{BASE}/catalog/datasets/{dataset_id}", headers=PARTNER)
    assert response.status_code == 200
    body = response.get_json()
    assert message_schemas().validate(body, expected="Dataset") == "Dataset"
    assert body["@id"] == world["restricted"] and len(body["hasPolicy"]) == 2
    assert body["distribution"][0]["accessService"] == {"@id": SERVICE, "@type": "DataService",
                                                         "endpointURL": SERVICE}
    listed = [d for d in _catalog(dsp, PARTNER)["dataset"] if d["@id"] == world["restricted"]][0]
    assert body["hasPolicy"] == listed["hasPolicy"]


@pytest.mark.parametrize(("name", "headers"), [
    ("unknown", PARTNER), ("restricted", RADAR), ("defence", PARTNER), ("no-offer", PARTNER),
    ("non-public", PARTNER), ("offer-withdrawn", PARTNER), ("dataset-withdrawn", PARTNER),
])
def test_cat_01_03_unknown_invisible_or_unoffered_dataset_is_404_catalog_error(dsp, world, name, headers):
    dataset_id = f"urn:uuid:{uuid.uuid4()}" if name == "unknown" else world[name]
    response = dsp.get(f"{BASE}/catalog/datasets/{dataset_id}", headers=headers)
    assert response.status_code == 404
    assert response.get_json()["code"] == "not-found"
    assert response.get_json()["reason"] == [f"no dataset {dataset_id!r}"]


def _assigned(assignee):
    offer = {"policy": {"@type": "Offer", "permission": [{"action": "use"}]}}
    if assignee is not None:
        offer["policy"]["assignee"] = assignee
    return offer


def test_offers_assigned_to_another_party_are_left_out_and_the_rest_keep_their_assignee(dsp, register):
    """cardio (PARTNER, organisation health) and radar (RADAR, organisation defence) see the
    same public dataset with different offers: each only those open to it."""
    dataset = register(_assigned(None), _assigned("cardio"), _assigned("radar"),
                       _assigned({"@type": "PartyCollection", "source": "defence"}),
                       _assigned("health"), accessRights="PUBLIC")
    iri = f"urn:uuid:{dataset['id']}"
    open_, cardio, radar, defence, health = (f"urn:uuid:{o['id']}" for o in dataset["offers"])
    expected = [(PARTNER, {open_: None, cardio: "cardio", health: "health"}),
                (RADAR, {open_: None, radar: "radar", defence: "defence"})]
    for headers, offers in expected:
        listed = [d for d in _catalog(dsp, headers)["dataset"] if d["@id"] == iri][0]
        single = dsp.get(f"{BASE}/catalog/datasets/{iri}", headers=headers)
        assert single.status_code == 200
        for body in (listed, single.get_json()):
            assert {o["@id"]: o.get("assignee") for o in body["hasPolicy"]} == offers


def test_a_page_is_full_although_datasets_offered_only_to_others_lie_between(dsp, register):
    """The assignee filter runs after the query; paging reads on so that no page is short and
    the next link starts after the last dataset read."""
    mine = [f"urn:uuid:{register(_assigned(None), accessRights='PUBLIC')['id']}" for _ in range(2)]
    for _ in range(3):
        register(_assigned("radar"), accessRights="PUBLIC")
    mine.append(f"urn:uuid:{register(_assigned('cardio'), accessRights='PUBLIC')['id']}")
    seen, url, sizes = [], f"{BASE}/catalog/request?limit=2", []
    while url:
        response = dsp.post(url, json=catalog_request(), headers=PARTNER)
        assert response.status_code == 200
        sizes.append(len(_ids(response.get_json())))
        seen += _ids(response.get_json())
        url = _links(response).get("next", "").removeprefix("http://localhost")
    assert seen == mine
    assert sizes == [2, 1]


def test_a_dataset_whose_offers_are_all_for_another_party_is_not_offered_to_others(dsp, register):
    dataset = register(_assigned("radar"), accessRights="PUBLIC")
    iri = f"urn:uuid:{dataset['id']}"
    assert iri not in _ids(_catalog(dsp, PARTNER))
    assert dsp.get(f"{BASE}/catalog/datasets/{iri}", headers=PARTNER).status_code == 404
    assert iri in _ids(_catalog(dsp, RADAR))
    assert dsp.get(f"{BASE}/catalog/datasets/{iri}", headers=RADAR).status_code == 200


def _literals(body, predicate):
    """The RDF literals ``body`` states for ``predicate``, read with the prefixes of the DSP context."""
    prefixes = json.loads(resources.files("connector.dsp").joinpath("spec", "context", "dspace.jsonld")
                          .read_text(encoding="utf-8"))["@context"]
    document = {"@context": {name: prefixes[name] for name in ("dcat", "dct")},
                "@id": body["@id"], predicate: body[predicate]}
    graph = rdflib.Graph()
    jsonld.to_rdf(document, graph)  # rdflib's parse() would warn through its deprecated ConjunctiveGraph
    return {(str(o), o.language) for o in graph.objects(rdflib.URIRef(body["@id"]), None)}


@pytest.mark.parametrize("path", ["catalog", "dataset"])
def test_keywords_are_the_words_each_tagged_with_its_language(dsp, register, path):
    made = register(SIMPLE_OFFER, keyword={"en": ["cardio", "heart"], "de": ["Herz"]})
    if path == "catalog":
        (body,) = [d for d in _catalog(dsp, PARTNER)["dataset"] if d["@id"] == f"urn:uuid:{made['id']}"]
    else:
        body = dsp.get(f"{BASE}/catalog/datasets/{made['id']}", headers=PARTNER).get_json()
        assert message_schemas().validate(body, expected="Dataset") == "Dataset"
    assert _literals(body, "dcat:keyword") == {("cardio", "en"), ("heart", "en"), ("Herz", "de")}
    assert _literals(body, "dct:title") == {("Cardiac MRI cohort", "en"), ("Kardiale MRT-Kohorte", "de")}


def test_keywords_given_as_a_plain_list_are_english_words(dsp, register):
    made = register(SIMPLE_OFFER, keyword=["cardio"])
    body = dsp.get(f"{BASE}/catalog/datasets/{made['id']}", headers=PARTNER).get_json()
    assert _literals(body, "dcat:keyword") == {("cardio", "en")}
