"""Staging jobs as the JSON the API returns (schema ``staging-job``)."""

from __future__ import annotations

from typing import Any

from connector.catalog.serialize import iso
from connector.staging.models import StagingJob


def job(item: StagingJob) -> dict[str, Any]:
    return {
        "id": item.id, "agreement": item.agreement.id, "dataset": item.dataset.id,
        "version": item.dataset_version, "project": item.project.slug, "state": item.state,
        "attempts": item.attempts, "progress": item.progress or {}, "error": item.error,
        "location": item.location, "rows": item.rows, "bytes": item.bytes,
        "created": iso(item.created_at),
        "started": iso(item.started_at) if item.started_at else None,
        "finished": iso(item.finished_at) if item.finished_at else None,
        "removed": iso(item.removed_at) if item.removed_at else None,
        "requestedBy": item.requested_by,
    }
