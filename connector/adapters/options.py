"""The options a source's adapter is opened with, built once from the configuration.

A composition root (the application, the worker) builds one :class:`SourceOptions` and hands it
down; staging asks it for the options of a URL and never looks at the scheme itself. Schemes
whose options depend on state (``dsp://``: the data address and token of a transfer) are
served by a *lookup* the composition root registers, called with the caller's unit of work.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from connector.adapters import scheme_of
from connector.adapters.roots import SourceRoots

SourceLookup = Callable[[Any, str], Mapping[str, Any]]  # (unit of work, url) -> adapter options
_ALLOWLISTED = ("http", "https", "ckan", "ckan+http", "ckan+https")


@dataclass(frozen=True)
class SourceOptions:
    """Roots of local files, the host allow-list, the S3 endpoint, and lookups by scheme."""

    roots: SourceRoots = field(default_factory=SourceRoots)
    allowlist: tuple[str, ...] = ()
    s3_endpoint_url: str | None = None
    s3_use_instance_metadata: bool = False  # botocore may ask 169.254.169.254 for credentials
    ckan_api_token: str | None = field(default=None, repr=False)  # a secret, sent to CKAN portals only
    lookups: Mapping[str, SourceLookup] = field(default_factory=dict)

    def for_url(self, url: str, *, organisation: str | None = None, uow: Any = None) -> dict[str, Any]:
        """The keyword options of ``adapter_for(url, ...)``; local files only under the roots
        of ``organisation`` (without it, only roots shared by all)."""
        scheme = scheme_of(url)
        if scheme in self.lookups:
            return dict(self.lookups[scheme](uow, url)) if uow is not None else {}
        if scheme == "file":
            return {"roots": list(self.roots.for_organisation(organisation))}
        if scheme in _ALLOWLISTED:
            if scheme.startswith("ckan"):
                return {"allowlist": list(self.allowlist), "api_token": self.ckan_api_token}
            return {"allowlist": list(self.allowlist)}
        if scheme == "s3":
            return {"endpoint_url": self.s3_endpoint_url,
                    "use_instance_metadata": self.s3_use_instance_metadata,
                    "allowlist": list(self.allowlist)}
        return {}
