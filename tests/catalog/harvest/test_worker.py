"""Harvest runs in the worker: one run per round, with the configured harvest settings."""

from __future__ import annotations

import subprocess
import sys

from connector.catalog.harvest import runs
from connector.identity.principal import OPERATOR
from connector.worker import Worker
from tests.catalog.harvest.conftest import LOOPBACK
from tests.catalog.harvest.portal import package
from tests.factories import Factories


def test_a_worker_round_runs_one_harvest_run_and_leaves_the_next_for_the_next_round(
        app, uow, portal, source):
    other = Factories(app).harvest_source(portal.url, name="env-portal-2")
    portal.add(package(0), package(1))
    first, _ = runs.enqueue_run(uow, OPERATOR, source.id)
    second, _ = runs.enqueue_run(uow, OPERATOR, other.id)
    ext = app.extensions["connector"]
    worker = Worker(ext.session_factory, ext.staging, harvest=LOOPBACK)
    worker.tick()
    assert runs.get_run(uow, OPERATOR, source.id, first.id).state == "succeeded"
    assert runs.get_run(uow, OPERATOR, other.id, second.id).state == "queued"
    worker.tick()
    done = runs.get_run(uow, OPERATOR, other.id, second.id)
    # The same portal: its identifiers are the first source's datasets now, so each record fails.
    assert done.state == "failed" and done.counts["failed"] == 2


def test_connector_worker_applies_the_configured_harvest_page_limit(uow, cli_env, portal, source):
    portal.add(*(package(i) for i in range(2)))
    run, _ = runs.enqueue_run(uow, OPERATOR, source.id)
    env = {**cli_env, "CONNECTOR_SOURCE_ALLOWLIST": "127.0.0.1", "CONNECTOR_HARVEST_MAX_PAGE_BYTES": "300"}
    done = subprocess.run([sys.executable, "-m", "connector", "worker", "--once"], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    failed = runs.get_run(uow, OPERATOR, source.id, run.id)
    assert failed.state == "failed" and "page larger than 300 bytes" in failed.reason
