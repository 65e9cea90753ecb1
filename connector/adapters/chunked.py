"""Text formats parsed on several cores: the decoded text is cut into large chunks at record
boundaries, the chunks are parsed in a small thread pool (pyarrow releases the GIL), and their
batches are handed out in file order with at most ``threads + READ_AHEAD`` chunks parsed ahead of
the consumer.

:class:`ChunkedReader` holds what CSV (:mod:`~connector.adapters.csv_parallel`) and JSON Lines
(:mod:`~connector.adapters.jsonl_parallel`) share: the cutting, the read-ahead, the ordering, and
the hand-over of the rest of the text to the format's serial reader. A subclass says where a
record ends, how a chunk is parsed, whether its result can be trusted, and how the serial reader
is opened. Reads from the text (with the byte limit, deadline and decompression guard below it)
happen on the consumer's thread only; a read failure is raised after the chunks before it.

Memory: the chunk being read, the chunks in flight (``threads + READ_AHEAD``), and the batches of
the chunk being handed out; a record longer than ``MAX_RECORD_CHUNKS`` chunks sends the rest of the text
to the serial reader instead of growing the buffer, with blocks of ``max_record_bytes``
(``SOURCE_MAX_RECORD_BYTES``) so that it reads records up to that size; a longer one raises
:class:`RecordTooLong` saying where it starts.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

import pyarrow as pa

from connector.adapters.streams import Prefixed

if TYPE_CHECKING:
    from connector.adapters.spec import SourceSpec

try:  # counting bytes with numpy is about 5x faster than bytes.count; both are exact
    import numpy as _np
except ImportError:  # pragma: no cover - numpy comes with pandas and most pyarrow installs
    _np = None

MAX_THREADS = 8
MAX_RECORD_CHUNKS = 8
# Chunks queued beyond one per thread: a thread that finishes its chunk starts the next at once,
# not after the consumer has handed out the batches before it (on 2 cores, without it the
# parsers idled about 10% of the time behind the Parquet encoder: docs/staging.md).
READ_AHEAD = 2
PARSE_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError)
MAX_ARROW_BLOCK = 1 << 30  # pyarrow's block size is a 32-bit integer


class RecordTooLong(pa.ArrowInvalid):
    """A record did not fit the serial reader's block (pyarrow: "straddling object straddles two
    block boundaries"); ``where`` says where it starts, ``limit`` is the block size."""

    def __init__(self, where: str, limit: int) -> None:
        super().__init__(where)
        self.where, self.limit = where, limit


def straddles(exc: BaseException) -> bool:
    """Whether pyarrow failed because a record is longer than its block."""
    return "straddling object" in str(exc)


def record_block(block_size: int, max_record_bytes: int) -> int:
    """The serial reader's block size where records may be long: pyarrow reads a record that
    straddles one block boundary, so a block of ``max_record_bytes`` reads every allowed one."""
    return min(max(block_size, max_record_bytes), MAX_ARROW_BLOCK)


def parse_threads(spec: SourceSpec) -> int:
    """Parser threads for ``spec``: ``csv_threads`` (the ``CSV_PARSE_THREADS`` setting where the
    staging service builds the spec), else the CPUs (at most :data:`MAX_THREADS`). 1 means the
    serial reader."""
    if spec.csv_threads is not None:
        return spec.csv_threads
    return max(1, min(os.cpu_count() or 1, MAX_THREADS))


def count_byte(data: bytes | memoryview, byte: int, start: int = 0, end: int | None = None) -> int:
    """How many ``byte`` bytes ``data[start:end]`` holds."""
    end = len(data) if end is None else end
    if _np is not None and end - start > 1 << 16:
        view = _np.frombuffer(data, dtype=_np.uint8, count=end - start, offset=start)
        return int(_np.count_nonzero(view == byte))
    return bytes(data[start:end]).count(bytes((byte,))) if isinstance(data, memoryview) else \
        data.count(bytes((byte,)), start, end)


