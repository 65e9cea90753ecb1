"""``_manifest.json``: the commit record of a published version.

Readers trust only the files a manifest lists, and only with the size and sha256 it gives.
The document is described by ``schemas/manifest.schema.json``; :mod:`connector.manifest_read`
holds the few checks a reader needs without loading JSON Schema (safe file names, checksums, sizes).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import pyarrow as pa

from connector import __version__
from connector.manifest_read import MANIFEST_VERSION
from connector.staging.writer import PartInfo


def format_timestamp(moment: datetime) -> str:
    """UTC, ISO 8601, seconds, with ``Z``: ``2025-06-30T12:00:00Z``. Naive datetimes are refused."""
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def schema_fields(schema: pa.Schema) -> list[dict[str, Any]]:
    """Readable Arrow fields: name, Arrow type as text, nullability."""
    return [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in schema]


def encode_schema(schema: pa.Schema) -> str:
    """The Arrow schema as base64 of its IPC serialisation (exact, metadata included)."""
    return base64.b64encode(schema.serialize().to_pybytes()).decode("ascii")


def provenance_entry(source: Mapping[str, Any]) -> dict[str, Any]:
    """One source: ``url``, ``bytes`` and ``sha256`` read, ``finalUrl`` after redirects."""
    try:
        entry = {"url": str(source["url"]), "bytes": int(source["bytes"]),
                 "sha256": str(source["sha256"]).lower(),
                 "finalUrl": str(source.get("finalUrl") or source.get("final_url") or source["url"])}
    except KeyError as exc:
        raise ValueError(f"provenance entry lacks {exc.args[0]!r}: {dict(source)!r}") from None
    return entry


def build_manifest(
    *,
    project: str,
    dataset: str,
    version: str,
    schema: pa.Schema,
    parts: Sequence[PartInfo],
    provenance: Iterable[Mapping[str, Any]],
    agreement: str,
    policy: str,
    duties: Sequence[Mapping[str, Any]],
    created: datetime,
    expires: datetime | None,
    dataset_id: str | None = None,
    job: str | None = None,
    attempt: str | None = None,
    compression: str = "zstd",
) -> dict[str, Any]:
    """The manifest of a version written as ``parts``."""
    doc: dict[str, Any] = {
        "manifestVersion": MANIFEST_VERSION,
        "project": project,
        "dataset": {"id": dataset_id or dataset, "name": dataset, "version": version},
        "agreement": agreement,
        "policy": policy,
        "created": format_timestamp(created),
        "expires": format_timestamp(expires) if expires is not None else None,
        "format": "parquet",
        "compression": compression,
        "rows": sum(p.rows for p in parts),
        "bytes": sum(p.bytes for p in parts),
        "files": [{"path": p.name, "rows": p.rows, "bytes": p.bytes, "sha256": p.sha256,
                   "rowGroups": p.row_groups} for p in parts],
        "schema": {"fields": schema_fields(schema), "arrow": encode_schema(schema)},
        "provenance": [provenance_entry(s) for s in provenance],
        "duties": [dict(d) for d in duties],
        "croissant": "croissant.json",
        "writer": {"software": f"connector {__version__}", "pyarrow": pa.__version__},
    }
    if job is not None:
        doc["job"] = job
    if attempt is not None:
        doc["attempt"] = attempt
    return doc


def encode_manifest(doc: Mapping[str, Any]) -> bytes:
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


@lru_cache(maxsize=1)
def _store() -> Any:
    from connector.config import default_schemas_dir
    from connector.schemas import SchemaStore

    return SchemaStore(default_schemas_dir())


def prepare_manifest_validation() -> None:
    """Load the schemas and build the manifest's validators (about 0.2 s in a fresh process),
    so that :func:`validate_manifest` at the end of a staging job costs next to nothing."""
    _store().prepare("manifest")


def validate_manifest(doc: Any) -> None:
    """Validate against ``schemas/manifest.schema.json``; raise ``ValidationFailed`` listing
    every error with its JSON path."""
    _store().validate("manifest", doc)
