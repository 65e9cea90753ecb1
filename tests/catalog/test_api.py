"""Registering, revising, withdrawing and reading datasets over the HTTP API."""

from __future__ import annotations

from sqlalchemy import select

from connector.audit import AuditEvent
from connector.db import utcnow
from tests.conftest import SCHEMAS, dataset_body
from tests.factories import register_over_http as register


def test_registered_dataset_is_version_one_and_readable_at_its_location(client, actors):
    response = register(client, actors)
    body = response.get_json()
    SCHEMAS.validate("dataset-response", body)
    assert body["version"] == 1 and body["state"] == "active"
    assert body["organisation"] == "health"
    assert response.headers["Location"] == f"/api/v1/datasets/{body['id']}"
    again = client.get(response.headers["Location"], headers=actors.headers("member"))
    assert again.status_code == 200
    assert again.get_json() == body


def test_plain_strings_become_english_and_vocabulary_uris_become_codes(client, actors):
    body = register(
        client, actors,
        title="Radiology reports",
        theme=["http://publications.europa.eu/resource/authority/data-theme/HEAL", "TECH"],
        accessRights="http://publications.europa.eu/resource/authority/access-right/PUBLIC",
    ).get_json()
    assert body["title"] == {"en": "Radiology reports"}
    assert body["description"] == {"en": dataset_body()["description"]}
    assert body["keyword"] == {"en": ["cardiology", "MRI"]}
    assert body["theme"] == ["HEAL", "TECH"]
    assert body["accessRights"] == "PUBLIC"
    assert body["contactPoint"] == [dataset_body()["contactPoint"]]


def test_a_theme_given_as_code_and_as_authority_uri_is_answered_once(client, actors):
    ener = "http://publications.europa.eu/resource/authority/data-theme/ENER"
    response = register(client, actors, theme=["ENER", ener, "TECH"])
    body = response.get_json()
    assert body["theme"] == ["ENER", "TECH"]
    SCHEMAS.validate("dataset-response", body)
    again = client.get(response.headers["Location"], headers=actors.headers("steward")).get_json()
    assert again["theme"] == ["ENER", "TECH"]
    found = client.get("/api/v1/datasets?theme=ENER", headers=actors.headers("steward")).get_json()
    assert found["facets"]["theme"] == [{"value": "ENER", "count": 1}, {"value": "TECH", "count": 1}]


def test_identifier_is_generated_when_absent(client, actors):
    document = dataset_body()
    del document["identifier"]
    response = client.post("/api/v1/datasets", json=document, headers=actors.headers("steward"))
    assert response.status_code == 201
    assert response.get_json()["identifier"]


def test_put_creates_a_new_version_and_old_versions_stay_readable(client, actors):
    created = register(client, actors, identifier="urn:x:1").get_json()
    url = f"/api/v1/datasets/{created['id']}"
    updated = client.put(url, json=dataset_body(identifier="urn:x:1", title="Cardiac MRI v2"),
                         headers=actors.headers("steward"))
    assert updated.status_code == 200
    assert updated.get_json()["version"] == 2
    assert client.get(url, headers=actors.headers("member")).get_json()["title"] == {
        "en": "Cardiac MRI v2"}
    first = client.get(url + "/versions/1", headers=actors.headers("member")).get_json()
    assert first["title"]["en"] == "Cardiac MRI cohort"
    assert first["version"] == 1 and first["latestVersion"] == 2
    listing = client.get(url + "/versions", headers=actors.headers("member")).get_json()
    SCHEMAS.validate("dataset-versions", listing)
    assert [v["version"] for v in listing["items"]] == [1, 2]
    assert client.get(url + "/versions/3", headers=actors.headers("member")).status_code == 404


def test_put_with_an_identical_document_makes_no_new_version(client, actors):
    document = dataset_body()
    url = register(client, actors, body=document).headers["Location"]
    again = client.put(url, json=document, headers=actors.headers("steward"))
    assert again.get_json()["version"] == 1


def test_identifier_cannot_change(client, actors):
    url = register(client, actors, identifier="urn:x:keep").headers["Location"]
    response = client.put(url, json=dataset_body(identifier="urn:x:other"),
                          headers=actors.headers("steward"))
    assert response.status_code == 409
    assert "urn:x:keep" in response.get_json()["detail"]


def test_withdrawn_dataset_leaves_search_but_keeps_its_history(client, actors):
    created = register(client, actors, title="Withdrawable registry").get_json()
    url = f"/api/v1/datasets/{created['id']}"
    assert client.delete(url, headers=actors.headers("steward")).get_json()["state"] == "withdrawn"
    assert client.get("/api/v1/datasets?q=withdrawable",
                      headers=actors.headers("member")).get_json()["count"] == 0
    assert client.get(url, headers=actors.headers("member")).get_json()["state"] == "withdrawn"
    assert client.get(url + "/versions/1", headers=actors.headers("member")).status_code == 200
    revise = client.put(url, json=dataset_body(identifier=created["identifier"]),
                        headers=actors.headers("steward"))
    assert revise.status_code == 409


def test_every_write_leaves_an_audit_event_with_versions(client, actors, uow):
    started = utcnow()
    created = register(client, actors, identifier="urn:x:audit").get_json()
    url = f"/api/v1/datasets/{created['id']}"
    client.put(url, json=dataset_body(identifier="urn:x:audit", title="New title"),
               headers=actors.headers("steward"))
    client.delete(url, headers=actors.headers("steward"))
    with uow:
        events = uow.session.scalars(
            select(AuditEvent).where(AuditEvent.object_id == created["id"]).order_by(AuditEvent.id)
        ).all()
    assert [(e.action, e.actor, e.before_version, e.after_version) for e in events] == [
        ("dataset.register", "steward", None, 1),
        ("dataset.update", "steward", 1, 2),
        ("dataset.withdraw", "steward", 2, 2),
    ]
    assert started <= events[0].at <= events[1].at <= events[2].at <= utcnow()


def test_admin_registers_for_a_named_organisation(client, actors):
    body = register(client, actors, who="admin", organisation="defence").get_json()
    assert body["organisation"] == "defence"


def test_steward_cannot_register_for_another_organisation(client, actors):
    response = client.post("/api/v1/datasets", json=dataset_body(organisation="defence"),
                           headers=actors.headers("steward"))
    assert response.status_code == 403


def test_healthz_reports_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    SCHEMAS.validate("health", response.get_json())
    assert response.get_json()["database"] == "ok"
