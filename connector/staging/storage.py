"""Storage tiers: where staged versions live and how they become visible.

A tier is an fsspec URL: ``file:///lustre/ai-factory/staging`` (the default kind) or
``s3://bucket/prefix`` (s3fs; ``endpoint_url=`` for MinIO, Ceph and other S3-compatible stores;
credentials from the environment, the instance metadata service only with ``instance_metadata=True``).
Layout::

    <root>/<project>/<dataset>/<version>/part-NNNNN.parquet
                                        /croissant.json
                                        /_manifest.json        <- written last; readers trust only it
    <root>/<project>/<dataset>/.tmp-<version>-<YYYYmmddTHHMMSSZ>-<token>/   <- while writing

A tier made for one staging job (``owner=``, the job id) starts each token with a tag of the
job, so that a job's leftovers after its worker was killed are found and removed when the job
is next claimed or failed (:meth:`StorageTier.remove_temporary`), not a day later by
:meth:`StorageTier.collect_garbage`.

Publish is one step. On a POSIX tier the temporary directory, holding the parts, the Croissant
file and the manifest (all fsynced), is renamed onto the version's name with ``os.rename``: atomic,
and refused when the version exists (a non-empty target fails with ENOTEMPTY; an existing target
is checked first). A rename across file systems (EXDEV, e.g. Lustre project quotas) is an error,
never a copy. On an object store, which has no rename, the publisher takes a ``_publishing``
marker under the version prefix (create-only where the store supports ``If-None-Match``), copies
the parts there, writes ``croissant.json`` and then ``_manifest.json`` last (create-only too), and
drops the marker. A crash before the manifest leaves nothing a reader trusts; abort or
:meth:`StorageTier.collect_garbage` removes the leftovers.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import posixpath
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import fsspec
from fsspec import AbstractFileSystem
from fsspec.implementations.local import LocalFileSystem

from connector.staging.errors import ManifestMissing, PublishError, VersionExists

MANIFEST = "_manifest.json"
CROISSANT = "croissant.json"
PUBLISHING = "_publishing"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
TEMP_PATTERN = re.compile(r"^\.tmp-(?P<version>.+)-(?P<stamp>\d{8}T\d{6}Z)-(?P<token>[0-9a-f]{16})$")
STAMP = "%Y%m%dT%H%M%SZ"
_TIER_OPTIONS = ("fsync", "conditional_writes", "block_size", "publish_lease")


def check_name(kind: str, value: str) -> str:
    """A project, dataset or version name safe as one path segment, or ValueError."""
    if not isinstance(value, str) or not NAME_PATTERN.match(value) or ".." in value:
        raise ValueError(f"invalid {kind} name {value!r}: use letters, digits, '.', '_' and '-', "
                         "starting with a letter or digit, at most 128 characters")
    return value


def utcnow() -> datetime:
    return datetime.now(UTC)


def _modified(info: Mapping[str, Any]) -> datetime | None:
    value = info.get("mtime", info.get("LastModified", info.get("last_modified")))
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return None


@dataclass
class StorageTier:
    """One storage tier: an fsspec file system and a root path on it."""

    fs: AbstractFileSystem
    root: str
    fsync: bool = True
    conditional_writes: bool = True
    block_size: int | None = None
    publish_lease: timedelta = field(default=timedelta(hours=1))
    owner: str | None = None  # the staging job writing through this tier (tags its temporaries)

    @classmethod
    def from_url(cls, url: str, **options: Any) -> StorageTier:
        """A tier from ``url``; ``fsync``, ``conditional_writes``, ``block_size`` and
        ``publish_lease`` configure the tier, every other option goes to the fsspec file system
        (for s3fs e.g. ``endpoint_url``, ``key``, ``secret``, ``client_kwargs``). An S3 tier's
        credential chain skips the instance metadata service unless ``instance_metadata=True``
        (``S3_USE_INSTANCE_METADATA``)."""
        tier_options = {k: options.pop(k) for k in _TIER_OPTIONS if k in options}
        instance_metadata = bool(options.pop("instance_metadata", False))
        if fsspec.utils.get_protocol(url) in ("s3", "s3a") and "session" not in options:
            from connector.adapters.s3 import s3_session

            options["session"] = s3_session(use_instance_metadata=instance_metadata)
            options.setdefault("skip_instance_cache", True)  # a new session each time: no reuse
        if fsspec.utils.get_protocol(url) not in ("file", "local"):
            # Other processes publish and remove versions: never answer from a stale listing.
            options.setdefault("use_listings_cache", False)
        fs, root = fsspec.core.url_to_fs(url, **options)
        posix = isinstance(fs, LocalFileSystem)
        if posix:
            root = os.path.abspath(root)
            fs.makedirs(root, exist_ok=True)
        tier_options.setdefault("fsync", posix)
        tier_options.setdefault("block_size", None if posix else 16 << 20)
        return cls(fs, root.rstrip("/") or "/", **tier_options)

    @property
    def posix(self) -> bool:
        """True when publishing can rename directories (local and mounted file systems)."""
        return isinstance(self.fs, LocalFileSystem)

    @property
    def url(self) -> str:
        return self.fs.unstrip_protocol(self.root)

    def _join(self, *parts: str) -> str:
        return posixpath.join(self.root, *parts)

    def _fresh(self, path: str | None = None) -> None:
        if not self.posix:
            self.fs.invalidate_cache(path)

    def dataset_path(self, project: str, dataset: str) -> str:
        return self._join(check_name("project", project), check_name("dataset", dataset))

    def version_path(self, project: str, dataset: str, version: str) -> str:
        return posixpath.join(self.dataset_path(project, dataset), check_name("version", version))

    def version_url(self, project: str, dataset: str, version: str) -> str:
        """The URL a training job opens (``file:///...`` or ``s3://...``)."""
        return self.fs.unstrip_protocol(self.version_path(project, dataset, version))

    # ------------------------------------------------------------------------- writing

    def begin(self, project: str, dataset: str, version: str, *, now: datetime | None = None
              ) -> PendingVersion:
        """Start writing a version under a fresh hidden temporary prefix."""
        final = self.version_path(project, dataset, version)
        if self.is_published(project, dataset, version):
            raise VersionExists(f"{project}/{dataset}/{version} is already published")
        stamp = (now or utcnow()).astimezone(UTC).strftime(STAMP)
        token = (owner_tag(self.owner) + secrets.token_hex(4)) if self.owner else secrets.token_hex(8)
        temp = posixpath.join(posixpath.dirname(final), f".tmp-{version}-{stamp}-{token}")
        self.fs.makedirs(temp, exist_ok=True)
        return PendingVersion(self, project, dataset, version, token, temp, final)

    def is_published(self, project: str, dataset: str, version: str) -> bool:
        manifest = posixpath.join(self.version_path(project, dataset, version), MANIFEST)
        self._fresh(manifest)
        return bool(self.fs.exists(manifest))

    def list_versions(self, project: str, dataset: str) -> list[str]:
        """Published versions of a dataset (those with a manifest), sorted by name."""
        base = self.dataset_path(project, dataset)
        self._fresh()
        if not self.fs.exists(base):
            return []
        names = [posixpath.basename(p.rstrip("/")) for p in self.fs.ls(base, detail=False)]
        return sorted(n for n in names if NAME_PATTERN.match(n)
                      and self.fs.exists(posixpath.join(base, n, MANIFEST)))

    def read_manifest(self, project: str, dataset: str, version: str) -> dict[str, Any]:
        path = posixpath.join(self.version_path(project, dataset, version), MANIFEST)
        self._fresh(path)
        try:
            return json.loads(self.fs.cat_file(path))
        except FileNotFoundError as exc:
            raise ManifestMissing(f"{project}/{dataset}/{version} is not published") from exc

    # ------------------------------------------------------------------------- removal

    def remove_version(self, project: str, dataset: str, version: str) -> int:
        """Remove a version (expiry, revocation): the manifest first, so readers stop trusting
        the version at once, then everything else. Returns the bytes removed; 0 if absent."""
        path = self.version_path(project, dataset, version)
        self._fresh(path)
        if not self.fs.exists(path):
            return 0
        sizes = self.fs.du(path, total=False)
        removed = sum(sizes.values()) if isinstance(sizes, dict) else int(sizes)
        manifest = posixpath.join(path, MANIFEST)
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(manifest)
            if self.posix and self.fsync:
                _fsync_dir(path)
        self.fs.rm(path, recursive=True)
        return removed

    def collect_garbage(self, *, older_than: timedelta = timedelta(hours=24),
                        now: datetime | None = None) -> list[str]:
        """Remove temporary prefixes, and version prefixes without a manifest (a crashed
        publish or removal), older than ``older_than``. Returns the paths removed."""
        cutoff = (now or utcnow()) - older_than
        removed = []
        self._fresh()
        for project in self._children(self.root):
            for dataset in self._children(project):
                for entry in self._children(dataset):
                    name = posixpath.basename(entry)
                    match = TEMP_PATTERN.match(name)
                    if match:
                        started = datetime.strptime(match["stamp"], STAMP).replace(tzinfo=UTC)
                        stale = started < cutoff
                    elif NAME_PATTERN.match(name) and not self.fs.exists(posixpath.join(entry, MANIFEST)):
                        newest = self._newest(entry)
                        stale = newest is not None and newest < cutoff
                    else:
                        continue
                    if stale:
                        self.fs.rm(entry, recursive=True)
                        removed.append(entry)
        return removed

    def remove_temporary(self, project: str, dataset: str, version: str, owner: str) -> list[str]:
        """Remove the temporary prefixes ``owner`` (a job id) left for this version, e.g. when
        its worker was killed while writing. Returns the paths removed."""
        base, tag = self.dataset_path(project, dataset), owner_tag(owner)
        self._fresh(base)
        removed = []
        for entry in self._children(base):
            match = TEMP_PATTERN.match(posixpath.basename(entry))
            if match and match["version"] == version and match["token"].startswith(tag):
                with contextlib.suppress(FileNotFoundError):
                    self.fs.rm(entry, recursive=True)
                removed.append(entry)
        return removed

    def _children(self, path: str) -> list[str]:
        try:
            entries = self.fs.ls(path, detail=True)
        except (FileNotFoundError, NotADirectoryError):
            return []
        return [e["name"].rstrip("/") for e in entries if e.get("type") == "directory"]

    def _newest(self, path: str) -> datetime | None:
        infos = list(self.fs.find(path, detail=True, withdirs=False).values())
        if not infos and self.posix:
            infos = [self.fs.info(path)]
        times = [t for t in (_modified(i) for i in infos) if t is not None]
        return max(times) if times else None

    def usage(self, project: str) -> int:
        """Bytes the project's versions hold on this tier; temporary prefixes (a staging in
        progress, or the leftovers of a killed one) do not count."""
        path = self._join(check_name("project", project))
        self._fresh(path)
        if not self.fs.exists(path):
            return 0
        sizes = self.fs.du(path, total=False, withdirs=False)
        return sum(int(size) for name, size in sizes.items()
                   if not any(TEMP_PATTERN.match(part) for part in name.split("/")))


@dataclass
class PendingVersion:
    """A version being written under a temporary prefix; publish it or abort it."""

    tier: StorageTier
    project: str
    dataset: str
    version: str
    token: str
    path: str
    final: str
    state: str = "writing"

    @property
    def fs(self) -> AbstractFileSystem:
        return self.tier.fs

    def publish(self, *, manifest: bytes, croissant: bytes, files: Sequence[str]) -> str:
        """Make the version visible in one step; return its path on the tier."""
        if self.state != "writing":
            raise PublishError(f"cannot publish a version that is {self.state}")
        if self.tier.posix:
            self._publish_by_rename(manifest, croissant, files)
        else:
            self._publish_by_manifest(manifest, croissant, files)
        self.state = "published"
        return self.final

    def abort(self) -> None:
        """Remove the temporary prefix (and, on object stores, our unfinished publish)."""
        if self.state == "published":
            return
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(self.path, recursive=True)
        if not self.tier.posix and self.state == "publishing":
            self._release_unfinished()
        self.state = "aborted"

    # ------------------------------------------------------------------------- POSIX

    def _publish_by_rename(self, manifest: bytes, croissant: bytes, files: Sequence[str]) -> None:
        present = set(os.listdir(self.path))
        unexpected = present - set(files)
        if unexpected or len(present) != len(set(files)):
            missing = sorted(set(files) - present)
            raise PublishError(f"temporary directory does not hold exactly the listed parts "
                               f"(unexpected: {sorted(unexpected)}, missing: {missing})")
        _write(posixpath.join(self.path, CROISSANT), croissant, fsync=self.tier.fsync)
        _write(posixpath.join(self.path, MANIFEST), manifest, fsync=self.tier.fsync)
        if self.tier.fsync:
            _fsync_dir(self.path)
        self.state = "publishing"
        if os.path.lexists(self.final):
            raise VersionExists(f"{self.final} already exists; published versions are never replaced")
        try:
            os.rename(self.path, self.final)
        except OSError as exc:
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                raise VersionExists(f"{self.final} was published by another attempt") from exc
            if exc.errno == errno.EXDEV:
                raise PublishError(f"cannot rename {self.path} onto {self.final}: different file "
                                   "systems or quota projects (EXDEV); refusing to copy") from exc
            raise PublishError(f"rename onto {self.final} failed: {exc}") from exc
        if self.tier.fsync:
            _fsync_dir(posixpath.dirname(self.final))

    # ------------------------------------------------------------------------- object stores

    def _marker(self) -> bytes:
        return json.dumps({"token": self.token, "created": utcnow().strftime(STAMP)}).encode()

    def _create(self, path: str, data: bytes) -> None:
        if self.tier.conditional_writes:
            self.fs.pipe_file(path, data, mode="create")
        else:
            if self.fs.exists(path):
                raise FileExistsError(path)
            self.fs.pipe_file(path, data)

    def _publish_by_manifest(self, manifest: bytes, croissant: bytes, files: Sequence[str]) -> None:
        fs, final = self.fs, self.final
        fs.invalidate_cache(final)
        if fs.exists(posixpath.join(final, MANIFEST)):
            raise VersionExists(f"{final} is already published")
        self._take_marker()
        self.state = "publishing"
        fs.copy([posixpath.join(self.path, f) for f in files], [posixpath.join(final, f) for f in files])
        fs.pipe_file(posixpath.join(final, CROISSANT), croissant)
        try:
            self._create(posixpath.join(final, MANIFEST), manifest)
        except FileExistsError as exc:
            raise VersionExists(f"{final} was published by another attempt") from exc
        self.state = "published"
        with contextlib.suppress(FileNotFoundError):
            fs.rm_file(posixpath.join(final, PUBLISHING))
        with contextlib.suppress(FileNotFoundError):
            fs.rm(self.path, recursive=True)

    def _take_marker(self) -> None:
        marker = posixpath.join(self.final, PUBLISHING)
        for _ in range(2):
            try:
                self._create(marker, self._marker())
                return
            except FileExistsError:
                self.fs.invalidate_cache(marker)
                try:
                    other = json.loads(self.fs.cat_file(marker))
                    started = datetime.strptime(other["created"], STAMP).replace(tzinfo=UTC)
                except (FileNotFoundError, ValueError, KeyError):
                    continue
                if other.get("token") == self.token:
                    return
                if utcnow() - started < self.tier.publish_lease:
                    raise VersionExists(f"{self.final} is being published by another attempt") from None
                # A crashed publisher's leftovers: no manifest, marker older than the lease.
                self.fs.rm(self.final, recursive=True)
        raise PublishError(f"could not take the publish marker of {self.final}")

    def _release_unfinished(self) -> None:
        """Remove what an unfinished publish copied, if the marker is still ours."""
        marker = posixpath.join(self.final, PUBLISHING)
        self.fs.invalidate_cache(self.final)
        try:
            other = json.loads(self.fs.cat_file(marker))
        except (FileNotFoundError, ValueError):
            return
        if other.get("token") == self.token and not self.fs.exists(posixpath.join(self.final, MANIFEST)):
            self.fs.rm(self.final, recursive=True)


def owner_tag(owner: str) -> str:
    """The 8 hex digits that start the temporary tokens of ``owner``'s attempts."""
    return hashlib.sha256(owner.encode()).hexdigest()[:8]


def _write(path: str, data: bytes, *, fsync: bool) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        if fsync:
            os.fsync(f.fileno())


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
