"""Queries over staging jobs. Repositories add and read; they never commit.

Workers race for jobs, so the writes that must not lose a race are compare-and-set updates
here (:meth:`JobRepository.claim`, :meth:`~JobRepository.fail_lapsed`,
:meth:`~JobRepository.renew_lease`): each answers whether the row was still as its caller
read it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.orm import Session

from connector.catalog.access import project_or_steward_clause
from connector.catalog.models import Dataset
from connector.identity.principal import Principal
from connector.policies.models import Agreement, AgreementState
from connector.staging.models import JobState, StagingJob

ACTIVE_STATES = (JobState.QUEUED, JobState.RUNNING)


def _lease_is(lease: dt.datetime | None) -> ColumnElement[bool]:
    return (StagingJob.lease_expires == lease) if lease is not None \
        else StagingJob.lease_expires.is_(None)


class JobRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, job: StagingJob) -> None:
        self.session.add(job)

    def get(self, job_id: str) -> StagingJob | None:
        return self.session.scalar(select(StagingJob).where(StagingJob.id == job_id))

    def get_by_pk(self, pk: int) -> StagingJob | None:
        return self.session.scalar(select(StagingJob).where(StagingJob.pk == pk))

    def id_of(self, pk: int) -> str | None:
        return self.session.scalar(select(StagingJob.id).where(StagingJob.pk == pk))

    def for_agreement(self, agreement: Agreement) -> StagingJob | None:
        """The job staging ``agreement``'s dataset version (there is at most one)."""
        return self.session.scalar(select(StagingJob).where(
            StagingJob.agreement_pk == agreement.pk,
            StagingJob.dataset_version == agreement.dataset_version))

    def visible(self, principal: Principal, *, state: str | None = None) -> list[StagingJob]:
        """Jobs of ``principal``'s projects and on datasets it stewards, newest first."""
        query = (select(StagingJob).join(Dataset, Dataset.pk == StagingJob.dataset_pk)
                 .where(project_or_steward_clause(principal, StagingJob.project_id)))
        if state:
            query = query.where(StagingJob.state == state)
        return list(self.session.scalars(query.order_by(StagingJob.pk.desc())))

    def published_bytes(self, project_id: int) -> int:
        """Bytes the project's published versions hold on the tier."""
        return self.session.scalar(select(func.coalesce(func.sum(StagingJob.bytes), 0)).where(
            StagingJob.project_id == project_id, StagingJob.state == JobState.PUBLISHED)) or 0

    def runnable(self, now: dt.datetime, *, job_id: str | None = None,
                 limit: int = 5) -> list[tuple[int, str, dt.datetime | None, str | None, int]]:
        """(pk, state, lease_expires, lease_owner, crashes) of up to ``limit`` jobs a worker
        may take: queued and due, or running with a lapsed lease; oldest first."""
        query = select(StagingJob.pk, StagingJob.state, StagingJob.lease_expires,
                       StagingJob.lease_owner, StagingJob.crashes).where(or_(
                           (StagingJob.state == JobState.QUEUED) & (StagingJob.not_before <= now),
                           (StagingJob.state == JobState.RUNNING) & (StagingJob.lease_expires < now)))
        if job_id:
            query = query.where(StagingJob.id == job_id)
        return [tuple(row) for row in  # type: ignore[misc]
                self.session.execute(query.order_by(StagingJob.pk).limit(limit))]

    def claim(self, pk: int, state: str, lease: dt.datetime | None, *, worker: str,
              now: dt.datetime, lease_seconds: float, crashes: int) -> bool:
        """Make job ``pk`` running under ``worker`` if it is still in ``state`` with lease
        ``lease`` (as :meth:`runnable` read it); counts the attempt. False if another won."""
        claimed = self.session.execute(
            update(StagingJob)
            .where(StagingJob.pk == pk, StagingJob.state == state, _lease_is(lease))
            .values(state=JobState.RUNNING, lease_owner=worker, attempts=StagingJob.attempts + 1,
                    lease_expires=now + dt.timedelta(seconds=lease_seconds),
                    started_at=now, crashes=crashes)
            .execution_options(synchronize_session=False))
        return claimed.rowcount == 1

    def fail_lapsed(self, pk: int, owner: str | None, lease: dt.datetime | None, *,
                    now: dt.datetime, error: dict[str, Any], crashes: int) -> bool:
        """Fail job ``pk`` if it is still running under ``owner`` with lease ``lease``."""
        failed = self.session.execute(
            update(StagingJob)
            .where(StagingJob.pk == pk, StagingJob.state == JobState.RUNNING,
                   StagingJob.lease_owner == owner, _lease_is(lease))
            .values(state=JobState.FAILED, finished_at=now, error=error, crashes=crashes,
                    lease_owner=None, lease_expires=None)
            .execution_options(synchronize_session=False))
        return failed.rowcount == 1

    def renew_lease(self, job_id: str, worker: str, *, expires: dt.datetime,
                    progress: dict[str, Any] | None = None) -> bool:
        """Extend ``worker``'s lease on the running job (recording ``progress`` when given);
        False when the job was cancelled or its lease passed to another worker."""
        values: dict[str, Any] = {"lease_expires": expires}
        if progress is not None:
            values["progress"] = progress
        claimed = self.session.execute(
            update(StagingJob).where(StagingJob.id == job_id, StagingJob.lease_owner == worker,
                                     StagingJob.state == JobState.RUNNING)
            .values(**values).execution_options(synchronize_session=False))
        return claimed.rowcount == 1

    def record(self, job_id: str, **values: Any) -> None:
        """Set columns of the job's row without loading it."""
        self.session.execute(update(StagingJob).where(StagingJob.id == job_id).values(**values)
                             .execution_options(synchronize_session=False))

    def under_ended_agreements(self) -> list[StagingJob]:
        """Published or unfinished jobs whose agreement is no longer active."""
        return list(self.session.scalars(
            select(StagingJob).join(Agreement, Agreement.pk == StagingJob.agreement_pk).where(
                Agreement.state != AgreementState.ACTIVE,
                StagingJob.state.in_([JobState.PUBLISHED, *ACTIVE_STATES]))))
