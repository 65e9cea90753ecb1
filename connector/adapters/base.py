"""The source description, the adapter template and the stream of record batches it returns.

``SourceAdapter.read(spec)`` is a template method: it lists the files of the source
(``_locations`` hook), opens each one (``_open`` hook, a binary stream) behind the limits
(bytes, deadline, decompression ratio), hashes the raw bytes while they stream, decodes
them (:mod:`~connector.adapters.compression`, :mod:`~connector.adapters.formats`) and
turns every failure into a :class:`~connector.adapters.errors.TransientSourceError` or a
:class:`~connector.adapters.errors.TerminalSourceError`.

The schema is fixed before the first batch: given (``schema``/``fields``), unified over
the files of a directory, prefix or zip, or inferred from the first block of a single file.
"""

from __future__ import annotations

import codecs
import http.client
import ssl
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import KW_ONLY, asdict, dataclass, field
from types import MappingProxyType
from typing import Any, BinaryIO, ClassVar
from urllib.parse import urlsplit, urlunsplit

import pyarrow as pa

from connector.adapters import compression as comp
from connector.adapters import csv_parallel, formats, json_limits
from connector.adapters.errors import (
    InvalidSourceSpec,
    SourceFormatError,
    SourceNotFound,
    SourceTimeout,
    SourceTooLarge,
    TerminalSourceError,
    TransientSourceError,
    UnsupportedSource,
)
from connector.adapters.schema import conform, field_errors, fields_to_schema, unify
from connector.adapters.streams import Budget, MeteredReader, Prefixed, spool
from connector.errors import ConnectorError

DEFAULT_BLOCK_SIZE = 1 << 20
DEFAULT_CSV_CHUNK_BYTES = csv_parallel.DEFAULT_CHUNK_BYTES
RATIO_GRACE = 1 << 20  # decoded bytes always allowed before the ratio limit applies


@dataclass(frozen=True)
class SourceSpec:
    """A plain description of one source: where it is, how to decode it, and the limits.

    ``format`` and ``compression`` are inferred when None (file name, then media type,
    then magic bytes); ``compression="none"`` says the bytes are not compressed.
    ``schema`` (Arrow) or ``fields`` (Frictionless-like) fix the columns; otherwise they are
    inferred. ``csv_threads`` parse CSV in parallel in chunks of ``csv_chunk_bytes`` (None:
    the CPUs; the service passes the ``CSV_PARSE_THREADS`` setting; 1: the serial reader). JSON and JSON Lines
    records nested deeper than ``max_json_depth``, and records (lines, CSV rows, JSON array
    items) longer than ``max_record_bytes``, are refused (:mod:`~connector.adapters.json_limits`).
    ``options`` are adapter options (S3: ``endpoint_url``, ``anon``, ``region``).
    """

    url: str
    _: KW_ONLY
    format: str | None = None
    compression: str | None = None
    encoding: str = "utf-8"
    delimiter: str | None = None
    quotechar: str | None = '"'
    escapechar: str | None = None
    header: bool = True
    column_names: tuple[str, ...] | None = None
    skip_rows: int = 0
    null_values: tuple[str, ...] | None = None
    newlines_in_values: bool = True
    json_prefix: str = "item"
    schema: pa.Schema | None = None
    fields: tuple[Mapping[str, Any], ...] | None = None
    max_bytes: int | None = None
    deadline: float | None = None
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    max_ratio: float | None = 200.0
    block_size: int = DEFAULT_BLOCK_SIZE
    csv_threads: int | None = None
    csv_chunk_bytes: int = DEFAULT_CSV_CHUNK_BYTES
    max_json_depth: int = json_limits.DEFAULT_MAX_DEPTH
    max_record_bytes: int = json_limits.DEFAULT_MAX_RECORD_BYTES
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("column_names", "null_values"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))
        if self.fields is not None:
            object.__setattr__(self, "fields", tuple(
                MappingProxyType(dict(f)) if isinstance(f, Mapping) else f for f in self.fields))
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))
        errors = [{"path": f"$.{path}", "message": message} for path, message in self._problems()]
        if errors:
            raise InvalidSourceSpec(errors)

    def _problems(self) -> Iterator[tuple[str, str]]:
        if not isinstance(self.url, str) or not self.url:
            yield "url", "must be a non-empty string"
        if self.format is not None and self.format not in formats.FORMATS:
            yield "format", f"unknown format {self.format!r} (known: {', '.join(formats.FORMATS)})"
        if self.compression is not None and self.compression not in (*comp.COMPRESSIONS, "none"):
            yield "compression", (f"unknown compression {self.compression!r} "
                                  f"(known: {', '.join(comp.COMPRESSIONS)}, none)")
        for name in ("delimiter", "quotechar", "escapechar"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or len(value) != 1):
                yield name, "must be one character"
        try:
            codecs.lookup(self.encoding)
        except (LookupError, TypeError):
            yield "encoding", f"unknown encoding {self.encoding!r}"
        if self.schema is not None and self.fields is not None:
            yield "schema", "give either schema or fields, not both"
        if self.schema is not None and not isinstance(self.schema, pa.Schema):
            yield "schema", "must be a pyarrow.Schema"
        for problem in field_errors(self.fields or ()):
            yield "fields", problem
        for name in ("max_bytes", "deadline", "connect_timeout", "read_timeout", "max_ratio",
                     "block_size", "csv_threads", "csv_chunk_bytes", "max_json_depth",
                     "max_record_bytes"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                      or value <= 0):
                yield name, f"must be a positive number, got {value!r}"
        if self.skip_rows < 0:
            yield "skip_rows", "must not be negative"

    def arrow_schema(self) -> pa.Schema | None:
        """The declared schema, from ``schema`` or ``fields``; None to infer."""
        if self.fields is not None:
            return fields_to_schema(self.fields)
        return self.schema


