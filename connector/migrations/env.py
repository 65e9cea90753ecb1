"""Alembic environment: runs against the engine handed over by ``connector.db.upgrade``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

import connector.models  # noqa: F401  (registers every table on Base.metadata)
from connector.db import Base, include_in_autogenerate

config = context.config
engine = config.attributes.get("engine")
if engine is None:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("run migrations through `connector db upgrade`")
    engine = create_engine(url)



with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        include_object=include_in_autogenerate,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
