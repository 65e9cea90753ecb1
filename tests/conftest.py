"""Shared fixtures: a migrated database (SQLite by default, PostgreSQL when
``CONNECTOR_TEST_DATABASE_URL`` names one), the app, and callers of every role.

The tree mirrors ``connector/``: the tests of ``connector/<package>/`` live in
``tests/<package>/`` and those of a top-level module ``connector/<name>.py`` in
``tests/test_<name>.py``. One exception: ``tests/e2e/`` holds whole-system journeys run
through the real ``connector`` command and server."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from connector import db
from connector.app import create_app
from connector.identity import service as identity
from connector.schemas import SchemaStore
from connector.uow import UnitOfWork

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SCHEMAS = SchemaStore(REPO / "schemas")


def _postgres_url(base: str, schema: str) -> str:
    url = make_url(base)
    return url.set(query={**url.query, "options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False
    )


@contextlib.contextmanager
def migrated_database(directory: Path, name: str) -> Iterator[str]:
    """A freshly migrated database: a SQLite file in ``directory``, or, when
    ``CONNECTOR_TEST_DATABASE_URL`` names a PostgreSQL server, a private schema (dropped after),
    which keeps parallel runs and leftovers apart."""
    base = os.environ.get("CONNECTOR_TEST_DATABASE_URL")
    if not base:
        url = f"sqlite:///{directory / (name + '.db')}"
        engine = db.make_engine(url)
        db.upgrade(engine)
        engine.dispose()
        yield url
        return
    schema = f"connector_{name}_{uuid.uuid4().hex[:10]}"
    admin = db.make_engine(base)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = _postgres_url(base, schema)
    engine = db.make_engine(url)
    db.upgrade(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A freshly migrated database for this test session."""
    with migrated_database(tmp_path_factory.mktemp("db"), "test") as url:
        yield url


TABLES = ("staging_jobs", "agreements", "access_requests", "offers", "dataset_search", "dataset_facets",
          "dataset_versions", "datasets", "audit_events", "project_members", "users", "projects",
          "organisations")


@pytest.fixture
def clean_database(database_url: str):
    """The session's database, emptied after the test."""
    yield database_url
    engine = db.make_engine(database_url)
    with engine.begin() as connection:
        for table in TABLES:
            connection.execute(text(f"DELETE FROM {table}"))  # noqa: S608  (fixed table names)
    engine.dispose()


@pytest.fixture
def app(clean_database: str, tmp_path: Path):
    application = create_app({"DATABASE_URL": clean_database, "HOME": str(tmp_path / "home"),
                              "AUTO_MIGRATE": False, "TESTING": True})
    yield application
    application.extensions["connector"].engine.dispose()


@pytest.fixture
def cli_env(clean_database: str, tmp_path: Path) -> dict[str, str]:
    """Environment for running the ``connector`` command against the test database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
    env.update({"CONNECTOR_HOME": str(tmp_path / "home"), "CONNECTOR_DATABASE_URL": clean_database})
    return env


@pytest.fixture
def uow(app) -> UnitOfWork:
    return UnitOfWork(app.extensions["connector"].session_factory)


class ProblemCheckingClient:
    """The Flask test client, asserting that every error is a valid problem+json body."""

    def __init__(self, client: Any) -> None:
        self._client = client

    @property
    def application(self) -> Any:
        return self._client.application

    def open(self, *args: Any, **kwargs: Any) -> Any:
        response = self._client.open(*args, **kwargs)
        if response.status_code >= 400:
            assert response.mimetype == "application/problem+json", response.data
            SCHEMAS.validate("problem", response.get_json())
            assert response.get_json()["status"] == response.status_code
        return response

    def get(self, *args: Any, **kwargs: Any) -> Any:
        return self.open(*args, method="GET", **kwargs)

    def post(self, *args: Any, **kwargs: Any) -> Any:
        return self.open(*args, method="POST", **kwargs)

    def put(self, *args: Any, **kwargs: Any) -> Any:
        return self.open(*args, method="PUT", **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        return self.open(*args, method="DELETE", **kwargs)


@pytest.fixture
def make(app, actors):
    """The set-up factories of ``tests/factories.py`` over this test's app, with its actors."""
    from tests.factories import Factories  # imported late: factories imports this module

    return Factories(app)


@pytest.fixture
def client(app) -> ProblemCheckingClient:
    return ProblemCheckingClient(app.test_client())


@dataclass
class Actors:
    """Tokens and headers of one caller per role, in two organisations."""

    tokens: dict[str, str]

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


@pytest.fixture
def actors(uow: UnitOfWork) -> Actors:
    """admin; steward of ``health``; steward of ``defence``; member of ``cardio`` (health);
    member of ``radar`` (defence)."""
    identity.create_organisation(uow, "health", "Health Data Agency")
    identity.create_organisation(uow, "defence", "Defence Research Agency")
    identity.create_project(uow, "cardio", "health")
    identity.create_project(uow, "radar", "defence")
    tokens = {}
    for name, role, org, projects in (
        ("admin", "admin", None, ()),
        ("steward", "steward", "health", ()),
        ("defence-steward", "steward", "defence", ()),
        ("member", "member", None, ("cardio",)),
        ("outsider", "member", None, ("radar",)),
    ):
        _, tokens[name] = identity.create_user(uow, name, role, organisation=org, projects=projects)
    return Actors(tokens)


def dataset_body(**overrides: Any) -> dict[str, Any]:
    """A valid dataset registration body; keyword arguments replace fields."""
    body: dict[str, Any] = {
        "identifier": "urn:example:dataset:" + uuid.uuid4().hex[:12],
        "title": {"en": "Cardiac MRI cohort", "de": "Kardiale MRT-Kohorte"},
        "description": "Pseudonymised cardiac MRI measurements of 12,000 adults.",
        "publisher": {"name": "Health Data Agency", "homepage": "https://health.example.eu"},
        "contactPoint": {"fn": "Data desk", "hasEmail": "mailto:data@health.example.eu"},
        "keyword": ["cardiology", "MRI"],
        "theme": ["HEAL"],
        "license": "http://publications.europa.eu/resource/authority/licence/CC_BY_4_0",
        "accessRights": "PUBLIC",
        "temporal": {"startDate": "2019-01-01", "endDate": "2024-12-31"},
        "spatial": ["http://publications.europa.eu/resource/authority/country/DEU"],
        "issued": "2025-03-01",
        "modified": "2025-06-30T12:00:00Z",
        "landingPage": "https://health.example.eu/cardiac-mri",
        "conformsTo": ["https://www.hl7.org/fhir/"],
        "dataSpace": "EHDS pilot",
        "sector": "health",
        "distribution": [{
            "accessURL": "https://health.example.eu/cardiac-mri/data.csv",
            "downloadURL": "https://health.example.eu/cardiac-mri/data.csv",
            "format": "CSV",
            "mediaType": "text/csv",
            "byteSize": 1048576,
            "checksum": {"algorithm": "sha256", "checksumValue": "ab" * 32},
            "schema": {"fields": [{"name": "patient_id", "type": "string"},
                                  {"name": "lvef", "type": "number"}]},
        }],
    }
    body.update(overrides)
    return body

