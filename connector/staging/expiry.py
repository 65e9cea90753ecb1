"""Removal of what ended: versions staged under agreements that expired or were revoked."""

from __future__ import annotations

import datetime as dt

from connector.staging.models import JobState, StagingJob
from connector.staging.settings import StagingSettings
from connector.staging.storage import StorageTier
from connector.uow import UnitOfWork


def remove_ended(uow: UnitOfWork, settings: StagingSettings, *, now: dt.datetime,
                 tier: StorageTier | None = None) -> list[StagingJob]:
    """Delete from the tier the versions staged under agreements that expired or were revoked;
    cancel their unfinished jobs. Each removal is an audit event."""
    from connector.policies.service import expire_due

    expire_due(uow, now)
    with uow:
        ended = uow.jobs.under_ended_agreements()
    if not ended:
        return []
    tier = tier or StorageTier.from_url(settings.storage_url, **settings.storage_options)
    for job in ended:
        with uow:
            row = uow.jobs.get_by_pk(job.pk)
            reason = f"agreement {row.agreement.state}: {row.agreement.end_reason or ''}".strip(": ")
            if row.state == JobState.PUBLISHED:
                removed = tier.remove_version(row.project.slug, row.dataset.id, str(row.dataset_version))
                row.state, row.removed_at = JobState.REMOVED, now
                uow.audit.record(None, "staging.remove", "staging_job", row.id,
                                 detail={"location": row.location, "bytes": removed,
                                         "reason": reason, "agreement": row.agreement.id})
            else:
                row.state, row.finished_at = JobState.CANCELLED, now
                row.error = {"code": "agreement-ended", "detail": reason, "transient": False}
                uow.audit.record(None, "staging.cancel", "staging_job", row.id,
                                 detail={"reason": reason})
            uow.commit()
    return ended
