"""The CKAN Action API over the catalog: envelopes, actions, fq forms, facets, paging, errors,
visibility. CKAN error envelopes are not problem+json, so the CKAN calls use the plain Flask
test client; datasets are registered through our own API with the problem-checking one."""

from __future__ import annotations

import json

import pytest

from connector.app import create_app
from connector.catalog import service as catalog
from connector.catalog.search import SearchQuery
from connector.errors import BadRequest
from connector.identity.principal import OPERATOR
from tests.conftest import SCHEMAS, dataset_body

CSV = [{"accessURL": "https://x.example/a.csv", "downloadURL": "https://x.example/a.csv", "format": "CSV",
        "mediaType": "text/csv", "byteSize": 10}]
PARQUET = [{"accessURL": "https://x.example/b.parquet", "format": "PARQUET"}]
MIT = "https://opensource.org/licenses/MIT"


def register(client, actors, who="steward", **overrides):
    response = client.post("/api/v1/datasets", json=dataset_body(**overrides), headers=actors.headers(who))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def register_exactly(client, actors, body):
    response = client.post("/api/v1/datasets", json=body, headers=actors.headers("steward"))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


@pytest.fixture
def catalog_data(client, actors):
    """Five datasets: four public (one minimal), one restricted; two organisations."""
    return {
        "failure": register(client, actors, identifier="heart-failure", title="Heart failure registry",
                            theme=["HEAL"], distribution=CSV, keyword=["cardiology"]),
        "athletes": register(client, actors, title="Heart rate of athletes", theme=["HEAL", "EDUC"],
                             distribution=PARQUET, keyword=["sport", "heart rate"], license=MIT),
        "radar": register(client, actors, "defence-steward", identifier="radar-echoes",
                          title="Radar echoes", theme=["TECH"], distribution=CSV, keyword=["radar"]),
        "transplant": register(client, actors, identifier="heart-transplant",
                               title="Heart transplant outcomes", accessRights="RESTRICTED"),
        "bare": register_exactly(client, actors, {"identifier": "bare-counts", "title": "Bare counts",
                                                  "description": "Counts.", "accessRights": "PUBLIC"}),
    }


@pytest.fixture
def ckan(app):
    """Call an action by GET (query string) or POST (JSON body); returns (status, body)."""
    raw = app.test_client()

    def call(action, params=None, *, method="GET", token=None, header="Authorization", **kwargs):
        headers = {header: token} if token else {}
        if method == "GET":
            response = raw.get(f"/api/3/action/{action}", query_string=params or {}, headers=headers)
        else:
            response = raw.post(f"/api/3/action/{action}", json=params or {}, headers=headers, **kwargs)
        body = response.get_json()
        assert response.mimetype == "application/json"
        expected = {"help", "success", "result"} if body["success"] else {"help", "success", "error"}
        assert set(body) == expected
        assert body["help"].endswith(f"/api/3/action/help_show?name={action}")
        return response.status_code, body

    return call


def ok(result):
    status, body = result
    assert status == 200 and body["success"] is True, body
    return body["result"]


def titles(result):
    return sorted(p["title"] for p in result["results"])


# --- status_show, package_list ---------------------------------------------------------------

def test_status_show_answers_in_ckans_envelope(ckan):
    result = ok(ckan("status_show"))
    assert result["ckan_version"].startswith("2.") and result["site_url"] == "http://localhost"


def test_package_list_names_public_datasets_to_anonymous_callers(ckan, catalog_data):
    names = ok(ckan("package_list"))
    athletes = catalog_data["athletes"]["id"]  # its identifier is a URN, not a CKAN name
    assert sorted(names) == sorted(["bare-counts", "heart-failure", "radar-echoes", athletes])
    assert "heart-transplant" not in names


def test_package_list_pages_with_limit_and_offset(ckan, catalog_data):
    every = ok(ckan("package_list"))
    pages = [ok(ckan("package_list", {"limit": 2, "offset": o})) for o in (0, 2, 4)]
    assert pages[0] + pages[1] + pages[2] == every and [len(p) for p in pages] == [2, 2, 0]


def test_package_list_shows_a_member_the_restricted_datasets_of_its_organisation(ckan, actors, catalog_data):
    assert "heart-transplant" in ok(ckan("package_list", token=actors.tokens["member"]))
    assert "heart-transplant" not in ok(ckan("package_list", token=actors.tokens["outsider"]))


# --- package_show ----------------------------------------------------------------------------

