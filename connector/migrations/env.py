"""Alembic environment: runs against the engine handed over by ``connector.db.upgrade``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

import connector.models  # noqa: F401  (registers every table on Base.metadata)
from connector.db import Base

config = context.config
engine = config.attributes.get("engine")
if engine is None:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("run migrations through `connector db upgrade`")
    engine = create_engine(url)



def include_object(obj, name, type_, reflected, compare_to):  # noqa: ANN001
    """The full-text tables are dialect-specific and made by hand in 0001: leave them out."""
    return not (type_ == "table" and name.startswith("dataset_search"))


with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        include_object=include_object,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