@dataclass(frozen=True)
class Location:
    """One file of a source, as an adapter lists it."""

    url: str
    name: str
    key: Any = None
    format_hint: str | None = None
    media_type: str | None = None


@dataclass
class Opened:
    """What an adapter's ``_open`` hook returns: a binary stream and what it knows about it."""

    stream: BinaryIO
    final_url: str
    name: str | None = None
    media_type: str | None = None
    size: int | None = None
    etag: str | None = None
    local: bool = False  # a local file: random-access formats seek in it instead of spooling


@dataclass(frozen=True)
class FileRecord:
    """Provenance of one raw file: sha256 and byte count of exactly the bytes read."""

    url: str
    final_url: str
    bytes: int
    sha256: str
    rows: int
    media_type: str | None = None
    etag: str | None = None
    members: tuple[str, ...] = ()


@dataclass(frozen=True)
class Provenance:
    """What was read; ``complete`` once the stream is exhausted."""

    url: str
    files: tuple[FileRecord, ...]
    complete: bool

    @property
    def bytes(self) -> int:
        return sum(f.bytes for f in self.files)

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    @property
    def sha256(self) -> str | None:
        """The digest of the only file; None when the source has several (see ``files``)."""
        return self.files[0].sha256 if len(self.files) == 1 else None

    @property
    def final_url(self) -> str | None:
        return self.files[0].final_url if len(self.files) == 1 else None

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "complete": self.complete, "bytes": self.bytes, "rows": self.rows,
                "files": [asdict(f) | {"members": list(f.members)} for f in self.files]}