def test_package_show_maps_the_document_to_a_ckan_package(ckan, catalog_data):
    package = ok(ckan("package_show", {"id": "heart-failure"}))
    assert package["id"] == catalog_data["failure"]["id"] and package["name"] == "heart-failure"
    assert package["title"] == "Heart failure registry"
    assert package["notes"] == "Pseudonymised cardiac MRI measurements of 12,000 adults."
    assert [t["name"] for t in package["tags"]] == ["cardiology"] and package["num_tags"] == 1
    assert package["organization"]["name"] == "health"
    assert package["organization"]["title"] == "Health Data Agency"
    assert package["license_id"] == "CC_BY_4_0"
    assert package["license_url"].endswith("/licence/CC_BY_4_0")
    assert package["url"] == "https://health.example.eu/cardiac-mri"
    assert package["private"] is False and package["state"] == "active"
    assert [g["name"] for g in package["groups"]] == ["heal"]
    [resource] = package["resources"]
    assert resource["url"] == "https://x.example/a.csv" and resource["format"] == "CSV"
    assert resource["mimetype"] == "text/csv" and resource["size"] == 10
    assert resource["package_id"] == package["id"]
    assert package["metadata_modified"].startswith(catalog_data["failure"]["updated"][:19])
    assert "Z" not in package["metadata_created"]  # CKAN writes naive UTC timestamps
    extras = {e["key"]: e["value"] for e in package["extras"]}
    assert extras["identifier"] == "heart-failure" and extras["issued"] == "2025-03-01"
    assert json.loads(extras["theme"]) == ["http://publications.europa.eu/resource/authority/data-theme/HEAL"]
    assert extras["temporal_start"] == "2019-01-01" and extras["contact_email"] == "data@health.example.eu"
    assert extras["quality_rating"] == "good"


def test_package_show_finds_a_dataset_by_id_and_by_name_alike(ckan, catalog_data):
    by_id = ok(ckan("package_show", {"id": catalog_data["failure"]["id"]}))
    assert by_id == ok(ckan("package_show", {"id": "heart-failure"}))
    athletes = ok(ckan("package_show", {"id": catalog_data["athletes"]["id"]}))
    assert athletes["name"] == athletes["id"] and athletes["license_id"] == MIT


def test_package_show_of_unknown_dataset_is_a_not_found_error(ckan, catalog_data):
    status, body = ckan("package_show", {"id": "no-such-dataset"})
    assert status == 404 and body["success"] is False
    assert body["error"]["__type"] == "Not Found Error" and "no-such-dataset" in body["error"]["message"]


def test_restricted_dataset_is_not_found_for_anonymous_callers_and_shown_to_members(ckan, actors,
                                                                                    catalog_data):
    status, body = ckan("package_show", {"id": "heart-transplant"})
    assert status == 404 and body["error"]["__type"] == "Not Found Error"
    token = actors.tokens["member"]
    for sent in (token, f"Bearer {token}"):  # CKAN sends the bare token; Bearer works too
        assert ok(ckan("package_show", {"id": "heart-transplant"}, token=sent))["private"] is True
    assert ok(ckan("package_show", {"id": "heart-transplant"}, token=token, header="X-CKAN-API-Key"))
    assert ckan("package_show", {"id": "heart-transplant"}, token=actors.tokens["outsider"])[0] == 404


def test_unknown_token_is_an_authorization_error(ckan, catalog_data):
    status, body = ckan("package_show", {"id": "heart-failure"}, token="cnr_not-a-token")
    assert status == 403 and body["error"]["__type"] == "Authorization Error"


def test_package_show_without_id_is_a_validation_error_naming_the_field(ckan):
    status, body = ckan("package_show")
    assert status == 409 and body["error"]["__type"] == "Validation Error"
    assert body["error"]["id"] == ["Missing value"]


# --- package_search --------------------------------------------------------------------------

def test_package_search_finds_by_words_with_ckans_result_shape(ckan, catalog_data):
    result = ok(ckan("package_search", {"q": "heart"}))
    assert result["count"] == 2 and titles(result) == ["Heart failure registry", "Heart rate of athletes"]
    assert result["search_facets"] == {}
    assert {p["title"]: [r["format"] for r in p["resources"]] for p in result["results"]} == {
        "Heart failure registry": ["CSV"], "Heart rate of athletes": ["PARQUET"]}


@pytest.mark.parametrize("fq,expected", [
    ("tags:cardiology", ["Heart failure registry"]),
    ('tags:"heart rate"', ["Heart rate of athletes"]),
    ("organization:defence", ["Radar echoes"]),
    ('+organization:"defence"', ["Radar echoes"]),
    ("res_format:csv", ["Heart failure registry", "Radar echoes"]),
    ('res_format:"PARQUET"', ["Heart rate of athletes"]),
    ("license_id:CC_BY_4_0", ["Heart failure registry", "Radar echoes"]),
    (f'license_id:"{MIT}"', ["Heart rate of athletes"]),
    ("groups:educ", ["Heart rate of athletes"]),
    ("theme:http://publications.europa.eu/resource/authority/data-theme/TECH", ["Radar echoes"]),
    ("tags:(cardiology OR radar)", ["Heart failure registry", "Radar echoes"]),
    ("organization:health AND res_format:CSV", ["Heart failure registry"]),
    ("organization:health res_format:PARQUET", ["Heart rate of athletes"]),
    ("quality:bad", ["Bare counts"]),
    ("*:*", ["Bare counts", "Heart failure registry", "Heart rate of athletes", "Radar echoes"]),
])
def test_fq_filters_on_our_facets_in_the_forms_ckan_clients_send(ckan, catalog_data, fq, expected):
    assert titles(ok(ckan("package_search", {"fq": fq, "rows": 100}))) == expected


