"""Poison jobs: a job whose worker died while running it JOB_MAX_CRASHES times ends failed
with the cause and an audit event, whether the parent saw its child die or the whole worker
vanished and its lease ran out; a killed staging's temporary prefix goes at the next claim."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from pathlib import Path

import pytest
from sqlalchemy import select

from connector.audit import AuditEvent
from connector.db import utcnow
from connector.staging import runner
from connector.staging.models import JobState, StagingJob
from connector.staging.storage import StorageTier
from tests.staging.test_api import agreement_for, app, write_csv  # noqa: F401

WORKER = "host:1:abc"


@pytest.fixture
def job_id(client, actors, app):  # noqa: F811
    source = Path(app.config["SOURCE_ROOTS"][0]) / "health" / "poison.csv"
    write_csv(source, rows=10)
    agreement = agreement_for(client, actors, source.as_uri())
    return client.post("/api/v1/stagings", json={"agreement": agreement["id"]},
                       headers=actors.headers("member")).get_json()["id"]


@pytest.fixture
def settings(app):  # noqa: F811
    return dataclasses.replace(app.extensions["connector"].staging, lease_seconds=60, max_crashes=2)


def row(uow, job_id):
    with uow:
        return uow.session.scalar(select(StagingJob).where(StagingJob.id == job_id))


def audit_actions(uow, job_id):
    with uow:
        return [(e.action, (e.detail or {}).get("code")) for e in uow.session.scalars(
            select(AuditEvent).where(AuditEvent.object_id == job_id).order_by(AuditEvent.id))]


def test_a_job_whose_child_died_twice_fails_with_the_cause_and_an_audit_event(uow, job_id, settings):
    now = utcnow()
    assert runner.claim_job(uow, WORKER, settings, now=now) == job_id
    first = runner.worker_died(uow, job_id, WORKER, "the worker was killed by signal 11 (SIGSEGV)",
                               settings, clock=lambda: now)
    assert first.state == JobState.QUEUED and first.crashes == 1
    assert runner.claim_job(uow, WORKER, settings, now=now) == job_id
    second = runner.worker_died(uow, job_id, WORKER, "the worker was killed by signal 11 (SIGSEGV)",
                                settings, clock=lambda: now)
    assert second.state == JobState.FAILED and second.attempts == 2 and second.crashes == 2
    assert second.error["code"] == "worker-died"
    assert second.error["detail"].startswith("the worker was killed by signal 11 (SIGSEGV)")
    assert "CONNECTOR_JOB_MAX_CRASHES" in second.error["detail"]
    assert audit_actions(uow, job_id)[-2:] == [("staging.retry", "worker-died"),
                                               ("staging.fail", "worker-died")]
    assert runner.claim_job(uow, WORKER, settings, now=now + dt.timedelta(hours=1)) is None


def test_a_job_whose_worker_vanished_twice_fails_at_the_next_claim(uow, job_id, settings):
    now = utcnow()
    assert runner.claim_job(uow, "first:1:a", settings, now=now) == job_id
    later = now + dt.timedelta(seconds=61)  # the first worker was SIGKILLed: its lease ran out
    assert runner.claim_job(uow, "second:2:b", settings, now=later) == job_id
    assert row(uow, job_id).crashes == 1 and row(uow, job_id).attempts == 2
    assert runner.claim_job(uow, "third:3:c", settings, now=later + dt.timedelta(seconds=61)) is None
    failed = row(uow, job_id)
    assert failed.state == JobState.FAILED and failed.lease_owner is None
    assert "the worker second:2:b stopped while running the job" in failed.error["detail"]
    assert audit_actions(uow, job_id)[-1] == ("staging.fail", "worker-died")


def test_a_killed_stagings_temporary_prefix_goes_when_the_job_is_next_claimed(
        uow, job_id, settings, app):  # noqa: F811
    now = utcnow()
    assert runner.claim_job(uow, "first:1:a", settings, now=now) == job_id
    job = row(uow, job_id)
    tier = StorageTier.from_url(settings.storage_url)
    where = (job.project.slug, job.dataset.id, str(job.dataset_version))
    killed = dataclasses.replace(tier, owner=job_id).begin(*where)  # what the killed worker wrote
    Path(killed.path, "part-00000.parquet").write_bytes(b"x" * 4096)
    other = dataclasses.replace(tier, owner="another-job").begin(*where)
    assert tier.usage(job.project.slug) == 0  # temporary bytes never count
    assert runner.claim_job(uow, "second:2:b", settings, now=now + dt.timedelta(seconds=61)) == job_id
    assert not os.path.exists(killed.path)
    assert os.path.exists(other.path)
