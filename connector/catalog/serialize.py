"""Catalog objects as the JSON the API returns (schemas ``dataset-response`` and friends)."""

from __future__ import annotations

from typing import Any

from connector.catalog import quality
from connector.catalog.models import DatasetVersion
from connector.catalog.search import SearchResult
from connector.catalog.service import DatasetView


def iso(value: Any) -> str:
    return value.isoformat().replace("+00:00", "Z")


def dataset(view: DatasetView) -> dict[str, Any]:
    body = {
        "id": view.id,
        "version": view.version,
        "latestVersion": view.latest_version,
        "state": view.state,
        "organisation": view.organisation,
        "created": iso(view.created),
        "updated": iso(view.updated),
    }
    body.update(view.document)
    body["quality"] = quality.assess(view.document).to_dict()
    return body


def versions(dataset_id: str, rows: list[DatasetVersion]) -> dict[str, Any]:
    return {
        "id": dataset_id,
        "items": [
            {"version": v.version, "created": iso(v.created_at), "createdBy": v.created_by,
             "contentHash": v.content_hash}
            for v in rows
        ],
    }


def search_result(result: SearchResult, views: list[DatasetView]) -> dict[str, Any]:
    return {
        "count": result.count,
        "items": [dataset(v) for v in views],
        "facets": {
            facet: [{"value": value, "count": n} for value, n in values]
            for facet, values in sorted(result.facets.items())
        },
        "next": result.next_cursor,
    }
