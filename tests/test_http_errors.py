"""Every bad input gets a clear problem+json answer and stores nothing."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from connector.catalog.models import Dataset, DatasetVersion
from tests.conftest import dataset_body
from tests.factories import register_over_http


def stored(uow) -> tuple[int, int]:
    with uow:
        return (uow.session.scalar(select(func.count()).select_from(Dataset)),
                uow.session.scalar(select(func.count()).select_from(DatasetVersion)))


def post_raw(client, actors, data, content_type="application/json", who="steward"):
    return client.post("/api/v1/datasets", data=data, content_type=content_type,
                       headers=actors.headers(who))


@pytest.mark.parametrize("raw", [
    b'{"title": "x",',
    b"not json at all",
    b'{"title": NaN}',
    b'{"title": "a", "title": "b"}',
    b"\xff\xfe{}",
    b"",
])
def test_malformed_json_is_400_and_stores_nothing(client, actors, uow, raw):
    response = post_raw(client, actors, raw)
    assert response.status_code == 400
    assert stored(uow) == (0, 0)


def test_json_nested_ten_thousand_deep_is_400_not_500(client, actors, uow):
    for raw in ("[" * 10000 + "]" * 10000, '{"a":' * 10000 + "1" + "}" * 10000):
        response = post_raw(client, actors, raw)
        assert response.status_code == 400
        assert "nested deeper" in response.get_json()["detail"]
    assert stored(uow) == (0, 0)


def test_a_nul_character_in_any_string_is_400_and_stores_nothing(client, actors, uow):
    """PostgreSQL's text and jsonb cannot hold U+0000: refused when read, on every database alike."""
    for body in (dataset_body(title="cardiac\u0000mri"), {**dataset_body(), "x\u0000": 1}):
        response = post_raw(client, actors, json.dumps(body))
        assert response.status_code == 400
        assert "U+0000" in response.get_json()["detail"]
    escaped_backslash = json.dumps(dataset_body(description="a path C:\\u0000 is fine"))
    assert post_raw(client, actors, escaped_backslash).status_code == 201
    assert stored(uow) == (1, 1)


def test_a_version_number_beyond_any_stored_one_is_404_not_500(client, actors):
    dataset = client.post("/api/v1/datasets", json=dataset_body(),
                          headers=actors.headers("steward")).get_json()
    for number in (2, 2**31, 12809894782225):
        response = client.get(f"/api/v1/datasets/{dataset['id']}/versions/{number}",
                              headers=actors.headers("steward"))
        assert response.status_code == 404, number


def test_brackets_inside_strings_do_not_count_as_nesting(client, actors):
    response = client.post("/api/v1/datasets", json=dataset_body(title="[" * 500),
                           headers=actors.headers("steward"))
    assert response.status_code == 201


def test_body_over_the_configured_maximum_is_413(client, actors, uow, app):
    limit = app.config["MAX_CONTENT_LENGTH"]
    document = dataset_body(description="x" * limit)
    response = post_raw(client, actors, json.dumps(document))
    assert response.status_code == 413
    assert stored(uow) == (0, 0)


def test_body_that_is_not_json_media_type_is_415(client, actors):
    response = post_raw(client, actors, json.dumps(dataset_body()), content_type="text/plain")
    assert response.status_code == 415


def test_wrong_types_missing_and_unknown_fields_are_all_listed_in_one_422(client, actors, uow):
    document = dataset_body(byteSize="big", theme="HEAL", keyword=[1, 2], colour="blue")
    del document["title"]
    document["distribution"][0]["byteSize"] = "big"
    document["distribution"][0].pop("accessURL")
    response = client.post("/api/v1/datasets", json=document, headers=actors.headers("steward"))
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    paths = {e["path"] for e in errors}
    assert {"$", "$.theme", "$.keyword", "$.distribution[0]",
            "$.distribution[0].byteSize"} <= paths
    messages = " ".join(e["message"] for e in errors)
    assert "'title' is a required property" in messages
    assert "'accessURL' is a required property" in messages
    assert "colour" in messages and "byteSize" in messages
    assert stored(uow) == (0, 0)


@pytest.mark.parametrize("field", ["title", "description", "accessRights"])
def test_each_mandatory_field_is_required(client, actors, field):
    document = dataset_body()
    del document[field]
    response = client.post("/api/v1/datasets", json=document, headers=actors.headers("steward"))
    assert response.status_code == 422
    assert any(field in e["message"] for e in response.get_json()["errors"])


@pytest.mark.parametrize("overrides", [
    {"theme": ["NOT_A_THEME"]},
    {"accessRights": "SECRET"},
    {"landingPage": "javascript:alert(1)"},
    {"issued": "last tuesday"},
    {"title": {"not a language": "x"}},
    {"distribution": [{"accessURL": "not a uri"}]},
])
def test_values_outside_the_vocabularies_and_formats_are_422(client, actors, overrides):
    response = client.post("/api/v1/datasets", json=dataset_body(**overrides),
                           headers=actors.headers("steward"))
    assert response.status_code == 422


def test_duplicate_identifier_is_409_and_keeps_the_first(client, actors, uow):
    register_over_http(client, actors, identifier="urn:dup")
    second = client.post("/api/v1/datasets", json=dataset_body(identifier="urn:dup", title="Other"),
                         headers=actors.headers("steward"))
    assert second.status_code == 409
    assert stored(uow) == (1, 1)


def test_unknown_dataset_and_version_are_404(client, actors):
    assert client.get("/api/v1/datasets/nope", headers=actors.headers("member")).status_code == 404
    assert client.get("/api/v1/datasets/nope/versions",
                      headers=actors.headers("member")).status_code == 404
    assert client.put("/api/v1/datasets/nope", json=dataset_body(),
                      headers=actors.headers("steward")).status_code == 404


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"},
                                     {"Authorization": "Basic dXNlcjpwdw=="},
                                     {"Authorization": "Bearer"}])
def test_missing_or_unknown_token_is_401(client, headers):
    assert client.get("/api/v1/datasets", headers=headers).status_code == 401
    assert client.post("/api/v1/datasets", json=dataset_body(), headers=headers).status_code == 401


def test_member_trying_steward_actions_is_403(client, actors, uow):
    assert client.post("/api/v1/datasets", json=dataset_body(),
                       headers=actors.headers("member")).status_code == 403
    url = register_over_http(client, actors).headers["Location"]
    assert client.put(url, json=dataset_body(), headers=actors.headers("member")).status_code == 403
    assert client.delete(url, headers=actors.headers("member")).status_code == 403
    assert client.delete(url, headers=actors.headers("defence-steward")).status_code == 403
    assert stored(uow) == (1, 1)


def test_unknown_route_and_method_are_problem_json(client, actors):
    assert client.get("/api/v1/nothing-here", headers=actors.headers("member")).status_code == 404
    assert client.open("/api/v1/datasets", method="PATCH",
                       headers=actors.headers("member")).status_code == 405
