"""The Alembic migrations build exactly the tables the models declare, and go both ways."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from connector import db
from connector.db import Base
from connector.models import catalog_models  # noqa: F401


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
