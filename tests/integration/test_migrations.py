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
