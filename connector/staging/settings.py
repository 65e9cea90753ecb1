"""What the staging jobs need from the configuration, read once into a frozen value."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connector.adapters.options import SourceLookup, SourceOptions
from connector.adapters.roots import SourceRoots
from connector.sandbox import Limits


@dataclass(frozen=True)
class StagingSettings:
    storage_url: str
    storage_options: dict[str, Any] = field(default_factory=dict)
    secret: str = ""
    source_roots: SourceRoots = field(default_factory=SourceRoots)
    source_allowlist: tuple[str, ...] = ()
    s3_endpoint_url: str | None = None
    s3_use_instance_metadata: bool = False  # botocore may ask 169.254.169.254 for credentials
    ckan_api_token: str | None = field(default=None, repr=False)  # a secret
    default_quota_bytes: int = 1 << 40
    lease_seconds: int = 300
    max_attempts: int = 5
    max_crashes: int = 2  # a job whose worker died this often fails (a poison job)
    isolation: Limits | None = None  # run each job in a child with these limits; None: in-process
    backoff_seconds: float = 10.0
    max_source_bytes: int | None = None
    source_deadline_seconds: float = 6 * 3600.0
    source_read_timeout: float = 60.0
    csv_parse_threads: int | None = None  # None: the CPUs (connector.adapters.chunked)
    source_max_json_depth: int = 64
    source_max_record_bytes: int = 16 << 20
    parquet_encode_threads: int | None = None  # None: half the CPUs (staging.writer)
    arrow_memory_pool: str = "jemalloc"  # connector.staging.memory
    site_location: str = "ai-factory"
    site_region: str = "EU"
    # Adapter options that depend on state, by scheme (dsp: a transfer's data address and token),
    # registered where the application or worker is assembled.
    source_lookups: Mapping[str, SourceLookup] = field(default_factory=dict)

    @property
    def source_options(self) -> SourceOptions:
        """How :func:`connector.staging.source.open_stream` opens a source."""
        return SourceOptions(roots=self.source_roots, allowlist=self.source_allowlist,
                             s3_endpoint_url=self.s3_endpoint_url,
                             s3_use_instance_metadata=self.s3_use_instance_metadata,
                             ckan_api_token=self.ckan_api_token, lookups=self.source_lookups)

    @classmethod
    def from_config(cls, config: dict[str, Any], *,
                    source_lookups: Mapping[str, SourceLookup] | None = None) -> StagingSettings:
        return cls(
            storage_url=config["STORAGE_URL"],
            storage_options={"instance_metadata": config["S3_USE_INSTANCE_METADATA"],
                             **config["STORAGE_OPTIONS"]},
            secret=pseudonymisation_secret(config),
            source_roots=SourceRoots.from_setting(config["SOURCE_ROOTS"]),
            source_allowlist=tuple(config["SOURCE_ALLOWLIST"]),
            s3_endpoint_url=config["S3_ENDPOINT_URL"],
            s3_use_instance_metadata=config["S3_USE_INSTANCE_METADATA"],
            ckan_api_token=config["CKAN_API_TOKEN"],
            default_quota_bytes=config["PROJECT_QUOTA_BYTES"],
            lease_seconds=config["JOB_LEASE_SECONDS"],
            max_attempts=config["JOB_MAX_ATTEMPTS"],
            max_crashes=config["JOB_MAX_CRASHES"],
            isolation=job_limits(config),
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
            source_lookups=dict(source_lookups or {}),
        )


ADDRESS_SPACE_FACTOR, ADDRESS_SPACE_RESERVE = 4, 6 << 30


def job_limits(config: dict[str, Any]) -> Limits | None:
    """The limits of the child process a job (staging or harvest) runs in; None when
    ``JOB_ISOLATION`` is off. ``JOB_CGROUP`` is used only if it is a delegated cgroup v2 with
    the memory controller (else the service does not start). Without it the worker watches the
    child's resident memory and caps its address space (RLIMIT_AS) at four times the limit,
    at least the limit plus 6 GiB: room for what allocators and thread stacks reserve
    without touching (see :mod:`connector.sandbox`)."""
    if not config["JOB_ISOLATION"]:
        return None
    from connector.config import ConfigError
    from connector.sandbox import usable_cgroup

    cgroup = config["JOB_CGROUP"]
    if cgroup and usable_cgroup(cgroup) is None:
        raise ConfigError(f"JOB_CGROUP: {cgroup!r} is not a writable cgroup v2 directory with "
                          "'memory' in its cgroup.subtree_control")
    memory = config["JOB_MEMORY_LIMIT"]
    return Limits(memory_bytes=memory, address_space_bytes=None if memory is None else max(
                      ADDRESS_SPACE_FACTOR * memory, memory + ADDRESS_SPACE_RESERVE),
                  cpu_seconds=config["JOB_CPU_SECONDS"],
                  open_files=config["JOB_OPEN_FILES"], cgroup=cgroup or None)


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
