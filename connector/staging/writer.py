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

Encoding runs on several cores (``encode_threads``, default the CPUs up to 4): pyarrow's
``ParquetWriter`` encodes on the calling thread only, but releases the GIL, so parts are encoded
side by side, each by its own thread and ``ParquetWriter``. The calling thread pulls the input
(parsing, duties), coalesces it and hands each row group, in order, to the part being filled; a
part takes contiguous row groups only and is cut after ``part_row_groups`` of them (or at
``max_part_bytes``), so ``part-00000`` holds the first rows and reading the parts in name order
gives the source's order. While part N's last row groups are still being encoded, part N+1
starts on another thread. With one thread the parts are written one after the other in the
calling thread while ``pipelined_read`` pulls the input in a helper thread.

Memory: the row group being filled, and at most ``encode_threads + queue_depth`` row groups handed
over but not yet written (those being encoded included; 2 + 3 on 2 cores), whatever the input size.
"""

from __future__ import annotations

import collections
import contextlib
import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from fsspec import AbstractFileSystem
from fsspec.implementations.local import LocalFileSystem

from connector.staging.errors import SchemaMismatch, StagingError
from connector.staging.sink import HashingFile

MIB = 1 << 20
PART_NAME = "part-{:05d}.parquet"
MAX_ENCODE_THREADS = 4
PART_ROW_GROUPS = 8
PARALLEL_QUEUE_DEPTH = 3  # on 2 cores 3 beat 2; 4 (with 16-row-group parts) passed 300 MiB of RSS
SERIAL_QUEUE_DEPTH = 2
WRITE_BUFFER_BYTES = 1 << 20  # native buffer between the Parquet writer and the hashing sink


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
    """One open part file: ParquetWriter into a native buffer in front of the hashing sink.

    The buffer matters for speed: the Parquet writer makes about 145 small writes per row
    group (page headers, pages), and each write into a Python file object takes the GIL, which
    the reader and parser threads hold often; with ``WRITE_BUFFER_BYTES`` buffered natively the
    sink sees a few large writes (on 2 cores the process went from 1.63 to 1.75 busy cores).
    """

    def __init__(self, fs: AbstractFileSystem, path: str, name: str, schema: pa.Schema,
                 parquet_options: dict[str, Any], *, fsync: bool, block_size: int | None) -> None:
        self.path, self.name, self.fs = path, name, fs
        open_options = {"block_size": block_size} if block_size else {}
        self.sink = HashingFile(fs.open(path, "wb", **open_options), fsync=fsync)
        try:
            self.out = pa.BufferedOutputStream(pa.PythonFile(self.sink, mode="w"), WRITE_BUFFER_BYTES)
            self.writer = pq.ParquetWriter(self.out, schema, **parquet_options)
        except BaseException:
            self.sink.discard()
            raise
        self.rows = self.row_groups = 0

    @property
    def size(self) -> int:
        """Bytes written so far, buffered ones included."""
        return self.out.tell()

    def write(self, table: pa.Table) -> None:
        self.writer.write_table(table, row_group_size=max(table.num_rows, 1))
        self.rows += table.num_rows
        self.row_groups += 1

    def close(self) -> PartInfo:
        self.writer.close()
        self.out.close()  # flushes the buffer and closes the sink (fsync, commit)
        self.sink.close()
        return PartInfo(self.name, self.path, self.rows, self.sink.size, self.sink.hash.hexdigest(),
                        self.row_groups)

    def discard(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()
        self.sink.discard()  # first, so the buffer's last flush is refused, not committed
        with contextlib.suppress(Exception):
            self.out.close()
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


def resolve_encode_threads(value: int | None = None) -> int:
    """Parquet encoding threads: ``value`` (the ``PARQUET_ENCODE_THREADS`` setting, passed in by
    the staging service), else half the CPUs (at most :data:`MAX_ENCODE_THREADS`). 1: one part at
    a time, in the calling thread.

    Half: the parsers take the other cores. On 2 cores a second encoder measured no faster than
    one (1.10x vs 1.08x the best anchor, docs/staging.md) and wrote 9 parts per GiB instead of
    one, so 2-core machines keep the single encoder."""
    if value is not None:
        if value < 1:
            raise ValueError("encode_threads must be 1 (one part at a time) or more")
        return value
    return max(1, min((os.cpu_count() or 1) // 2, MAX_ENCODE_THREADS))


_STOP = object()
_FINISH = object()
ROW_GROUP_OVERHEAD = 64 * 1024  # page headers, statistics: added to the bound of a row group's bytes


class _PartEncoder:
    """One part encoded by a thread of ``pool``: the row groups handed to it, in the order handed.

    The thread reports to ``events``: ``("written", self, rows, size)`` after each row group,
    ``("closed", self, PartInfo)`` once the part is closed, ``("failed", self, exc)`` (the part
    discarded). ``_STOP`` makes it discard the part and end.
    """

    def __init__(self, index: int, make_part: Callable[[int], _Part], events: queue.SimpleQueue[Any],
                 pool: ThreadPoolExecutor) -> None:
        self.index = index
        self.events = events
        self.make_part = make_part
        self.tables: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.assigned = 0  # row groups handed over
        self.size = 0  # bytes written, as last reported
        self.bounds: collections.deque[int] = collections.deque()  # per row group not yet written
        pool.submit(self._run)

    @property
    def size_bound(self) -> int:
        """An upper bound of the part's size once every row group handed over is written."""
        return self.size + sum(self.bounds)

    def put(self, table: pa.Table) -> None:
        self.assigned += 1
        self.bounds.append(2 * table.nbytes + ROW_GROUP_OVERHEAD)
        self.tables.put(table)

    def finish(self) -> None:
        self.tables.put(_FINISH)

    def stop(self) -> None:
        self.tables.put(_STOP)

    def _run(self) -> None:
        part: _Part | None = None
        try:
            part = self.make_part(self.index)
            while True:
                item = self.tables.get()
                if item is _STOP:
                    break
                if item is _FINISH:
                    info, part = part.close(), None
                    self.events.put(("closed", self, info))
                    return
                part.write(item)
                rows, item = item.num_rows, None  # not held while waiting for the next one
                self.events.put(("written", self, rows, part.size))
        except BaseException as exc:  # noqa: BLE001  (handed to the calling thread, re-raised there)
            if part is not None:
                part.discard()  # before reporting: the caller's abort may remove the prefix next
            self.events.put(("failed", self, exc))
            return
        if part is not None:
            part.discard()


