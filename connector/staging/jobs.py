"""Use cases a team calls on staging: request a job, watch it, list them, cancel one.

Queuing checks the agreement (visible, active, not ended) and the project's quota; running the
job is the worker's side (:mod:`connector.staging.runner`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy.exc import IntegrityError

from connector.catalog.access import may_see_project_object
from connector.errors import Conflict, NotFound
from connector.identity.principal import Principal
from connector.policies.models import Agreement, AgreementState
from connector.staging.errors import QuotaExceeded, StagingError
from connector.staging.models import JobState, StagingJob
from connector.staging.repository import ACTIVE_STATES
from connector.staging.settings import StagingSettings
from connector.uow import UnitOfWork


def _visible_agreement(uow: UnitOfWork, principal: Principal, agreement_id: str) -> Agreement:
    agreement = uow.agreements.get(agreement_id)
    if agreement is None or not may_see_project_object(principal, agreement.project_id,
                                                       agreement.dataset):
        raise NotFound(f"no agreement {agreement_id!r}")
    return agreement


def project_usage(uow: UnitOfWork, project_id: int) -> int:
    """Bytes the project's published versions hold on the tier."""
    return uow.jobs.published_bytes(project_id)


def quota_of(settings: StagingSettings, project: Any) -> int:
    return project.quota_bytes if project.quota_bytes is not None else settings.default_quota_bytes


def request_staging(uow: UnitOfWork, principal: Principal, agreement_id: str,
                    settings: StagingSettings, *, now: dt.datetime) -> tuple[StagingJob, bool]:
    """Queue the staging of an agreement's dataset version; a second request returns the
    first job (a failed or cancelled one is queued again). Returns (job, created)."""
    with uow:
        agreement = _visible_agreement(uow, principal, agreement_id)
        if agreement.state != AgreementState.ACTIVE or agreement.end <= now:
            raise StagingError(f"the agreement is {agreement.state if agreement.end > now else 'expired'};"
                               " nothing can be staged under it")
        job = uow.jobs.for_agreement(agreement)
        if job is not None and job.state not in (JobState.FAILED, JobState.CANCELLED):
            return job, False
        used = project_usage(uow, agreement.project_id)
        quota = quota_of(settings, agreement.project)
        if used >= quota:
            raise QuotaExceeded(f"project {agreement.project.slug} uses {used} of its {quota} bytes")
        if job is None:
            job = StagingJob(id=str(uuid.uuid4()), agreement=agreement, dataset=agreement.dataset,
                             dataset_version=agreement.dataset_version, project=agreement.project,
                             state=JobState.QUEUED, attempts=0, not_before=now, progress={},
                             bytes=0, rows=0, requested_by=principal.name, created_at=now)
            uow.jobs.add(job)
        else:
            job.state, job.attempts, job.not_before, job.error = JobState.QUEUED, 0, now, None
            job.progress, job.lease_owner, job.lease_expires = {}, None, None
        uow.audit.record(principal, "staging.request", "staging_job", job.id,
                     detail={"agreement": agreement.id, "dataset": agreement.dataset.id,
                             "version": agreement.dataset_version})
        try:
            uow.commit()
        except IntegrityError:  # a concurrent request created the job first: return that one
            uow.rollback()
            return uow.jobs.for_agreement(agreement), False
        return job, True


def _visible_job(uow: UnitOfWork, principal: Principal, job_id: str) -> StagingJob:
    job = uow.jobs.get(job_id)
    if job is None or not may_see_project_object(principal, job.project_id, job.dataset):
        raise NotFound(f"no staging job {job_id!r}")
    return job


def get_job(uow: UnitOfWork, principal: Principal, job_id: str) -> StagingJob:
    with uow:
        return _visible_job(uow, principal, job_id)


def list_jobs(uow: UnitOfWork, principal: Principal, state: str | None = None) -> list[StagingJob]:
    with uow:
        return uow.jobs.visible(principal, state=state)


def cancel_job(uow: UnitOfWork, principal: Principal, job_id: str, *, now: dt.datetime) -> StagingJob:
    """Cancel a queued or running job (a running one stops at its next progress report)."""
    with uow:
        job = _visible_job(uow, principal, job_id)
        if job.state not in ACTIVE_STATES:
            raise Conflict(f"the job is {job.state}; only queued or running jobs can be cancelled")
        job.state, job.finished_at = JobState.CANCELLED, now
        uow.audit.record(principal, "staging.cancel", "staging_job", job.id)
        uow.commit()
        return job