def test_field_clauses_in_q_filter_and_other_words_search(ckan, catalog_data):
    assert titles(ok(ckan("package_search", {"q": "heart tags:sport"}))) == ["Heart rate of athletes"]
    assert titles(ok(ckan("package_search", {"q": "title:radar"}))) == ["Radar echoes"]


def test_fq_list_adds_filters(ckan, catalog_data):
    result = ok(ckan("package_search", {"fq_list": ["organization:health", "res_format:CSV"]},
                     method="POST"))
    assert titles(result) == ["Heart failure registry"]


def test_facet_fields_come_back_as_ckan_search_facets(ckan, catalog_data):
    fields = ["tags", "organization", "res_format", "groups", "license_id", "quality"]
    result = ok(ckan("package_search", {"q": "heart", "facet.field": json.dumps(fields)}))
    facets = result["search_facets"]
    assert list(facets) == fields

    def counts(name):
        assert facets[name]["title"] == name
        return {i["name"]: i["count"] for i in facets[name]["items"]}

    assert counts("tags") == {"cardiology": 1, "sport": 1, "heart rate": 1}
    assert counts("organization") == {"health": 2}
    assert counts("res_format") == {"CSV": 1, "PARQUET": 1}
    assert counts("groups") == {"HEAL": 2, "EDUC": 1}
    assert counts("license_id") == {"CC_BY_4_0": 1, MIT: 1}
    assert sum(counts("quality").values()) == 2
    assert result["facets"]["organization"] == {"health": 2}  # CKAN's deprecated form, still sent


def test_facet_limit_caps_the_items(ckan, catalog_data):
    result = ok(ckan("package_search", {"facet.field": '["tags"]', "facet.limit": 1}))
    assert len(result["search_facets"]["tags"]["items"]) == 1


def test_rows_and_start_page_through_a_stable_order(ckan, catalog_data):
    params = {"sort": "title_string asc", "rows": 2}
    pages = [ok(ckan("package_search", {**params, "start": s})) for s in (0, 2, 4)]
    assert [p["title"] for page in pages for p in page["results"]] == [
        "Bare counts", "Heart failure registry", "Heart rate of athletes", "Radar echoes"]
    assert all(page["count"] == 4 for page in pages) and pages[2]["results"] == []
    newest_first = ok(ckan("package_search", {"sort": "metadata_modified desc", "rows": 1}))
    assert newest_first["results"][0]["title"] == "Bare counts"


def test_rows_above_1000_are_capped_like_ckan(ckan, catalog_data):
    assert ok(ckan("package_search", {"rows": 5000}))["count"] == 4


def test_post_with_a_json_body_answers_like_get(ckan, catalog_data):
    params = {"q": "heart", "fq": "res_format:CSV", "facet.field": ["organization"], "rows": 5}
    assert ok(ckan("package_search", params, method="POST")) == ok(ckan("package_search", {
        **params, "facet.field": json.dumps(params["facet.field"])}))


def test_private_datasets_appear_in_search_only_with_include_private_and_entitlement(ckan, actors,
                                                                                     catalog_data):
    query = {"q": "transplant"}
    assert ok(ckan("package_search", query, token=actors.tokens["member"]))["count"] == 0
    private = {**query, "include_private": "true"}
    assert titles(ok(ckan("package_search", private, token=actors.tokens["member"]))) == [
        "Heart transplant outcomes"]
    assert ok(ckan("package_search", private))["count"] == 0
    assert ok(ckan("package_search", private, token=actors.tokens["outsider"]))["count"] == 0


def test_withdrawn_datasets_leave_list_and_search(client, ckan, actors, catalog_data):
    response = client.delete(f"/api/v1/datasets/{catalog_data['radar']['id']}",
                             headers=actors.headers("defence-steward"))
    assert response.status_code == 200
    assert "radar-echoes" not in ok(ckan("package_list"))
    assert ok(ckan("package_search", {"q": "radar"}))["count"] == 0
    assert ok(ckan("package_show", {"id": "radar-echoes"}))["state"] == "deleted"