class _ParallelParts:
    """The calling thread's side of parallel encoding: hand row groups to parts, in order, with at
    most ``threads`` parts open and ``in_flight`` row groups handed over but not yet written."""

    def __init__(self, make_part: Callable[[int], _Part], *, threads: int, in_flight: int,
                 part_row_groups: int, max_part_bytes: int,
                 on_row_group: Callable[[WriteProgress], None] | None) -> None:
        self.make_part = make_part
        self.threads, self.in_flight_max = threads, in_flight
        self.part_row_groups, self.max_part_bytes = part_row_groups, max_part_bytes
        self.on_row_group = on_row_group
        self.events: queue.SimpleQueue[Any] = queue.SimpleQueue()
        # One thread per open part, reused from part to part.
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="connector-parquet")
        self.active: list[_PartEncoder] = []  # started and not yet closed, in part order
        self.current: _PartEncoder | None = None  # the part row groups are handed to
        self.parts: dict[int, PartInfo] = {}
        self.started = self.in_flight = self.rows = self.row_groups = self.closed_bytes = 0

    def put(self, table: pa.Table) -> None:
        self._drain()
        if self.current is not None and self._full(self.current):
            self.current.finish()
            self.current = None
        if self.current is None:
            while len(self.active) >= self.threads:
                self._wait()
            self.current = _PartEncoder(self.started, self.make_part, self.events, self.pool)
            self.active.append(self.current)
            self.started += 1
        while self.in_flight >= self.in_flight_max:
            self._wait()
        self.current.put(table)
        self.in_flight += 1

    def _full(self, part: _PartEncoder) -> bool:
        """The serial rule (a part is closed once its size reaches the bound), decided on the
        exact size: when the bound of what is still being encoded could reach it, wait for it."""
        if part.assigned >= self.part_row_groups:
            return True
        while part.bounds and part.size_bound >= self.max_part_bytes:
            self._wait()
        return part.size >= self.max_part_bytes

    def finish(self) -> tuple[PartInfo, ...]:
        """Close the last part, wait for every part; the parts in order."""
        if self.current is not None:
            self.current.finish()
            self.current = None
        while self.active:
            self._wait()
        self.pool.shutdown(wait=True)
        return tuple(self.parts[i] for i in sorted(self.parts))

    def abort(self) -> None:
        """Stop every part still open (each discards its file) and wait for their threads."""
        for part in self.active:
            part.stop()
        self.pool.shutdown(wait=True, cancel_futures=True)  # a part not started yet opens nothing
        self.active, self.current = [], None

    def _drain(self) -> None:
        while True:
            try:
                event = self.events.get_nowait()
            except queue.Empty:
                return
            self._handle(event)

    def _wait(self) -> None:
        self._handle(self.events.get())

    def _handle(self, event: tuple[Any, ...]) -> None:
        kind, part, *rest = event
        if kind == "failed":
            self.active.remove(part)
            if self.current is part:
                self.current = None
            raise rest[0]
        if kind == "closed":
            self.parts[part.index] = rest[0]
            self.closed_bytes += rest[0].bytes
            self.active.remove(part)
            return
        rows, part.size = rest
        part.bounds.popleft()
        self.in_flight -= 1
        self.rows += rows
        self.row_groups += 1
        if self.on_row_group is not None:
            size = self.closed_bytes + sum(p.size for p in self.active)
            self.on_row_group(WriteProgress(self.rows, size, self.started, self.row_groups))


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
    encode_threads: int | None = None,
    part_row_groups: int = PART_ROW_GROUPS,
    pipelined_read: bool = True,
    queue_depth: int | None = None,
    fsync: bool = False,
    block_size: int | None = None,
    on_row_group: Callable[[WriteProgress], None] | None = None,
) -> WriteResult:
    """Write ``batches`` as ``directory/part-NNNNN.parquet`` files; return their rows, bytes, sha256.

    ``filesystem`` is an fsspec file system (local by default); ``block_size`` is passed to its
    ``open`` (the upload part size on S3). ``use_dictionary="strings"`` dictionary-encodes text
    and binary columns only, and of those only the ones whose values repeat in the first row
    group (:func:`dictionary_columns`); the choice holds for every part. ``encode_threads``
    (see :func:`resolve_encode_threads`) parts are encoded at once, each cut after ``part_row_groups``
    row groups; with one thread a part holds row groups until it reaches ``max_part_bytes``.
    ``queue_depth`` row groups may wait beyond the ones being encoded (default: 3 with several
    threads, 2 with one).
    ``on_row_group`` is called in the calling thread after every row group written with the
    totals so far (progress, quotas); an exception from it stops the write. On any error, in
    any thread, every part being written is discarded and the first exception propagates;
    finished parts stay for the caller's abort to remove with the rest of the temporary prefix.
    """
    threads = resolve_encode_threads(encode_threads)
    if queue_depth is None:
        queue_depth = PARALLEL_QUEUE_DEPTH if threads > 1 else SERIAL_QUEUE_DEPTH
    if max_part_bytes <= 0 or part_row_groups <= 0 or queue_depth <= 0:
        raise ValueError("max_part_bytes, part_row_groups and queue_depth must be positive")
    fs = filesystem or LocalFileSystem()
    directory = directory.rstrip("/")
    groups = RowGroups(batches, schema=schema, rows=row_group_rows, nbytes=row_group_bytes)
    options: dict[str, Any] = {}

    def part_options(fixed: pa.Schema, first: pa.Table | None) -> dict[str, Any]:
        if not options:
            dictionary: Any = use_dictionary
            if use_dictionary == "strings":
                dictionary = dictionary_columns(fixed, first) or False
            options.update({"compression": compression, "compression_level": compression_level,
                            "use_dictionary": dictionary, "write_statistics": write_statistics,
                            **(parquet_options or {})})
        return options

    def open_part(index: int) -> _Part:
        name = PART_NAME.format(index)
        return _Part(fs, f"{directory}/{name}", name, groups.schema, options, fsync=fsync,
                     block_size=block_size)

    if threads > 1:
        parts = _write_parallel(groups, open_part, part_options, threads=threads,
                                in_flight=threads + queue_depth, part_row_groups=part_row_groups,
                                max_part_bytes=max_part_bytes, on_row_group=on_row_group)
    else:
        parts = _write_serial(groups, open_part, part_options, pipelined_read=pipelined_read,
                              queue_depth=queue_depth, max_part_bytes=max_part_bytes,
                              on_row_group=on_row_group)
    return WriteResult(groups.schema, parts)


