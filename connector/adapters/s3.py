"""S3 and S3-compatible sources (MinIO, Ceph, ...) through s3fs: ``s3://bucket/key``.

A key ending in ``/`` or naming a prefix is several files (its data files, sorted).
Credentials come from the environment as botocore finds them (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``); never from the spec. botocore's chain would end by
asking the instance metadata service (169.254.169.254) for a role; that step is removed unless
the operator opts in (``use_instance_metadata``, the ``S3_USE_INSTANCE_METADATA`` setting), so
a connector without credentials never talks to the metadata service.
The endpoint: ``options["endpoint_url"]`` of the spec (checked by the SSRF guard, because
specs come from catalog metadata), else the adapter's ``endpoint_url`` (the
``S3_ENDPOINT_URL`` setting), else AWS. botocore retries each request (``max_attempts``,
standard mode with back-off, SlowDown included), so a throttled block does not restart the
whole read; the job runner retries what is left over. Reads use 32 MiB blocks (staging from S3 with
8 MiB blocks took twice as long as with 64 MiB in the performance notes).
"""

from __future__ import annotations

from typing import Any

import aiobotocore.session
import s3fs
from botocore.exceptions import BotoCoreError

from connector.adapters import formats
from connector.adapters.base import Location, Opened, SourceAdapter, SourceSpec, display_url
from connector.adapters.errors import SourceRefused, TerminalSourceError, TransientSourceError
from connector.adapters.safety import Allowlist, check_url
from connector.adapters.streams import Budget, Reader

S3_BLOCK_SIZE = 32 << 20
PROBE_BLOCK_SIZE = 1 << 20
SPEC_OPTIONS = ("endpoint_url", "anon", "region", "requester_pays", "version_id")


def s3_session(*, use_instance_metadata: bool) -> aiobotocore.session.AioSession | None:
    """The session for s3fs: None (s3fs makes its own, whose credential chain may ask the
    instance metadata service) when the operator opts in, else a new session whose chain has
    no instance-metadata step (environment, config files, container role; no 169.254.169.254).
    A session keeps the credentials it first finds: make one per adapter or tier, not per
    process."""
    if use_instance_metadata:
        return None
    session = aiobotocore.session.AioSession()
    session.get_component("credential_provider").remove("iam-role")
    return session


def _transient(exc: Exception, where: str) -> TransientSourceError:
    return TransientSourceError(f"{where}: {type(exc).__name__}: {exc}")


class _Body(Reader):
    """An s3fs file whose client-library errors become source errors."""

    def __init__(self, file: Any, where: str) -> None:
        super().__init__()
        self._file, self._where = file, where

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def read(self, n: int = -1) -> bytes:
        try:
            return self._file.read(n)
        except BotoCoreError as exc:
            raise _transient(exc, self._where) from exc

    def close(self) -> None:
        try:
            self._file.close()
        finally:
            super().close()


class S3Adapter(SourceAdapter):
    """Reads ``s3://`` URLs; ``endpoint_url`` for S3-compatible stores (trusted: operator set)."""

    schemes = ("s3",)

    def __init__(self, *, endpoint_url: str | None = None,
                 allowlist: Allowlist | list[str] | None = None, block_size: int = S3_BLOCK_SIZE,
                 max_attempts: int = 3, storage_options: dict[str, Any] | None = None,
                 use_instance_metadata: bool = False, spool_dir: str | None = None) -> None:
        super().__init__(spool_dir=spool_dir)
        self.endpoint_url = endpoint_url or None
        self.allowlist = Allowlist.of(allowlist)
        self.block_size = block_size
        self.max_attempts = max_attempts
        self.storage_options = dict(storage_options or {})
        self.use_instance_metadata = use_instance_metadata
        self._filesystems: dict[tuple[Any, ...], s3fs.S3FileSystem] = {}

    def filesystem(self, spec: SourceSpec) -> s3fs.S3FileSystem:
        """The s3fs file system for ``spec``, one per adapter and set of options (not in
        fsspec's process-wide cache: it would keep every job's session alive)."""
        options = dict(spec.options)
        unknown = sorted(set(options) - set(SPEC_OPTIONS))
        if unknown:
            raise SourceRefused(f"S3 source options {unknown} are not accepted "
                                f"(allowed: {', '.join(SPEC_OPTIONS)}); credentials come from the "
                                "environment")
        endpoint = options.get("endpoint_url") or None
        if endpoint and endpoint != self.endpoint_url:
            check_url(endpoint, self.allowlist)
        endpoint = endpoint or self.endpoint_url
        client_kwargs = {"region_name": options["region"]} if options.get("region") else {}
        config = {"connect_timeout": spec.connect_timeout, "read_timeout": spec.read_timeout,
                  "retries": {"max_attempts": self.max_attempts, "mode": "standard"}}
        key = (endpoint, tuple(sorted((k, str(v)) for k, v in options.items())),
               spec.connect_timeout, spec.read_timeout)
        if key not in self._filesystems:
            extra = dict(self.storage_options)
            extra.setdefault("session", s3_session(use_instance_metadata=self.use_instance_metadata))
            self._filesystems[key] = s3fs.S3FileSystem(
                endpoint_url=endpoint, anon=bool(options.get("anon", False)),
                requester_pays=bool(options.get("requester_pays", False)),
                version_aware=bool(options.get("version_id")), client_kwargs=client_kwargs,
                config_kwargs=config, skip_instance_cache=True, **extra)
        return self._filesystems[key]

    def _locations(self, spec: SourceSpec, budget: Budget) -> list[Location]:
        path = spec.url.split("://", 1)[1].split("?", 1)[0]
        if not path.strip("/"):
            raise TerminalSourceError(f"{display_url(spec.url)}: no bucket in the URL")
        fs = self.filesystem(spec)
        try:
            info = fs.info(path)
            if info["type"] != "directory":
                return [Location(f"s3://{path}", path.rsplit("/", 1)[-1], key=path)]
            prefix = path.rstrip("/") + "/"
            keys = sorted(fs.find(prefix))
        except BotoCoreError as exc:
            raise _transient(exc, display_url(spec.url)) from exc
        except ValueError as exc:  # a malformed bucket or key
            raise TerminalSourceError(f"{display_url(spec.url)}: {exc}") from exc
        return [Location(f"s3://{key}", key.rsplit("/", 1)[-1], key=key) for key in keys
                if formats.is_data_name(key[len(prefix):], spec.format)]

    def _open(self, spec: SourceSpec, location: Location, budget: Budget, *,
              probe: bool = False) -> Opened:
        fs = self.filesystem(spec)
        version = spec.options.get("version_id")
        try:
            file = fs.open(location.key, "rb", block_size=PROBE_BLOCK_SIZE if probe else self.block_size,
                           cache_type="readahead", version_id=version)
        except BotoCoreError as exc:
            raise _transient(exc, location.url) from exc
        details = getattr(file, "details", {}) or {}
        return Opened(stream=_Body(file, location.url), final_url=location.url, name=location.name,
                      size=file.size, etag=details.get("ETag"))
