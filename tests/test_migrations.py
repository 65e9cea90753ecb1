"""The Alembic migrations build exactly the tables the models declare, and go both ways."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from connector import db
from connector.db import Base
from connector.models import catalog_models  # noqa: F401
from tests.conftest import REPO, _postgres_url


def test_migrated_schema_matches_the_models(app):
    engine = app.extensions["connector"].engine
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={
            "compare_type": False, "include_object": db.include_in_autogenerate})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_database_is_at_head(app):
    engine = app.extensions["connector"].engine
    assert db.current_revision(engine) == db.head_revision(engine)


def test_downgrade_to_base_and_upgrade_again_on_a_fresh_sqlite(tmp_path):
    engine = db.make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    db.upgrade(engine)
    from alembic import command

    command.downgrade(db.alembic_config(engine), "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    db.upgrade(engine)
    assert "datasets" in inspect(engine).get_table_names()


def test_upgrade_to_0004_indexes_existing_datasets_again(tmp_path):
    from sqlalchemy import text

    from connector.catalog import service
    from connector.catalog.search import SearchQuery
    from connector.identity import service as identity
    from connector.identity.principal import OPERATOR
    from connector.uow import UnitOfWork
    from tests.conftest import dataset_body

    engine = db.make_engine(f"sqlite:///{tmp_path / 'r.db'}")
    db.upgrade(engine, "0003")
    unit = UnitOfWork(db.make_session_factory(engine))
    identity.create_organisation(unit, "health")
    service.register_dataset(unit, OPERATOR, dataset_body(organisation="health", theme=["ENVI"]))
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM dataset_search"))  # as a 0003 index would lack tokens
    query = SearchQuery(text="cardiac", filters={"theme": ["ENVI"]})
    assert service.search_datasets(unit, OPERATOR, query)[0].count == 0
    db.upgrade(engine)
    assert service.search_datasets(unit, OPERATOR, query)[0].count == 1


# Run in a child process: the model gains a column there, as it will when a later revision
# adds one to ``datasets``; the database is still at 0003 and has no such column.
_LATER_COLUMN = """
import sys
from sqlalchemy import Column, String, text
from connector import db
from connector.catalog import service
from connector.catalog.models import Dataset
from connector.identity import service as identity
from connector.identity.principal import OPERATOR
from connector.uow import UnitOfWork
from tests.conftest import dataset_body

engine = db.make_engine(sys.argv[1])
db.upgrade(engine, "0003")
unit = UnitOfWork(db.make_session_factory(engine))
identity.create_organisation(unit, "health")
service.register_dataset(unit, OPERATOR, dataset_body(organisation="health", theme=["ENVI"]))
with engine.begin() as connection:  # as a 0003 index would lack the later facets and tokens
    connection.execute(text("DELETE FROM dataset_search"))
    connection.execute(text("DELETE FROM dataset_facets"))
Dataset.added_by_a_later_revision = Column(String(8))
db.upgrade(engine)
with engine.connect() as connection:
    facets = connection.execute(text("SELECT facet, value FROM dataset_facets ORDER BY facet")).all()
print(sorted({facet for facet, _ in facets}))
engine.dispose()
"""


@pytest.fixture
def fresh_database_url(tmp_path):
    """An empty database of the backend under test (a new PostgreSQL schema, or a SQLite file)."""
    base = os.environ.get("CONNECTOR_TEST_DATABASE_URL")
    if not base:
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    schema = f"connector_fresh_{uuid.uuid4().hex[:10]}"
    admin = db.make_engine(base)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _postgres_url(base, schema)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_reindexing_migrations_run_when_the_model_has_columns_of_a_later_revision(fresh_database_url):
    done = subprocess.run([sys.executable, "-c", _LATER_COLUMN, fresh_database_url], cwd=REPO,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    facets = ast.literal_eval(done.stdout.strip().splitlines()[-1])
    assert {"theme", "organisation", "quality", "access_rights"} <= set(facets)
