"""Which distribution of a dataset version a job stages, and how its source is opened."""

from __future__ import annotations

from typing import Any

from connector.staging.errors import StagingError
from connector.staging.settings import StagingSettings
from connector.uow import UnitOfWork

#: Table formats the adapters read, in the order a distribution is preferred.
STAGEABLE = ("PARQUET", "ARROW", "FEATHER", "CSV", "TSV", "JSONL", "NDJSON", "JSON")


def choose_distribution(document: dict[str, Any]) -> dict[str, Any]:
    """The distribution to stage: the first one in the most preferred table format."""
    candidates = [d for d in document.get("distribution", [])
                  if d.get("format", "").upper() in STAGEABLE or "format" not in d]
    if not candidates:
        formats = sorted({d.get("format", "?") for d in document.get("distribution", [])})
        raise StagingError("the dataset version has no distribution in a table format "
                           f"(has: {', '.join(formats) or 'none'}; stageable: {', '.join(STAGEABLE)})")
    return min(candidates, key=lambda d: STAGEABLE.index(d["format"].upper())
               if d.get("format", "").upper() in STAGEABLE else len(STAGEABLE))


def source_spec(distribution: dict[str, Any], settings: StagingSettings):  # -> SourceSpec
    from connector.adapters.base import SourceSpec

    fmt = (distribution.get("format") or "").lower()
    fmt = {"ndjson": "jsonl", "feather": "arrow"}.get(fmt, fmt) or None
    fields = tuple(distribution["schema"]["fields"]) if "schema" in distribution else None
    media = distribution.get("compressFormat", "")
    compression = {"application/gzip": "gzip", "application/x-bzip2": "bz2",
                   "application/zstd": "zstd", "application/zip": "zip"}.get(media)
    return SourceSpec(distribution.get("downloadURL") or distribution["accessURL"], format=fmt,
                      compression=compression, fields=fields, max_bytes=settings.max_source_bytes,
                      deadline=settings.source_deadline_seconds,
                      read_timeout=settings.source_read_timeout, csv_threads=settings.csv_parse_threads,
                      max_json_depth=settings.source_max_json_depth,
                      max_record_bytes=settings.source_max_record_bytes)


def open_stream(spec: Any, settings: StagingSettings, uow: UnitOfWork | None = None, *,
                organisation: str | None = None):  # -> SourceStream
    """Open ``spec`` with the options of its adapter (:attr:`StagingSettings.source_options`);
    local files only under the roots of ``organisation``, the dataset's owner (without it, only
    roots shared by all)."""
    from connector.adapters import adapter_for

    options = settings.source_options.for_url(spec.url, organisation=organisation, uow=uow)
    return adapter_for(spec.url, **options).read(spec)