@pytest.mark.parametrize("params,fragment", [
    ({"fq": "maintainer:someone"}, "cannot filter on 'maintainer'"),
    ({"fq": "-tags:sport"}, "negated"),
    ({"fq": "tags:a tags:b"}, "filtered twice"),
    ({"fq": "just words"}, "field:value"),
    ({"rows": "many"}, "rows"),
    ({"start": "-1"}, "start"),
    ({"sort": "name asc"}, "unsupported sort"),
    ({"facet.field": '["maintainer"]'}, "maintainer"),
    ({"facet.field": "[not json"}, "JSON"),
    ({"include_private": "perhaps"}, "true or false"),
    ({"fl": "name"}, "fl"),
])
def test_bad_search_parameters_are_validation_errors_that_say_why(ckan, params, fragment):
    status, body = ckan("package_search", params)
    assert status == 409 and body["error"]["__type"] == "Validation Error"
    assert fragment in body["error"]["message"]


def test_unknown_action_and_malformed_json_are_bad_requests_in_ckans_envelope(app):
    raw = app.test_client()
    response = raw.get("/api/3/action/package_create")
    assert response.status_code == 400 and response.get_json()["success"] is False
    assert "Action name not known" in response.get_json()["error"]["message"]
    response = raw.post("/api/3/action/package_search", data=b'{"q": ', content_type="application/json")
    assert response.status_code == 400 and response.mimetype == "application/json"
    assert "malformed JSON" in response.get_json()["error"]["message"]


def test_ckanapis_unversioned_path_serves_the_same_actions(app, catalog_data):
    body = app.test_client().get("/api/action/package_show?id=heart-failure").get_json()
    assert body["success"] is True and body["result"]["name"] == "heart-failure"


# --- organization_list -----------------------------------------------------------------------

def test_organization_list_names_and_all_fields(ckan, actors, catalog_data):
    assert ok(ckan("organization_list")) == ["defence", "health"]
    orgs = ok(ckan("organization_list", {"all_fields": "true"}))
    assert [(o["name"], o["title"], o["package_count"]) for o in orgs] == [
        ("defence", "Defence Research Agency", 1), ("health", "Health Data Agency", 3)]
    member = ok(ckan("organization_list", {"all_fields": True}, method="POST", token=actors.tokens["member"]))
    assert member[1]["package_count"] == 4  # the restricted one counts for a member
    assert ok(ckan("organization_list", {"limit": 1, "offset": 1})) == ["health"]


# --- the search service's offset, and the quality score in our own API ----------------------

def test_search_offset_skips_rows_in_the_sort_order(uow, catalog_data):
    every = catalog.search_datasets(uow, OPERATOR, SearchQuery(sort="title", limit=10))[0].datasets
    page = catalog.search_datasets(uow, OPERATOR, SearchQuery(sort="title", limit=2, offset=3))[0]
    assert [d.id for d in page.datasets] == [d.id for d in every[3:5]] and page.count == 5
    with pytest.raises(BadRequest):
        catalog.search_datasets(uow, OPERATOR, SearchQuery(limit=2, offset=1, cursor="abc"))


def test_dataset_json_carries_its_quality_and_search_filters_by_rating(client, actors, catalog_data):
    body = client.get(f"/api/v1/datasets/{catalog_data['bare']['id']}",
                      headers=actors.headers("member")).get_json()
    SCHEMAS.validate("dataset-response", body)
    assert body["quality"]["rating"] == "bad" and "dcat:keyword" in body["quality"]["dimensions"][
        "findability"]["missing"]
    found = client.get("/api/v1/datasets?quality=bad", headers=actors.headers("member")).get_json()
    assert [d["title"]["en"] for d in found["items"]] == ["Bare counts"]
    assert {"value": "bad", "count": 1} in found["facets"]["quality"]


def test_ckan_status_show_names_the_public_base_url_not_the_host_header(clean_database, tmp_path):
    application = create_app({"DATABASE_URL": clean_database, "HOME": str(tmp_path / "h"),
                              "AUTO_MIGRATE": False, "TESTING": True,
                              "PUBLIC_BASE_URL": "https://data.example.eu/connector"})
    try:
        body = application.test_client().get("/api/3/action/status_show",
                                             headers={"Host": "evil.example"}).get_json()
    finally:
        application.extensions["connector"].engine.dispose()
    assert body["result"]["site_url"] == "https://data.example.eu/connector"
    assert body["help"].startswith("https://data.example.eu/connector/api/3/action/help_show")


def test_rows_zero_answers_the_count_and_facets_without_results(ckan, catalog_data):
    result = ok(ckan("package_search", {"q": "heart", "rows": 0, "facet.field": '["groups"]'}))
    assert result["count"] == 2 and result["results"] == []
    assert {i["name"]: i["count"] for i in result["search_facets"]["groups"]["items"]} == {"HEAL": 2,
                                                                                          "EDUC": 1}
