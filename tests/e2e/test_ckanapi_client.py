"""The real ``ckanapi`` client reads our catalog through a real HTTP server on loopback."""

from __future__ import annotations

import threading

import ckanapi
import pytest
from werkzeug.serving import make_server

from tests.conftest import dataset_body


@pytest.fixture
def served(app, client, actors):
    """Three datasets (two public, one restricted) and the app on a loopback port."""
    for who, overrides in (
        ("steward", {"identifier": "heart-failure", "title": "Heart failure registry",
                     "keyword": ["cardiology"], "theme": ["HEAL"]}),
        ("defence-steward", {"identifier": "radar-echoes", "title": "Radar echoes", "keyword": ["radar"],
                             "theme": ["TECH"], "distribution": [
                                 {"accessURL": "https://x.example/r.parquet", "format": "PARQUET"}]}),
        ("steward", {"identifier": "heart-transplant", "title": "Heart transplant outcomes",
                     "accessRights": "RESTRICTED"}),
    ):
        response = client.post("/api/v1/datasets", json=dataset_body(**overrides),
                               headers=actors.headers(who))
        assert response.status_code == 201, response.get_json()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture(params=[False, True], ids=["post", "get"])
def remote(request, served):
    with ckanapi.RemoteCKAN(served, get_only=request.param) as ckan:
        yield ckan


def test_ckanapi_lists_and_shows_packages(remote):
    assert sorted(remote.action.package_list()) == ["heart-failure", "radar-echoes"]
    package = remote.action.package_show(id="heart-failure")
    assert package["title"] == "Heart failure registry" and package["organization"]["name"] == "health"
    assert package["resources"][0]["format"] == "CSV"


def test_ckanapi_searches_with_q_fq_and_facet_fields(remote):
    result = remote.call_action("package_search", {
        "q": "heart", "fq": 'organization:"health"', "facet.field": ["tags", "res_format"], "rows": 10})
    assert result["count"] == 1 and result["results"][0]["name"] == "heart-failure"
    items = {f: {i["name"]: i["count"] for i in result["search_facets"][f]["items"]}
             for f in ("tags", "res_format")}
    assert items == {"tags": {"cardiology": 1}, "res_format": {"CSV": 1}}
    assert remote.action.package_search(fq="res_format:PARQUET")["results"][0]["name"] == "radar-echoes"


def test_ckanapi_lists_organizations(remote):
    assert remote.action.organization_list() == ["defence", "health"]
    orgs = remote.action.organization_list(all_fields=True)
    assert {o["name"]: o["package_count"] for o in orgs} == {"defence": 1, "health": 1}


def test_ckanapi_raises_not_found_for_an_unknown_or_invisible_id(remote):
    with pytest.raises(ckanapi.NotFound):
        remote.action.package_show(id="no-such-dataset")
    with pytest.raises(ckanapi.NotFound):
        remote.action.package_show(id="heart-transplant")


def test_ckanapi_with_an_api_token_sees_what_the_catalog_lets_it_see(served, actors):
    with ckanapi.RemoteCKAN(served, apikey=actors.tokens["member"]) as ckan:
        assert ckan.action.package_show(id="heart-transplant")["private"] is True
        assert "heart-transplant" in ckan.action.package_list()
        assert ckan.action.package_search(q="transplant", include_private=True)["count"] == 1
    with ckanapi.RemoteCKAN(served, apikey="cnr_not-a-token") as ckan, pytest.raises(ckanapi.NotAuthorized):
        ckan.action.package_list()
