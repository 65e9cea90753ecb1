"""Harvest fixtures: the database emptied of harvest rows too, a CKAN portal on 127.0.0.1,
an organisation, and settings that admit the loopback portal."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text

from connector import db
from connector.catalog.harvest import runs
from connector.catalog.harvest.settings import HarvestSettings
from connector.db import utcnow
from connector.identity import service as identity
from connector.identity.principal import OPERATOR
from tests.catalog.harvest.portal import Portal
from tests.conftest import TABLES
from tests.factories import Factories

HARVEST_TABLES = ("harvest_records", "harvest_links", "harvest_runs", "harvest_sources")
LOOPBACK = HarvestSettings(allowlist=("127.0.0.1",), lease_seconds=60)


@pytest.fixture
def clean_database(database_url: str):
    """The session's database, emptied after the test (harvest tables first: they refer to
    datasets and organisations)."""
    yield database_url
    engine = db.make_engine(database_url)
    with engine.begin() as connection:
        for table in (*HARVEST_TABLES, *TABLES):
            connection.execute(text(f"DELETE FROM {table}"))  # noqa: S608  (fixed table names)
    engine.dispose()


@pytest.fixture
def portal() -> Iterator[Portal]:
    with Portal() as running:
        yield running


@pytest.fixture
def org(uow):
    return identity.create_organisation(uow, "env", "Environment Agency")


@pytest.fixture
def source(app, org, portal):
    """The portal as a CKAN source of ``env``, asking for two packages a page."""
    return Factories(app).harvest_source(portal.url, options={"rows": 2})


def run_once(uow, source_id: str, settings: HarvestSettings = LOOPBACK, *, full: bool = False,
             **kwargs):
    """Queue, claim and run one run of the source, as the CLI does."""
    run, _ = runs.enqueue_run(uow, OPERATOR, source_id, full=full)
    claimed = runs.claim_run(uow, "test-worker", now=utcnow(), lease_seconds=settings.lease_seconds,
                                run_id=run.id)
    assert claimed == run.id
    return runs.run_run(uow, claimed, "test-worker", settings, **kwargs)
