"""Usage-control objects as the JSON the API returns (schemas offer, access-request-response,
agreement)."""

from __future__ import annotations

from typing import Any

from connector.catalog.serialize import iso
from connector.policies.models import AccessRequest, Agreement, Offer


def _iso(value: Any) -> str | None:
    return iso(value) if value is not None else None


def offer(item: Offer) -> dict[str, Any]:
    return {"id": item.id, "dataset": item.dataset.id, "policy": item.document,
            "approval": item.approval, "active": item.active, "created": iso(item.created_at),
            "createdBy": item.created_by}


def access_request(item: AccessRequest) -> dict[str, Any]:
    body = {
        "id": item.id, "dataset": item.dataset.id, "version": item.dataset_version,
        "offer": item.offer.id, "project": item.project.slug, "requester": item.requester.name,
        "purpose": item.purpose, "state": item.state, "decision": item.decision,
        "created": iso(item.created_at), "decided": _iso(item.decided_at),
        "decidedBy": item.decided_by, "comment": item.comment,
        "agreement": item.agreement.id if item.agreement else None,
    }
    for key in ("start", "end"):
        if item.context.get(key):
            body[key] = item.context[key]
    return body


def agreement(item: Agreement) -> dict[str, Any]:
    return {
        "id": item.id, "request": item.request.id, "dataset": item.dataset.id,
        "version": item.dataset_version, "offer": item.offer.id, "policy": item.policy,
        "project": item.project.slug, "purpose": item.purpose, "start": iso(item.start),
        "end": iso(item.end), "obligations": item.obligations, "state": item.state,
        "created": iso(item.created_at), "ended": _iso(item.ended_at), "endedBy": item.ended_by,
        "endReason": item.end_reason,
    }
