"""Local source roots belong to organisations: checked at registration and again at staging."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.adapters.errors import SourceRefused
from connector.app import create_app
from connector.staging.source import open_stream, source_spec
from tests.conftest import dataset_body


@pytest.fixture
def app(clean_database, tmp_path):
    application = create_app({"DATABASE_URL": clean_database, "HOME": str(tmp_path / "home"),
                              "AUTO_MIGRATE": False, "TESTING": True,
                              "SOURCE_ROOTS": [str(tmp_path / "sources")]})
    yield application
    application.extensions["connector"].engine.dispose()


@pytest.fixture
def health_file(tmp_path) -> Path:
    """A file put for organisation ``health`` into its folder under the one shared root."""
    path = tmp_path / "sources" / "health" / "ok.csv"
    path.parent.mkdir(parents=True)
    path.write_text("patient_id,lvef\nP1,55\n")
    return path


def _register(client, actors, who: str, organisation: str, url: str):
    body = dataset_body(organisation=organisation, distribution=[{"accessURL": url, "format": "CSV"}])
    return client.post("/api/v1/datasets", json=body, headers=actors.headers(who))


def test_a_steward_cannot_register_another_organisations_local_file(client, actors, health_file):
    refused = _register(client, actors, "defence-steward", "defence", health_file.as_uri())
    assert refused.status_code == 422
    problem = refused.get_json()
    assert problem["errors"][0]["path"] == "$.distribution[0].accessURL"
    assert "outside the local source roots of organisation 'defence'" in problem["errors"][0]["message"]
    assert _register(client, actors, "steward", "health", health_file.as_uri()).status_code == 201


def test_a_file_loose_in_the_shared_root_belongs_to_no_organisation(client, actors, tmp_path):
    loose = tmp_path / "sources" / "loose.csv"
    loose.parent.mkdir(parents=True)
    loose.write_text("a\n1\n")
    assert _register(client, actors, "steward", "health", loose.as_uri()).status_code == 422


def test_a_revision_cannot_point_a_dataset_at_another_organisations_file(
        client, actors, health_file, tmp_path):
    own = tmp_path / "sources" / "defence" / "radar.csv"
    own.parent.mkdir(parents=True)
    own.write_text("a\n1\n")
    created = _register(client, actors, "defence-steward", "defence", own.as_uri()).get_json()
    body = dataset_body(identifier=created["identifier"], organisation="defence",
                        distribution=[{"accessURL": own.as_uri(), "downloadURL": health_file.as_uri(),
                                       "format": "CSV"}])
    revised = client.put(f"/api/v1/datasets/{created['id']}", json=body,
                         headers=actors.headers("defence-steward"))
    assert revised.status_code == 422
    assert revised.get_json()["errors"][0]["path"] == "$.distribution[0].downloadURL"


def test_staging_opens_a_local_file_only_under_the_owners_roots(app, health_file):
    settings = app.extensions["connector"].staging
    spec = source_spec({"accessURL": health_file.as_uri(), "format": "CSV"}, settings)
    with open_stream(spec, settings, organisation="health") as stream:
        assert stream.read_all().num_rows == 1
    with pytest.raises(SourceRefused, match="leads outside the local source roots"):
        open_stream(spec, settings, organisation="defence")
    with pytest.raises(SourceRefused, match="no local source roots"):
        open_stream(spec, settings)  # an owner unknown: only roots shared by all, none here
