"""Streaming Parquet writer: record batches in, ``part-NNNNN.parquet`` files with sha256 out.

The schema is fixed by the first batch (or ``schema=``); later batches are cast to it when that
is lossless, else :class:`SchemaMismatch` names the column. Batches are coalesced into row
groups of about ``row_group_rows`` rows (or ``row_group_bytes``), written zstd-compressed with
statistics and dictionary encoding for string columns only (the tuned settings of
research/performance.md), and among those only for the ones whose values repeat in the first
row group: a mostly distinct text column (identifiers, timestamps kept as text) would fill the
dictionary page, fall back to plain encoding and have hashed every value for nothing. A part
file is closed and the next one started once it reaches ``max_part_bytes``. Each file's sha256
and size are computed from the bytes as they are written (no second read).

Memory: the writer holds the row group being filled, at most ``queue_depth`` finished ones and
the one being encoded, whatever the input size. With ``pipelined=True`` a helper thread pulls
the input (parsing, duties) and coalesces while this thread encodes, so the two overlap.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from fsspec import AbstractFileSystem
from fsspec.implementations.local import LocalFileSystem

from connector.staging.errors import SchemaMismatch, StagingError

MIB = 1 << 20
PART_NAME = "part-{:05d}.parquet"


@dataclass(frozen=True)
class PartInfo:
    """One written part file."""

    name: str
    path: str
    rows: int
    bytes: int
    sha256: str
    row_groups: int


@dataclass(frozen=True)
class WriteProgress:
    """Totals so far, reported after every row group."""

    rows: int
    bytes: int
    parts: int
    row_groups: int


@dataclass(frozen=True)
class WriteResult:
    """What :func:`write_parts` wrote."""

    schema: pa.Schema
    parts: tuple[PartInfo, ...]

    @property
    def rows(self) -> int:
        return sum(p.rows for p in self.parts)

    @property
    def bytes(self) -> int:
        return sum(p.bytes for p in self.parts)


class HashingFile(io.RawIOBase):
    """Write-through file object that counts and sha256-hashes every byte written."""

    def __init__(self, raw: Any, *, fsync: bool = False) -> None:
        super().__init__()
        self.raw = raw
        self.fsync = fsync
        self.hash = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self.hash.update(view)
        self.raw.write(view)
        self.size += view.nbytes
        return view.nbytes

    def tell(self) -> int:
        return self.size

    def close(self) -> None:
        if self.closed:
            return
        super().close()
        self.raw.flush()
        if self.fsync:
            with contextlib.suppress(AttributeError, io.UnsupportedOperation):
                os.fsync(self.raw.fileno())
        self.raw.close()

    def discard(self) -> None:
        """Close without committing, where the file system allows it (S3 multipart uploads)."""
        if self.closed:
            return
        super().close()
        with contextlib.suppress(Exception):
            self.raw.discard()
        with contextlib.suppress(Exception):
            self.raw.close()


class RowGroups:
    """Coalesce a stream of batches into tables of about one row group each."""

    def __init__(self, batches: Iterable[pa.RecordBatch], *, schema: pa.Schema | None = None,
                 rows: int = 131_072, nbytes: int = 128 * MIB) -> None:
        if rows <= 0 or nbytes <= 0:
            raise ValueError("row group targets must be positive")
        self.batches = batches
        self.schema = schema
        self.rows_target = rows
        self.bytes_target = nbytes

    def conform(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """``batch`` with exactly the fixed schema, or :class:`SchemaMismatch` naming a column."""
        if isinstance(batch, pa.Table):
            raise TypeError("write_parts takes record batches; use Table.to_batches()")
        if self.schema is None:
            self.schema = batch.schema
        schema = self.schema
        if batch.schema.equals(schema, check_metadata=False):
            return pa.RecordBatch.from_arrays(batch.columns, schema=schema) \
                if batch.schema.metadata != schema.metadata else batch
        if batch.schema.names != schema.names:
            extra = [n for n in batch.schema.names if n not in schema.names]
            missing = [n for n in schema.names if n not in batch.schema.names]
            what = (f"column {extra[0]!r} is new" if extra else
                    f"column {missing[0]!r} is missing" if missing else "the columns are in another order")
            raise SchemaMismatch(f"record batch does not match the schema fixed by the first batch: {what}",
                                 column=(extra or missing or [None])[0])
        arrays = []
        for target, array in zip(schema, batch.columns, strict=True):
            if array.type != target.type:
                try:
                    array = array.cast(target.type, safe=True)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    raise SchemaMismatch(
                        f"column {target.name!r} changed type from {target.type} to {array.type} "
                        f"and cannot be cast safely: {exc}", column=target.name) from exc
            if not target.nullable and array.null_count:
                raise SchemaMismatch(f"column {target.name!r} is not nullable but has nulls",
                                     column=target.name)
            arrays.append(array)
        return pa.RecordBatch.from_arrays(arrays, schema=schema)

    def __iter__(self) -> Iterator[pa.Table]:
        buffered: list[pa.RecordBatch] = []
        rows = size = 0
        for incoming in self.batches:
            batch = self.conform(incoming)
            while batch.num_rows:
                per_row = batch.nbytes / batch.num_rows
                room = self.rows_target - rows
                if per_row:
                    room = min(room, max(1, int((self.bytes_target - size) / per_row)))
                piece = batch if batch.num_rows <= room else batch.slice(0, room)
                batch = batch.slice(piece.num_rows)
                buffered.append(piece)
                rows += piece.num_rows
                size += piece.nbytes
                if rows >= self.rows_target or size >= self.bytes_target:
                    yield pa.Table.from_batches(buffered, schema=self.schema)
                    buffered, rows, size = [], 0, 0
        if buffered:
            yield pa.Table.from_batches(buffered, schema=self.schema)


class _Failed:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


_DONE = object()


def pipelined(items: Iterable[Any], *, depth: int = 2, name: str = "connector-stage-reader"
              ) -> Iterator[Any]:
    """Iterate ``items`` in a helper thread, handing them over through a queue of ``depth``.

    An exception in the helper is re-raised here; closing this generator stops the helper.
    """
    handoff: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        iterator = iter(items)
        try:
            for item in iterator:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as exc:  # noqa: BLE001  (handed to the consumer, re-raised there)
            put(_Failed(exc))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    close()

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item = handoff.get()
            if item is _DONE:
                break
            if isinstance(item, _Failed):
                raise item.exc
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


class _Part:
    """One open part file: hashing sink plus ParquetWriter."""

    def __init__(self, fs: AbstractFileSystem, path: str, name: str, schema: pa.Schema,
                 parquet_options: dict[str, Any], *, fsync: bool, block_size: int | None) -> None:
        self.path, self.name, self.fs = path, name, fs
        open_options = {"block_size": block_size} if block_size else {}
        self.sink = HashingFile(fs.open(path, "wb", **open_options), fsync=fsync)
        try:
            self.writer = pq.ParquetWriter(self.sink, schema, **parquet_options)
        except BaseException:
            self.sink.discard()
            raise
        self.rows = self.row_groups = 0

    def write(self, table: pa.Table) -> None:
        self.writer.write_table(table, row_group_size=max(table.num_rows, 1))
        self.rows += table.num_rows
        self.row_groups += 1

    def close(self) -> PartInfo:
        self.writer.close()
        self.sink.close()
        return PartInfo(self.name, self.path, self.rows, self.sink.size, self.sink.hash.hexdigest(),
                        self.row_groups)

    def discard(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()
        self.sink.discard()
        with contextlib.suppress(Exception):
            self.fs.rm(self.path)


DICTIONARY_MAX_DISTINCT = 0.5  # distinct / non-null values above which a text column is written plain
DICTIONARY_MIN_SAMPLE = 1024   # fewer non-null values in the first row group: no decision, keep it


def dictionary_columns(schema: pa.Schema, sample: pa.Table | None = None) -> list[str]:
    """Columns worth dictionary-encoding in Parquet: text, binary and dictionary columns.

    With ``sample`` (the first row group), a text or binary column is left out when more than
    ``DICTIONARY_MAX_DISTINCT`` of its non-null values there are distinct: Parquet would fill
    the dictionary page, fall back to plain encoding and have spent the hashing for nothing
    (about 7% of the encoding CPU and 3% more bytes on the benchmark's SKU column).
    Dictionary-typed columns are always kept.
    """
    def wanted(t: pa.DataType) -> bool:
        return (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t)
                or pa.types.is_large_binary(t) or pa.types.is_dictionary(t)
                or str(t) in ("string_view", "binary_view"))
    names = [f.name for f in schema if wanted(f.type)]
    if sample is None:
        return names
    return [name for name in names if _repeats(sample.column(name))]


def _repeats(column: pa.ChunkedArray) -> bool:
    """Whether the values of ``column`` repeat enough for a dictionary to pay (see above)."""
    if pa.types.is_dictionary(column.type):
        return True
    values = len(column) - column.null_count
    if values < DICTIONARY_MIN_SAMPLE:
        return True
    try:
        distinct = pc.count_distinct(column).as_py()
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):  # a type without a hash kernel
        return True
    return distinct <= DICTIONARY_MAX_DISTINCT * values


def write_parts(
    batches: Iterable[pa.RecordBatch],
    directory: str,
    *,
    filesystem: AbstractFileSystem | None = None,
    schema: pa.Schema | None = None,
    row_group_rows: int = 131_072,
    row_group_bytes: int = 128 * MIB,
    max_part_bytes: int = 512 * MIB,
    compression: str = "zstd",
    compression_level: int | None = None,
    use_dictionary: bool | list[str] | str = "strings",
    write_statistics: bool = True,
    parquet_options: dict[str, Any] | None = None,
    pipelined_read: bool = True,
    queue_depth: int = 2,
    fsync: bool = False,
    block_size: int | None = None,
    on_row_group: Callable[[WriteProgress], None] | None = None,
) -> WriteResult:
    """Write ``batches`` as ``directory/part-NNNNN.parquet`` files; return their rows, bytes, sha256.

    ``filesystem`` is an fsspec file system (local by default); ``block_size`` is passed to its
    ``open`` (the upload part size on S3). ``use_dictionary="strings"`` dictionary-encodes text
    and binary columns only, and of those only the ones whose values repeat in the first row
    group (:func:`dictionary_columns`); the choice holds for every part. ``on_row_group`` is
    called after every row group with the totals so far (progress, quotas); an exception from it
    stops the write. On any error the part being written is discarded and the exception
    propagates; finished parts stay for the caller's abort to remove with the rest of the
    temporary prefix.
    """
    if max_part_bytes <= 0:
        raise ValueError("max_part_bytes must be positive")
    fs = filesystem or LocalFileSystem()
    directory = directory.rstrip("/")
    groups = RowGroups(batches, schema=schema, rows=row_group_rows, nbytes=row_group_bytes)
    stream: Iterator[pa.Table] = (pipelined(groups, depth=queue_depth) if pipelined_read
                                  else iter(groups))
    parts: list[PartInfo] = []
    current: _Part | None = None
    written = rows = row_groups = 0
    options: dict[str, Any] = {}

    def open_part(fixed: pa.Schema, first: pa.Table | None) -> _Part:
        nonlocal options
        if not options:
            dictionary: Any = use_dictionary
            if use_dictionary == "strings":
                dictionary = dictionary_columns(fixed, first) or False
            options = {"compression": compression, "compression_level": compression_level,
                       "use_dictionary": dictionary, "write_statistics": write_statistics,
                       **(parquet_options or {})}
        name = PART_NAME.format(len(parts))
        return _Part(fs, f"{directory}/{name}", name, fixed, options, fsync=fsync, block_size=block_size)

    try:
        for table in stream:
            if current is None:
                current = open_part(groups.schema, table)
            current.write(table)
            rows += table.num_rows
            row_groups += 1
            if current.sink.size >= max_part_bytes:
                parts.append(current.close())
                written += parts[-1].bytes
                current = None
            if on_row_group is not None:
                size = written + (current.sink.size if current is not None else 0)
                on_row_group(WriteProgress(rows, size, len(parts) + (current is not None), row_groups))
        if groups.schema is None:
            raise StagingError("the source yielded no record batches and no schema was given")
        if current is None and not parts:
            current = open_part(groups.schema, None)  # empty input: one part with the schema, no rows
        if current is not None:
            parts.append(current.close())
            current = None
    except BaseException:
        if current is not None:
            current.discard()
        raise
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()
    return WriteResult(groups.schema, tuple(parts))
