"""Harvest sources, runs and per-record results as the JSON the API and the CLI print."""

from __future__ import annotations

from typing import Any

from connector.catalog.harvest.models import HarvestRecord, HarvestRun, HarvestSource


def iso(value: Any) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def source(row: HarvestSource) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "kind": row.kind, "url": row.url,
            "organisation": row.organisation.slug, "options": row.options or {},
            "scheduleSeconds": row.schedule_seconds, "createdBy": row.created_by,
            "created": iso(row.created_at)}


def run(row: HarvestRun) -> dict[str, Any]:
    return {"id": row.id, "source": row.source.id, "sourceName": row.source.name, "state": row.state,
            "full": row.full, "complete": row.complete, "since": row.since,
            "newestModified": row.newest_modified, "counts": row.counts or {}, "reason": row.reason,
            "requestedBy": row.requested_by, "created": iso(row.created_at),
            "started": iso(row.started_at), "finished": iso(row.finished_at)}


def record(row: HarvestRecord) -> dict[str, Any]:
    return {"remoteId": row.remote_id, "outcome": row.outcome, "dataset": row.dataset_id,
            "reason": row.reason}
