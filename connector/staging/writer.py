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

import contextlib
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from fsspec import AbstractFileSystem
from fsspec.implementations.local import LocalFileSystem

from connector.staging.dictionary_encoding import dictionary_columns
from connector.staging.errors import StagingError
from connector.staging.parallel_parts import _ParallelParts, resolve_encode_threads
from connector.staging.parts import PartInfo, WriteProgress, _Part
from connector.staging.row_groups import MIB, RowGroups

__all__ = ["PartInfo", "WriteProgress", "WriteResult", "pipelined", "write_parts"]

PART_NAME = "part-{:05d}.parquet"
PART_ROW_GROUPS = 8
PARALLEL_QUEUE_DEPTH = 3  # on 2 cores 3 beat 2; 4 (with 16-row-group parts) passed 300 MiB of RSS
SERIAL_QUEUE_DEPTH = 2


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