def block_batches(table: pa.Table, nbytes: int, block_size: int) -> list[pa.RecordBatch]:
    """``table`` (parsed from ``nbytes`` of text) as batches of about one ``block_size`` block
    each, as the serial readers yield them (zero-copy slices)."""
    rows = max(1, -(-table.num_rows * block_size // max(nbytes, 1)))
    return table.to_batches(max_chunksize=rows)


@dataclass
class Chunk:
    start: int  # offset in the decoded text
    data: bytes | memoryview
    parsed: Future[list[pa.RecordBatch]] | None = None
    newlines: int = 0  # set by parsers that count lines


class ChunkedReader:
    """Batches of one text stream, parsed chunk by chunk in a thread pool, in file order.

    Subclasses implement :meth:`_record_end`, :meth:`_parse_chunk` (on a pool thread),
    :meth:`_accept` and :meth:`_open_serial`; they set ``schema`` and call :meth:`_start_pool`
    once the first chunk has fixed the types (or :meth:`_start_serial` to read serially).
    """

    schema: pa.Schema

    def __init__(self, text: BinaryIO, *, threads: int, chunk_bytes: int, name_prefix: str,
                 max_record_bytes: int) -> None:
        self._text = text
        self._max_record_bytes = max_record_bytes
        self._threads = threads
        self._chunk_bytes = chunk_bytes
        self._name_prefix = name_prefix
        self._carry = b""
        self._offset = 0  # decoded bytes taken from the text so far
        self._eof = False
        self._pending: BaseException | None = None  # a read failure, raised after the chunks before it
        self._queue: deque[Chunk] = deque()
        self._pool: ThreadPoolExecutor | None = None
        self._serial: Any = None
        self._serial_start = 0  # where in the text the serial reader took over
        self._first: list[pa.RecordBatch] = []
        self.rows = 0  # data rows handed out so far
        self.max_in_flight = 0  # most chunks read but not yet handed out (tests, diagnostics)

    # -- to implement --------------------------------------------------------------------
    def _record_end(self, data: bytes) -> int:
        """Length of the longest prefix of ``data`` that ends with a whole record (0: none)."""
        raise NotImplementedError

    def _parse_chunk(self, chunk: Chunk) -> list[pa.RecordBatch]:
        raise NotImplementedError

    def _accept(self, chunk: Chunk) -> list[pa.RecordBatch] | None:
        """The batches of a parsed chunk, or None to read it and the rest serially."""
        raise NotImplementedError

    def _open_serial(self, rest: BinaryIO) -> Any:
        """The serial reader, types fixed, over the rest of the text."""
        raise NotImplementedError

    # -- reading and cutting -----------------------------------------------------------
    def _next_chunk(self) -> Chunk | None:
        """The next whole-record chunk of the text; None at the end or when no record ends
        within ``MAX_RECORD_CHUNKS`` chunks (the leftover stays in ``_carry``)."""
        data = self._carry
        while not self._eof and self._pending is None:
            try:
                block = self._text.read(self._chunk_bytes)
            except BaseException as exc:  # noqa: BLE001  (raised once the chunks before it are out)
                self._pending = exc
                break
            if not block:
                self._eof = True
                break
            data = data + block if data else block
            cut = self._record_end(data)
            if cut:
                self._carry = data[cut:]
                chunk = Chunk(self._offset, memoryview(data)[:cut])
                self._offset += cut
                return chunk
            if len(data) > self._chunk_bytes * MAX_RECORD_CHUNKS:
                self._carry = data
                return None
        self._carry = b""
        if not data:
            return None
        if self._pending is not None:  # bytes after the last record end are not trusted either
            self._carry = data
            return None
        chunk = Chunk(self._offset, data)  # the last record needs no newline
        self._offset += len(data)
        return chunk

    def _start_pool(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=self._threads, thread_name_prefix=self._name_prefix)

    def _fill(self) -> None:
        limit = self._threads + READ_AHEAD
        while self._pool is not None and len(self._queue) < limit and self._serial is None:
            chunk = self._next_chunk()
            if chunk is None:
                return
            chunk.parsed = self._pool.submit(self._parse_chunk, chunk)
            self._queue.append(chunk)
            self.max_in_flight = max(self.max_in_flight, len(self._queue))

    def _rest_from(self, chunk: Chunk) -> BinaryIO:
        """The text from ``chunk`` on: it, the chunks queued after it, the carry, the stream."""
        parts = [chunk.data] + [c.data for c in self._queue] + [self._carry]
        self._queue.clear()
        self._carry = b""
        self._serial_start = chunk.start
        return Prefixed(b"".join(parts), self._text)

    def _serial_block(self, block_size: int) -> int:
        """The serial reader's block size: large enough for every record ``max_record_bytes``
        allows (it takes over after a long record, or after a chunk that was not trusted)."""
        return record_block(block_size, self._max_record_bytes)

    def _too_long(self, exc: BaseException, block_size: int) -> BaseException:
        """``exc``, or :class:`RecordTooLong` saying where when a record did not fit the block."""
        if not straddles(exc):
            return exc
        return RecordTooLong(f"a record after data row {self.rows} (in the text from byte "
                             f"{self._serial_start})", block_size)

    def _start_serial(self, chunk: Chunk | None) -> None:
        """Hand the rest of the text, from ``chunk`` (or the carry), to the serial reader."""
        rest = self._rest_from(chunk if chunk is not None else Chunk(self._offset, b""))
        self._serial = self._open_serial(rest)

    # -- batches -----------------------------------------------------------------------
    def __iter__(self) -> Iterator[pa.RecordBatch]:
        for batch in self._first:
            self.rows += batch.num_rows
            yield batch
        self._first = []
        while self._serial is None:
            self._fill()
            if not self._queue:
                if self._pending is not None:
                    raise self._pending
                if self._carry:  # a record longer than the buffer allows
                    self._start_serial(None)
                    break
                return
            chunk = self._queue[0]
            batches = self._accept(chunk)
            if batches is None:
                self._start_serial(chunk)
                break
            self._queue.popleft()
            self._fill()  # the freed slot is parsed while these batches go out
            for batch in batches:
                self.rows += batch.num_rows
                yield batch
        yield from self._serial_batches()

    def _serial_batches(self) -> Iterator[pa.RecordBatch]:
        for batch in self._serial or ():
            self.rows += batch.num_rows
            yield batch

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._queue.clear()
        if self._serial is not None:
            self._serial.close()