def display_url(url: str) -> str:
    """``url`` without user information and query (they may carry secrets), for messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def translate(exc: BaseException, budget: Budget, url: str) -> ConnectorError | None:
    """The source error for a low-level failure, or None for a bug that must surface as is."""
    where = display_url(url)
    if isinstance(exc, ConnectorError):
        return exc
    if budget.expired() and isinstance(exc, OSError | http.client.HTTPException):
        return SourceTimeout(f"{where}: did not finish within the deadline of {budget.deadline_s:g} s",
                             deadline=budget.deadline_s)
    if isinstance(exc, TimeoutError):
        return SourceTimeout(f"{where}: timed out ({exc or 'no data within the read timeout'})")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return TerminalSourceError(f"{where}: TLS certificate not accepted: {exc.verify_message}")
    if isinstance(exc, FileNotFoundError):
        return SourceNotFound(f"{where}: not found")
    if isinstance(exc, PermissionError | IsADirectoryError | NotADirectoryError):
        return TerminalSourceError(f"{where}: {exc.strerror or exc}")
    if isinstance(exc, zipfile.BadZipFile | zipfile.LargeZipFile):
        return SourceFormatError(f"{where}: not a readable zip archive: {exc}")
    if isinstance(exc, pa.ArrowException) and not isinstance(exc, OSError):
        return SourceFormatError(f"{where}: {exc}")
    if isinstance(exc, OSError | http.client.HTTPException | EOFError):
        return TransientSourceError(f"{where}: {type(exc).__name__}: {exc}")
    return None


class _Guard:
    """Context manager that re-raises low-level failures as source errors."""

    def __init__(self, budget: Budget, url: str) -> None:
        self.budget, self.url = budget, url

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, exc, tb) -> bool:  # type: ignore[no-untyped-def]
        if exc is None or not isinstance(exc, Exception):
            return False
        mapped = translate(exc, self.budget, self.url)
        if mapped is None or mapped is exc:
            return False
        raise mapped from exc


@dataclass
class _Part:
    name: str
    fmt: str
    open: Callable[[pa.Schema | None], formats.TableReader]
    member: str | None = None


_READY = object()


class SourceStream:
    """Record batches of one source, streaming.

    ``schema`` is known on return from ``read()``; iterate for ``pyarrow.RecordBatch``
    objects in that schema; ``provenance`` is complete once the iteration is exhausted.
    Close it (or use ``with``) when stopping early.
    """

    def __init__(self, adapter: SourceAdapter, spec: SourceSpec, locations: list[Location],
                 budget: Budget) -> None:
        self.url = spec.url
        self._adapter, self._spec, self._budget = adapter, spec, budget
        self._locations = locations
        self._files: list[FileRecord] = []
        self._complete = False
        self.schema: pa.Schema | None = spec.arrow_schema()
        with _Guard(budget, spec.url):
            if self.schema is None and len(locations) > 1:
                self.schema = unify([s for loc in locations for s in self._probe(loc)])
            self._gen = self._generate()
            try:
                next(self._gen)
            except BaseException:
                self._gen.close()
                raise

    # -- public ----------------------------------------------------------------------
    def __iter__(self) -> SourceStream:
        return self

    def __next__(self) -> pa.RecordBatch:
        with _Guard(self._budget, self.url):
            return next(self._gen)

    def __enter__(self) -> SourceStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._gen.close()

    @property
    def provenance(self) -> Provenance:
        return Provenance(self.url, tuple(self._files), self._complete)

    def read_all(self) -> pa.Table:
        """Every batch as one table (for small sources and tests; staging streams instead)."""
        with self:
            return pa.Table.from_batches(list(self), schema=self.schema)

    def to_reader(self) -> pa.RecordBatchReader:
        """A ``pyarrow.RecordBatchReader`` over the remaining batches."""
        return pa.RecordBatchReader.from_batches(self.schema, self)

    # -- pipeline --------------------------------------------------------------------
    def _generate(self) -> Iterator[Any]:
        primed = False
        for location in self._locations:
            opened = self._adapter._open(self._spec, location, self._budget)
            metered = MeteredReader(opened.stream, self._budget)
            closers: list[Any] = [metered]
            rows, members = 0, []
            try:
                self._check_size(opened, location)
                parts = self._parts(metered, location, opened, closers, probe=False)
                if self.schema is None and len(parts) > 1:
                    self.schema = unify([(p.name, self._schema_of(p)) for p in parts])
                for part in parts:
                    reader = part.open(self.schema)
                    try:
                        if self.schema is None:
                            self.schema = reader.schema
                        if not primed:
                            primed = True
                            yield _READY
                        for batch in reader:
                            batch = conform(batch, self.schema, part.name)
                            rows += batch.num_rows
                            self._budget.check_time()
                            yield batch
                    finally:
                        reader.close()
                    if part.member is not None:
                        members.append(part.member)
                metered.drain()
                self._files.append(FileRecord(
                    url=location.url, final_url=opened.final_url, bytes=metered.bytes,
                    sha256=metered.hexdigest(), rows=rows,
                    media_type=opened.media_type or location.media_type, etag=opened.etag,
                    members=tuple(members)))
            finally:
                for closer in reversed(closers):
                    closer.close()
        self._complete = True
        if not primed:
            yield _READY

    def _check_size(self, opened: Opened, location: Location) -> None:
        limit = self._spec.max_bytes
        if limit is not None and opened.size is not None and self._budget.bytes + opened.size > limit:
            raise SourceTooLarge(f"{display_url(location.url)}: {opened.size} bytes, above the "
                                 f"maximum of {limit} bytes", max_bytes=limit)

    def _schema_of(self, part: _Part) -> pa.Schema:
        reader = part.open(None)
        try:
            return reader.schema
        finally:
            reader.close()

    def _probe(self, location: Location) -> list[tuple[str, pa.Schema]]:
        """The schema of every table in ``location``, reading as little as the format allows."""
        opened = self._adapter._open(self._spec, location, self._budget, probe=True)
        left = self._budget.remaining()
        probe_budget = Budget(max_bytes=None, deadline=None if left is None else max(left, 1e-3),
                              label=display_url(location.url))
        metered = MeteredReader(opened.stream, probe_budget)
        closers: list[Any] = [metered]
        try:
            if opened.stream.seekable():
                opened.local = True
            parts = self._parts(metered, location, opened, closers, probe=True)
            return [(p.name, self._schema_of(p)) for p in parts]
        finally:
            for closer in reversed(closers):
                closer.close()

    def _parts(self, metered: MeteredReader, location: Location, opened: Opened,
               closers: list[Any], *, probe: bool) -> list[_Part]:
        """The tables in one raw file: one, or one per data member of a zip archive."""
        spec = self._spec
        name = opened.name or location.name
        compression = spec.compression
        if compression is None:
            compression = (comp.split_suffix(name)[1] or comp.MEDIA_TYPES.get(_mime(opened.media_type))
                           or comp.sniff(metered.peek(16)))
        elif compression == "none":
            compression = None

        def random_access(stream: BinaryIO) -> tuple[BinaryIO, bool]:
            if opened.local:  # hash it all first, then seek in the file itself
                if not probe:
                    metered.drain()
                opened.stream.seek(0)
                return opened.stream, True
            spooled = spool(stream, directory=self._adapter.spool_dir)
            closers.append(spooled)
            return spooled, True

        if compression == "zip":
            archive_file, _ = random_access(metered)
            archive = zipfile.ZipFile(archive_file)
            closers.append(archive)
            infos = comp.members(archive, name=display_url(location.url), max_ratio=spec.max_ratio,
                                 grace=RATIO_GRACE, archive_bytes=_size(archive_file))
            chosen = [i for i in infos if formats.is_data_name(i.filename, spec.format)]
            if not chosen:
                raise SourceFormatError(f"{display_url(location.url)}: no data members in the archive "
                                        f"({', '.join(i.filename for i in infos) or 'empty'})")
            return [self._member_part(archive, info, display_url(location.url)) for info in chosen]

        if compression is None:
            decoded: BinaryIO = metered
        elif compression in ("gzip", "bz2", "zstd"):
            decoded = comp.decompress(metered, compression, consumed=lambda: metered.bytes,
                                      max_ratio=spec.max_ratio, grace=RATIO_GRACE,
                                      name=display_url(location.url))
        else:  # pragma: no cover - SourceSpec validates compression
            raise UnsupportedSource(f"unknown compression {compression!r}")
        head = decoded.read(16) if compression else metered.peek(16)
        if compression:
            decoded = Prefixed(head, decoded)
        fmt = (spec.format or formats.format_from_name(name) or location.format_hint
               or formats.format_from_media_type(opened.media_type or location.media_type)
               or formats.sniff_format(head))
        if fmt == "json" and spec.format is None and spec.json_prefix == "item" and \
                head.removeprefix(codecs.BOM_UTF8).lstrip().startswith(b"{"):
            fmt = "jsonl"  # objects, not an array: JSON Lines named or served as JSON
        if fmt is None:
            raise UnsupportedSource(f"{display_url(location.url)}: cannot tell the format from the name, "
                                    "media type or content; set format")
        if fmt == "parquet" and compression is None:
            stream, seekable = random_access(metered)
        else:
            stream, seekable = decoded, False
        spool_dir, label = self._adapter.spool_dir, display_url(location.url)
        return [_Part(label, fmt, lambda schema: formats.open_reader(
            stream, fmt, spec, name=label, schema=schema, seekable=seekable, spool_dir=spool_dir))]

    def _member_part(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str) -> _Part:
        spec = self._spec
        fmt = spec.format or formats.format_from_name(info.filename)
        label = f"{name}!{info.filename}"
        member_compression = comp.split_suffix(info.filename)[1]

        def opener(schema: pa.Schema | None) -> formats.TableReader:
            if member_compression == "zip" or fmt is None:
                raise UnsupportedSource(f"{label}: zip archives inside zip archives are not read")
            stream = comp.open_member(archive, info, max_ratio=spec.max_ratio, grace=RATIO_GRACE,
                                      name=name)
            if member_compression:
                stream = comp.decompress(stream, member_compression, consumed=lambda: info.compress_size,
                                         max_ratio=spec.max_ratio, grace=RATIO_GRACE, name=label)
            return formats.open_reader(stream, fmt, spec, name=label, schema=schema,
                                       spool_dir=self._adapter.spool_dir)

        return _Part(label, fmt, opener, member=info.filename)


def _mime(media_type: str | None) -> str:
    return (media_type or "").split(";")[0].strip().lower()


def _size(stream: BinaryIO) -> int:
    position = stream.tell()
    end = stream.seek(0, 2)
    stream.seek(position)
    return end


class SourceAdapter:
    """Base of every adapter: ``read(spec)`` wraps the ``_locations`` and ``_open`` hooks.

    Subclasses set ``schemes`` and implement ``_open``; ``_locations`` lists the files of
    a directory-like source (default: the URL itself).
    """

    schemes: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *, spool_dir: str | None = None) -> None:
        self.spool_dir = spool_dir

    def read(self, spec: SourceSpec | str) -> SourceStream:
        """Open the source; the result's ``schema`` is fixed, its batches stream on iteration."""
        if isinstance(spec, str):
            spec = SourceSpec(spec)
        budget = Budget(max_bytes=spec.max_bytes, deadline=spec.deadline, label=display_url(spec.url))
        with _Guard(budget, spec.url):
            self._check_scheme(spec.url)
            locations = self._locations(spec, budget)
            if not locations:
                raise SourceNotFound(f"{display_url(spec.url)}: no data files")
            return SourceStream(self, spec, locations, budget)

    def _check_scheme(self, url: str) -> None:
        scheme = urlsplit(url).scheme.lower()
        if scheme not in self.schemes:
            raise UnsupportedSource(f"{type(self).__name__} reads {', '.join(self.schemes)} URLs, "
                                    f"not {scheme or 'plain path'!r}: {display_url(url)}")

    def _locations(self, spec: SourceSpec, budget: Budget) -> list[Location]:
        path = urlsplit(spec.url).path
        return [Location(spec.url, path.rstrip("/").rsplit("/", 1)[-1])]

    def _open(self, spec: SourceSpec, location: Location, budget: Budget, *,
              probe: bool = False) -> Opened:
        """A binary stream of ``location``; ``probe`` asks for a cheap open to read a schema."""
        raise NotImplementedError


__all__ = ["FileRecord", "Location", "Opened", "Provenance", "SourceAdapter", "SourceSpec",
           "SourceStream", "display_url"]
