"""What the staging jobs need from the configuration, read once into a frozen value."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class StagingSettings:
    storage_url: str
    storage_options: dict[str, Any] = field(default_factory=dict)
    secret: str = ""
    source_roots: tuple[str, ...] = ()
    source_allowlist: tuple[str, ...] = ()
    s3_endpoint_url: str | None = None
    default_quota_bytes: int = 1 << 40
    lease_seconds: int = 300
    max_attempts: int = 5
    backoff_seconds: float = 10.0
    max_source_bytes: int | None = None
    source_deadline_seconds: float = 6 * 3600.0
    source_read_timeout: float = 60.0
    csv_parse_threads: int | None = None  # None: CONNECTOR_CSV_PARSE_THREADS, else the CPUs
    source_max_json_depth: int = 64
    source_max_record_bytes: int = 16 << 20
    parquet_encode_threads: int | None = None  # None: CONNECTOR_PARQUET_ENCODE_THREADS, else the CPUs
    arrow_memory_pool: str = "jemalloc"  # connector.staging.memory
    site_location: str = "ai-factory"
    site_region: str = "EU"

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> StagingSettings:
        return cls(
            storage_url=config["STORAGE_URL"],
            storage_options=dict(config["STORAGE_OPTIONS"]),
            secret=pseudonymisation_secret(config),
            source_roots=tuple(as_list(config["SOURCE_ROOTS"])),
            source_allowlist=tuple(as_list(config["SOURCE_ALLOWLIST"])),
            s3_endpoint_url=config["S3_ENDPOINT_URL"],
            default_quota_bytes=config["PROJECT_QUOTA_BYTES"],
            lease_seconds=config["JOB_LEASE_SECONDS"],
            max_attempts=config["JOB_MAX_ATTEMPTS"],
            backoff_seconds=config["JOB_BACKOFF_SECONDS"],
            max_source_bytes=config["MAX_SOURCE_BYTES"],
            source_deadline_seconds=config["SOURCE_DEADLINE_SECONDS"],
            source_read_timeout=config["SOURCE_READ_TIMEOUT"],
            csv_parse_threads=config["CSV_PARSE_THREADS"],
            source_max_json_depth=config["SOURCE_MAX_JSON_DEPTH"],
            source_max_record_bytes=config["SOURCE_MAX_RECORD_BYTES"],
            parquet_encode_threads=config["PARQUET_ENCODE_THREADS"],
            arrow_memory_pool=config["ARROW_MEMORY_POOL"],
            site_location=config["SITE_LOCATION"],
            site_region=config["SITE_REGION"],
        )


def as_list(value: Any) -> list[str]:
    """A setting that is a list, or a string of items separated by commas or ``os.pathsep``."""
    if isinstance(value, str):
        return [item.strip() for item in value.replace(os.pathsep, ",").split(",") if item.strip()]
    return [str(item) for item in value or ()]


def pseudonymisation_secret(config: dict[str, Any]) -> str:
    """``PSEUDONYMISATION_SECRET``, or on the embedded default a random one kept (mode 0600)
    in ``$HOME/pseudonymisation.key`` so pseudonyms stay stable across restarts."""
    if config["PSEUDONYMISATION_SECRET"]:
        return config["PSEUDONYMISATION_SECRET"]
    path = Path(config["HOME"]) / "pseudonymisation.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32))
    return path.read_text().strip()
