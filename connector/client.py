"""What a training job imports: open a staged version, verify it. No service needed.

    from connector.client import open_dataset, iter_batches

    dataset = open_dataset("/lustre/staging/cardio/mri-2024/3")       # or file://..., s3://...
    for batch in iter_batches(dataset, columns=["patient", "lvef"]):
        ...

:func:`open_dataset` reads ``_manifest.json`` (a version without one is not published and is
refused), checks that every listed file is there with its listed size (and, with
``verify=True``, its sha256), and returns a :class:`pyarrow.dataset.Dataset` over exactly the
listed files with the schema the manifest records. On local and Lustre paths ``pre_buffer`` is
off (it costs about a file's size in memory and is slower there); on object stores it stays on.
Scan with :func:`iter_batches` (readahead 1/1) to keep memory flat.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
from fsspec import AbstractFileSystem
from fsspec.implementations.local import LocalFileSystem

from connector.manifest_read import (
    IntegrityError,
    ManifestExpired,
    ManifestInvalid,
    ManifestMissing,
    check_manifest,
    decode_schema,
    parse_timestamp,
)

MANIFEST = "_manifest.json"
READ_CHUNK = 8 << 20
REMOTE_READ_BLOCK = 32 << 20
SCAN_DEFAULTS: dict[str, Any] = {"batch_readahead": 1, "fragment_readahead": 1}

__all__ = ["open_dataset", "read_manifest", "verify", "iter_batches", "SCAN_DEFAULTS"]


def _resolve(path_or_url: str, filesystem: Any) -> tuple[AbstractFileSystem, str, Any]:
    """(fsspec file system, path on it, pyarrow file system for the dataset)."""
    if isinstance(filesystem, pafs.FileSystem):
        from fsspec.implementations.arrow import ArrowFSWrapper

        return ArrowFSWrapper(filesystem), str(path_or_url).rstrip("/"), filesystem
    if filesystem is None:
        fs, path = fsspec.core.url_to_fs(str(path_or_url))
    else:
        fs, path = filesystem, filesystem._strip_protocol(str(path_or_url))
    path = path.rstrip("/") or "/"
    if isinstance(fs, LocalFileSystem):
        return fs, path, pafs.LocalFileSystem()
    return fs, path, pafs.PyFileSystem(pafs.FSSpecHandler(fs))


def _local(fs: AbstractFileSystem) -> bool:
    if isinstance(fs, LocalFileSystem):
        return True
    wrapped = getattr(fs, "fs", None)
    return isinstance(wrapped, pafs.LocalFileSystem)


def read_manifest(path_or_url: str, *, filesystem: Any = None, allow_expired: bool = False,
                  now: datetime | None = None) -> dict[str, Any]:
    """The manifest of the version at ``path_or_url``, checked; refuse unpublished or expired."""
    fs, path, _ = _resolve(path_or_url, filesystem)
    return _read_manifest(fs, path, allow_expired=allow_expired, now=now)


def _read_manifest(fs: AbstractFileSystem, path: str, *, allow_expired: bool,
                   now: datetime | None) -> dict[str, Any]:
    where = posixpath.join(path, MANIFEST)
    if not _local(fs):
        fs.invalidate_cache(path)
    try:
        raw = fs.cat_file(where)
    except FileNotFoundError:
        raise ManifestMissing(f"no {MANIFEST} in {path}: the version is not published "
                              "(or is being removed); refusing to read it") from None
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise ManifestInvalid(f"{where}: not JSON ({exc})") from None
    check_manifest(doc, where=where)
    if doc.get("expires") and not allow_expired:
        expires = parse_timestamp(doc["expires"])
        if expires <= (now or datetime.now(UTC)):
            raise ManifestExpired(f"{path} expired at {doc['expires']}: the agreement no longer "
                                  "allows using this data")
    return doc


def _check_sizes(fs: AbstractFileSystem, path: str, manifest: dict[str, Any]) -> list[str]:
    listing = {posixpath.basename(e["name"].rstrip("/")): e.get("size")
               for e in fs.ls(path, detail=True)}
    problems = []
    for entry in manifest["files"]:
        size = listing.get(entry["path"])
        if size is None:
            problems.append(f"{entry['path']}: missing")
        elif size != entry["bytes"]:
            problems.append(f"{entry['path']}: {size} bytes, manifest says {entry['bytes']}")
    return problems


def _sha256(fs: AbstractFileSystem, path: str) -> str:
    digest = hashlib.sha256()
    options = {} if _local(fs) else {"block_size": REMOTE_READ_BLOCK}
    with fs.open(path, "rb", **options) as f:
        while chunk := f.read(READ_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _verify(fs: AbstractFileSystem, path: str, manifest: dict[str, Any], *, checksums: bool) -> None:
    problems = _check_sizes(fs, path, manifest)
    if checksums:
        bad = {p.split(":", 1)[0] for p in problems}
        for entry in manifest["files"]:
            if entry["path"] in bad:
                continue
            actual = _sha256(fs, posixpath.join(path, entry["path"]))
            if actual != entry["sha256"]:
                problems.append(f"{entry['path']}: sha256 {actual}, manifest says {entry['sha256']}")
    if problems:
        raise IntegrityError(problems)


def verify(path_or_url: str, *, filesystem: Any = None, allow_expired: bool = False) -> dict[str, Any]:
    """Check every listed file's size and sha256; return the manifest or raise
    :class:`~connector.staging.errors.IntegrityError` listing every problem."""
    fs, path, _ = _resolve(path_or_url, filesystem)
    manifest = _read_manifest(fs, path, allow_expired=allow_expired, now=None)
    _verify(fs, path, manifest, checksums=True)
    return manifest


def open_dataset(path_or_url: str, *, verify: bool = False, filesystem: Any = None,
                 allow_expired: bool = False, pre_buffer: bool | None = None) -> ds.Dataset:
    """A :class:`pyarrow.dataset.Dataset` over exactly the files the manifest lists.

    ``filesystem``: an fsspec or pyarrow file system; by default it follows the URL.
    ``verify=True`` also checks each file's sha256 (reads everything once). ``pre_buffer``
    defaults to off for local paths, on for object stores.
    """
    fs, path, arrow_fs = _resolve(path_or_url, filesystem)
    manifest = _read_manifest(fs, path, allow_expired=allow_expired, now=None)
    _verify(fs, path, manifest, checksums=verify)
    if pre_buffer is None:
        pre_buffer = not _local(fs)
    file_format = ds.ParquetFileFormat(
        default_fragment_scan_options=ds.ParquetFragmentScanOptions(pre_buffer=pre_buffer))
    schema = decode_schema(manifest["schema"]["arrow"])
    paths = [posixpath.join(path, entry["path"]) for entry in manifest["files"]]
    return ds.FileSystemDataset.from_paths(paths, schema=schema, format=file_format,
                                           filesystem=arrow_fs)


def iter_batches(dataset: ds.Dataset | str, *, columns: Sequence[str] | None = None,
                 filter: Any = None, batch_size: int = 131_072, **scan_options: Any
                 ) -> Iterator[pa.RecordBatch]:
    """Record batches with the low-memory scan settings (readahead 1/1); ``dataset`` may be a
    path or URL, opened with :func:`open_dataset`."""
    if not isinstance(dataset, ds.Dataset):
        dataset = open_dataset(dataset)
    options = {**SCAN_DEFAULTS, **scan_options}
    return iter(dataset.to_batches(columns=list(columns) if columns is not None else None,
                                   filter=filter, batch_size=batch_size, **options))
