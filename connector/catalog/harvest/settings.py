"""Harvest settings: what sources and runs take from the configuration."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from connector.catalog.harvest.fetch import FetchSettings


@dataclass(frozen=True)
class HarvestSettings:
    """What runs need from the configuration."""

    allowlist: tuple[str, ...] = ()
    lease_seconds: int = 300
    fetch: FetchSettings = field(default_factory=FetchSettings)
    schemas_dir: str | None = None
    chunk: int = 200

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> HarvestSettings:
        return cls(allowlist=tuple(config["SOURCE_ALLOWLIST"]),
                   lease_seconds=config["HARVEST_LEASE_SECONDS"],
                   fetch=FetchSettings(max_bytes=config["HARVEST_MAX_PAGE_BYTES"],
                                       read_timeout=config["HARVEST_TIMEOUT_SECONDS"],
                                       max_json_depth=config["SOURCE_MAX_JSON_DEPTH"]),
                   schemas_dir=config["SCHEMAS_DIR"])