def _no_input(groups: RowGroups) -> None:
    if groups.schema is None:
        raise StagingError("the source yielded no record batches and no schema was given")


def _write_parallel(groups: RowGroups, open_part: Callable[[int], _Part],
                    part_options: Callable[[pa.Schema, pa.Table | None], dict[str, Any]], *,
                    threads: int, in_flight: int, part_row_groups: int, max_part_bytes: int,
                    on_row_group: Callable[[WriteProgress], None] | None) -> tuple[PartInfo, ...]:
    writer = _ParallelParts(open_part, threads=threads, in_flight=in_flight,
                            part_row_groups=part_row_groups, max_part_bytes=max_part_bytes,
                            on_row_group=on_row_group)
    stream = iter(groups)
    try:
        for table in stream:
            part_options(groups.schema, table)
            writer.put(table)
            del table  # handed over: counted in flight from here
        _no_input(groups)
        parts = writer.finish()
        if not parts:  # empty input: one part with the schema, no rows
            part_options(groups.schema, None)
            empty = open_part(0)
            try:
                parts = (empty.close(),)
            except BaseException:
                empty.discard()
                raise
        return parts
    except BaseException:
        writer.abort()
        raise
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()


def _write_serial(groups: RowGroups, open_part: Callable[[int], _Part],
                  part_options: Callable[[pa.Schema, pa.Table | None], dict[str, Any]], *,
                  pipelined_read: bool, queue_depth: int, max_part_bytes: int,
                  on_row_group: Callable[[WriteProgress], None] | None) -> tuple[PartInfo, ...]:
    stream: Iterator[pa.Table] = (pipelined(groups, depth=queue_depth) if pipelined_read
                                  else iter(groups))
    parts: list[PartInfo] = []
    current: _Part | None = None
    written = rows = row_groups = 0
    try:
        for table in stream:
            if current is None:
                part_options(groups.schema, table)
                current = open_part(len(parts))
            current.write(table)
            rows += table.num_rows
            row_groups += 1
            if current.size >= max_part_bytes:
                parts.append(current.close())
                written += parts[-1].bytes
                current = None
            if on_row_group is not None:
                size = written + (current.size if current is not None else 0)
                on_row_group(WriteProgress(rows, size, len(parts) + (current is not None), row_groups))
        _no_input(groups)
        if current is None and not parts:
            part_options(groups.schema, None)
            current = open_part(0)  # empty input: one part with the schema, no rows
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
    return tuple(parts)
