"""Harvest sources and runs over HTTP (Flask test client) and from the ``connector`` command."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from connector.identity import service as identity
from tests.catalog.harvest.conftest import LOOPBACK
from tests.catalog.harvest.portal import package
from tests.conftest import SCHEMAS


@pytest.fixture
def steward(app, uow, actors):
    """Headers of the ``health`` steward; the app admits the loopback portal."""
    app.config["SOURCE_ALLOWLIST"] = ["127.0.0.1"]
    return actors


def add(client, actors, portal, who="steward", **fields):
    body = {"name": "health-portal", "kind": "ckan", "url": portal.url, "options": {"rows": 2}, **fields}
    return client.post("/api/v1/harvest-sources", json=body, headers=actors.headers(who))


def work(app):
    from connector.worker import Worker

    ext = app.extensions["connector"]
    Worker(ext.session_factory, ext.staging, harvest=LOOPBACK).tick()


def test_a_steward_adds_a_source_runs_it_and_reads_the_results(app, client, steward, portal):
    portal.add(package(0), package(1, title=""), package(2))
    created = add(client, steward, portal)
    assert created.status_code == 201 and created.headers["Location"].endswith(created.get_json()["id"])
    source = created.get_json()
    assert source["organisation"] == "health" and source["kind"] == "ckan"
    started = client.post(f"/api/v1/harvest-sources/{source['id']}/runs", headers=steward.headers("steward"))
    assert started.status_code == 202 and started.get_json()["state"] == "queued"
    location = started.headers["Location"]
    assert client.post(f"/api/v1/harvest-sources/{source['name']}/runs",
                       headers=steward.headers("steward")).status_code == 200  # the queued one
    work(app)
    run = client.get(location, headers=steward.headers("steward")).get_json()
    assert run["state"] == "partial" and run["counts"]["created"] == 2 and run["counts"]["failed"] == 1
    SCHEMAS.validate("harvest-run", run)
    failed = client.get(location + "/records?outcome=failed", headers=steward.headers("steward")).get_json()
    assert [(r["remoteId"], r["reason"][:8]) for r in failed["items"]] == [("pkg-00001", "no title")]
    page = client.get(location + "/records?limit=2", headers=steward.headers("steward"))
    assert len(page.get_json()["items"]) == 2 and page.get_json()["next"]
    assert 'rel="next"' in page.headers["Link"]
    rest = client.get(location + f"/records?limit=2&cursor={page.get_json()['next']}",
                      headers=steward.headers("steward")).get_json()
    assert len(rest["items"]) == 1 and rest["next"] is None
    runs = client.get(f"/api/v1/harvest-sources/{source['id']}/runs", headers=steward.headers("steward"))
    assert [r["id"] for r in runs.get_json()["items"]] == [run["id"]]
    listed = client.get("/api/v1/harvest-sources", headers=steward.headers("steward")).get_json()
    assert [s["name"] for s in listed["items"]] == ["health-portal"]


@pytest.mark.parametrize("query,path", [
    ("limit=²", "$.limit"), ("limit=-1", "$.limit"), ("limit=" + "9" * 30, "$.limit"),
    ("cursor=²", "$.cursor"), ("cursor=-1", "$.cursor"), ("cursor=" + "9" * 30, "$.cursor"),
    ("cursor=٣", "$.cursor"),
])
def test_record_paging_arguments_that_are_no_ascii_number_in_range_are_422_naming_them(
        client, steward, portal, query, path):
    source = add(client, steward, portal).get_json()
    run = client.post(f"/api/v1/harvest-sources/{source['id']}/runs", headers=steward.headers("steward"))
    response = client.get(f"{run.headers['Location']}/records?{query}", headers=steward.headers("steward"))
    assert response.status_code == 422
    assert [e["path"] for e in response.get_json()["errors"]] == [path]


def test_sources_are_invisible_to_others_and_writes_need_the_steward(client, steward, portal):
    source = add(client, steward, portal).get_json()
    for who in ("member", "defence-steward"):
        url = f"/api/v1/harvest-sources/{source['id']}"
        assert client.get(url, headers=steward.headers(who)).status_code == 404
        assert client.post(f"/api/v1/harvest-sources/{source['id']}/runs",
                           headers=steward.headers(who)).status_code == 404
        assert client.get("/api/v1/harvest-sources", headers=steward.headers(who)).get_json()["items"] == []
    other = add(client, steward, portal, who="defence-steward", name="x", organisation="health")
    assert other.status_code == 403
    admin = client.get(f"/api/v1/harvest-sources/{source['id']}", headers=steward.headers("admin"))
    assert admin.status_code == 200


def test_bad_bodies_and_parameters_are_422_with_paths(client, steward, portal):
    bad = add(client, steward, portal, kind="socrata", options={"rows": 5000})
    assert bad.status_code == 422
    assert {e["path"] for e in bad.get_json()["errors"]} == {"$.kind", "$.options.rows"}
    source = add(client, steward, portal).get_json()
    assert add(client, steward, portal).status_code == 409
    run = client.post(f"/api/v1/harvest-sources/{source['id']}/runs", headers=steward.headers("steward"))
    records = run.headers["Location"] + "/records"
    for query in ("?outcome=gone", "?limit=0", "?cursor=abc", "?sort=x"):
        assert client.get(records + query, headers=steward.headers("steward")).status_code == 422


def test_a_loopback_source_is_refused_without_the_allow_list(app, client, actors, portal):
    refused = add(client, actors, portal)
    assert refused.status_code == 403 and "loopback" in refused.get_json()["detail"]


def run_cli(env, *args):
    return subprocess.run([sys.executable, "-m", "connector", *args], env=env, capture_output=True,
                          text=True, timeout=120)


def test_cli_adds_runs_and_shows_a_harvest(uow, cli_env, portal):
    identity.create_organisation(uow, "env")
    portal.add(package(0), package(1), package(2, title=""))
    env = {**cli_env, "CONNECTOR_SOURCE_ALLOWLIST": "127.0.0.1"}
    added = run_cli(env, "harvest", "add", "env-portal", "--kind", "ckan", "--url", portal.url,
                    "--org", "env", "--option", "rows=2", "--json")
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["options"] == {"rows": 2}
    ran = run_cli(env, "harvest", "run", "env-portal", "--json")
    assert ran.returncode == 0, ran.stderr
    run = json.loads(ran.stdout)
    assert run["state"] == "partial" and run["counts"]["created"] == 2 and run["counts"]["failed"] == 1
    text = run_cli(env, "harvest", "run", "env-portal")
    assert "created=0 updated=0 unchanged=2 withdrawn=0 failed=1" in text.stdout
    shown = json.loads(run_cli(env, "harvest", "show", "env-portal", run["id"], "--outcome", "failed",
                               "--json").stdout)
    assert [r["remoteId"] for r in shown["records"]] == ["pkg-00002"]
    listing = json.loads(run_cli(env, "harvest", "show", "env-portal", "--json").stdout)
    assert len(listing["runs"]) == 2


def test_cli_run_whose_every_record_failed_says_failed_and_exits_non_zero(uow, cli_env, portal):
    identity.create_organisation(uow, "env")
    portal.add(package(0, title=""), package(1, title=""))
    env = {**cli_env, "CONNECTOR_SOURCE_ALLOWLIST": "127.0.0.1"}
    assert run_cli(env, "harvest", "add", "env-portal", "--kind", "ckan", "--url", portal.url,
                   "--org", "env").returncode == 0
    ran = run_cli(env, "harvest", "run", "env-portal")
    assert ran.returncode == 1, ran.stderr
    assert " failed " in ran.stdout and "created=0 updated=0 unchanged=0 withdrawn=0 failed=2" in ran.stdout


def test_cli_refuses_a_loopback_source_without_the_allow_list(uow, cli_env, portal):
    identity.create_organisation(uow, "env")
    refused = run_cli(cli_env, "harvest", "add", "x", "--kind", "ckan", "--url", portal.url, "--org", "env")
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1 and "loopback" in refused.stderr
