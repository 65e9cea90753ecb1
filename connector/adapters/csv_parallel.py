"""CSV parsed on several cores: the decoded text is cut into large chunks at record boundaries,
the chunks are parsed in a small thread pool (pyarrow releases the GIL), and their batches are
yielded in file order with at most ``threads`` chunks parsed ahead of the consumer.

The result is the serial reader's, row for row and type for type:

* The first chunk is parsed by ``pyarrow.csv.open_csv`` with the serial options, so the header,
  ``skip_rows`` and the types inferred from the first block are exactly the serial ones; every
  later chunk is parsed with those names and types fixed, as the serial reader fixes them.
* A chunk ends after a newline preceded by an even number of quote characters: with RFC 4180
  quoting (a quote inside a quoted field is doubled) that newline is not inside a quoted field.
  Counting is cheap (numpy when present, else ``bytes.count``).
* Quotes that RFC 4180 does not allow (``5"3``, ``"a"b``) can fool the count. The only harmful
  mistake is a cut inside a quoted field, and pyarrow then reads that field to the end of the
  chunk: the last row comes out short (an error) or its last value ends with the newline the
  chunk ends with. A chunk whose parse fails or whose last value ends with a newline is never
  trusted: from its first byte on, the rest of the file is read by the serial reader (types
  fixed), so a real error is raised by the serial reader with the serial message, to which the
  data row and byte range are added.
* No quote character (``quotechar=None``) means every newline ends a record. An escape
  character, or ``newlines_in_values=False``, keeps the serial reader (see :func:`eligible`).

Memory: the chunk being read, the chunks in flight (``threads``), and the batches of the chunk
being handed out; a record longer than ``MAX_RECORD_CHUNKS`` chunks sends the rest of the file
to the serial reader instead of growing the buffer.
"""

from __future__ import annotations

import copy
import os
import re
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

import pyarrow as pa
import pyarrow.csv as pa_csv

from connector.adapters.streams import Prefixed

if TYPE_CHECKING:
    from connector.adapters.base import SourceSpec

try:  # counting quotes with numpy is about 5x faster than bytes.count; both are exact
    import numpy as _np
except ImportError:  # pragma: no cover - numpy comes with pandas and most pyarrow installs
    _np = None

THREADS_ENV = "CONNECTOR_CSV_PARSE_THREADS"
DEFAULT_CHUNK_BYTES = 2 << 20
MAX_THREADS = 8
MAX_RECORD_CHUNKS = 8
_ROW = re.compile(r"Row #(\d+): ")


def parse_threads(spec: SourceSpec) -> int:
    """Parser threads for ``spec``: ``csv_threads``, else ``CONNECTOR_CSV_PARSE_THREADS``, else
    the CPUs (at most :data:`MAX_THREADS`). 1 means the serial reader."""
    if spec.csv_threads is not None:
        return spec.csv_threads
    raw = os.environ.get(THREADS_ENV, "").strip()
    if raw:
        try:
            return max(1, int(raw))
        except ValueError:
            return 1  # config validation names the bad value at start-up; stay safe here
    return max(1, min(os.cpu_count() or 1, MAX_THREADS))


def eligible(spec: SourceSpec) -> bool:
    """Whether ``spec``'s dialect lets records be found by counting quotes."""
    if parse_threads(spec) < 2 or spec.escapechar is not None:
        return False
    return spec.quotechar is None or spec.newlines_in_values


def count_quotes(data: bytes, quote: int, start: int = 0, end: int | None = None) -> int:
    """How many ``quote`` bytes ``data[start:end]`` holds."""
    end = len(data) if end is None else end
    if _np is not None and end - start > 1 << 16:
        view = _np.frombuffer(data, dtype=_np.uint8, count=end - start, offset=start)
        return int(_np.count_nonzero(view == quote))
    return data.count(bytes((quote,)), start, end)


def record_end(data: bytes, quote: int | None) -> int:
    """Length of the longest prefix of ``data`` that ends with a whole record (0: none)."""
    newline = data.rfind(b"\n")
    if quote is None or newline < 0:
        return newline + 1
    inside = count_quotes(data, quote) % 2
    end = len(data)
    while newline >= 0:
        inside ^= count_quotes(data, quote, newline, end) % 2
        if not inside:
            return newline + 1
        end, newline = newline, data.rfind(b"\n", 0, newline)
    return 0


@dataclass
class _Chunk:
    start: int  # offset in the decoded text
    data: bytes | memoryview
    parsed: Future[list[pa.RecordBatch]] | None = None


class ParallelCsvReader:
    """Batches of one CSV text stream, parsed by a thread pool, in file order.

    ``read``, ``parse`` and ``convert`` are the serial reader's options; ``schema`` is known
    once the constructor returns, as with ``pyarrow.csv.open_csv`` (whose errors it raises).
    """

    def __init__(self, text: BinaryIO, *, read: pa_csv.ReadOptions, parse: pa_csv.ParseOptions,
                 convert: pa_csv.ConvertOptions, quotechar: str | None, threads: int,
                 chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> None:
        self._text, self._read, self._parse, self._convert = text, read, parse, convert
        self._quote = ord(quotechar) if quotechar else None
        self._chunk_bytes = max(chunk_bytes, read.block_size)
        self._threads = threads
        self._carry = b""
        self._offset = 0  # decoded bytes taken from the text so far
        self._eof = False
        self._pending: BaseException | None = None  # a read failure, raised after the chunks before it
        self._queue: deque[_Chunk] = deque()
        self._pool: ThreadPoolExecutor | None = None
        self._serial: Any = None
        self._chunk_error: Exception | None = None
        self.rows = 0  # data rows handed out so far
        self.max_in_flight = 0  # most chunks read but not yet handed out (tests, diagnostics)
        first = self._next_chunk()
        if first is None and self._pending is not None:
            raise self._pending
        if first is None:  # nothing to cut (empty, or one huge record): the serial reader decides
            self._first: list[pa.RecordBatch] = []
            self._serial = pa_csv.open_csv(Prefixed(self._carry, text), read_options=read,
                                           parse_options=parse, convert_options=convert)
            self._carry = b""
            self.schema = self._serial.schema
            return
        whole_chunk = self._chunk_bytes * (MAX_RECORD_CHUNKS + 1)
        try:
            # The serial reader's schema: names from the header, types from the first block.
            with pa_csv.open_csv(pa.BufferReader(pa.py_buffer(first.data)), read_options=read,
                                 parse_options=parse, convert_options=convert) as probe:
                self.schema = probe.schema
            self._fixed_convert = copy.copy(convert)  # a new options object (pyarrow reduces it)
            self._fixed_convert.column_types = {f.name: f.type for f in self.schema}
            # The first chunk too is parsed as one block: pyarrow's streaming reader drops the LF
            # of a quoted CRLF whose CR ends one of its blocks.
            first_read = pa_csv.ReadOptions(
                use_threads=False, block_size=whole_chunk, column_names=read.column_names,
                skip_rows=read.skip_rows, autogenerate_column_names=read.autogenerate_column_names)
            self._first = self._parse_with(first.data, first_read)
            trusted = self._first_schema_agrees() and self._trusted(self._first)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            trusted = False
        if not trusted:  # the serial reader from the start: its schema, or its error
            self._first = []
            self._serial = pa_csv.open_csv(self._rest_from(first), read_options=read, parse_options=parse,
                                           convert_options=convert)
            self.schema = self._serial.schema
            return
        self._fixed_read = pa_csv.ReadOptions(use_threads=False, column_names=self.schema.names,
                                              block_size=whole_chunk)
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="connector-csv")

    # -- reading and cutting -----------------------------------------------------------
    def _next_chunk(self) -> _Chunk | None:
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
            cut = record_end(data, self._quote)
            if cut:
                self._carry = data[cut:]
                chunk = _Chunk(self._offset, memoryview(data)[:cut])
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
        chunk = _Chunk(self._offset, data)  # the last record needs no newline
        self._offset += len(data)
        return chunk

    def _fill(self) -> None:
        while self._pool is not None and len(self._queue) < self._threads and self._serial is None:
            chunk = self._next_chunk()
            if chunk is None:
                return
            chunk.parsed = self._pool.submit(self._parse_chunk, chunk.data)
            self._queue.append(chunk)
            self.max_in_flight = max(self.max_in_flight, len(self._queue))

    def _parse_chunk(self, data: bytes | memoryview) -> list[pa.RecordBatch]:
        return self._parse_with(data, self._fixed_read)

    def _parse_with(self, data: bytes | memoryview, read: pa_csv.ReadOptions) -> list[pa.RecordBatch]:
        table = pa_csv.read_csv(pa.BufferReader(pa.py_buffer(data)), read_options=read,
                                parse_options=self._parse, convert_options=self._fixed_convert)
        # Batches of about one block, as the serial reader yields them (zero-copy slices).
        rows = max(1, -(-table.num_rows * self._read.block_size // max(len(data), 1)))
        return table.to_batches(max_chunksize=rows)

    def _first_schema_agrees(self) -> bool:
        return all(b.schema.equals(self.schema, check_metadata=False) for b in self._first)

    @staticmethod
    def _trusted(batches: list[pa.RecordBatch]) -> bool:
        """False when the last value may be a quoted field cut short at the chunk's end."""
        last = next((b for b in reversed(batches) if b.num_rows), None)
        if last is None or not last.num_columns:
            return True
        column = last.column(last.num_columns - 1)
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            return True
        value = column[last.num_rows - 1].as_py()
        return value is None or not value.endswith(("\n", "\r"))

    def _rest_from(self, chunk: _Chunk) -> BinaryIO:
        """The text from ``chunk`` on: it, the chunks queued after it, the carry, the stream."""
        parts = [chunk.data] + [c.data for c in self._queue] + [self._carry]
        self._queue.clear()
        self._carry = b""
        self._serial_start = chunk.start
        return Prefixed(b"".join(parts), self._text)

    def _fallback(self, chunk: _Chunk | None) -> None:
        """Hand the rest of the text, from ``chunk`` (or the carry), to the serial reader."""
        rest = self._rest_from(chunk) if chunk is not None else self._rest_from(_Chunk(self._offset, b""))
        read = pa_csv.ReadOptions(block_size=self._read.block_size, use_threads=True,
                                  column_names=self.schema.names)
        try:  # open_csv parses its first block already
            self._serial = pa_csv.open_csv(rest, read_options=read, parse_options=self._parse,
                                           convert_options=self._fixed_convert)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise type(exc)(f"{exc} ({self._where(exc, self.rows)})") from exc

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
                    self._fallback(None)
                    break
                return
            chunk = self._queue[0]
            try:
                batches = chunk.parsed.result()  # type: ignore[union-attr]
                trusted = self._trusted(batches)
            except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                trusted, self._chunk_error = False, exc
            if not trusted:
                self._fallback(chunk)
                break
            self._queue.popleft()
            for batch in batches:
                self.rows += batch.num_rows
                yield batch
        yield from self._serial_batches()

    def _serial_batches(self) -> Iterator[pa.RecordBatch]:
        if self._serial is None:
            return
        before = self.rows
        try:
            for batch in self._serial:
                self.rows += batch.num_rows
                yield batch
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            if self._pool is None:  # the serial reader from the start: its own message
                raise
            raise type(exc)(f"{exc} ({self._where(exc, before)})") from exc

    def _where(self, exc: Exception, before: int) -> str:
        """Where the serial reader's error is: the data row when the chunk's own parse found the
        same error (it counts rows, the streaming reader does not), else the rows before it."""
        start = getattr(self, "_serial_start", 0)
        found = _ROW.search(str(self._chunk_error or ""))
        if found and _ROW.sub("", str(self._chunk_error), count=1) == str(exc):
            return f"data row {before + int(found.group(1))}, in the text from byte {start}"
        return f"after data row {self.rows}, in the text from byte {start}"

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._queue.clear()
        if self._serial is not None:
            self._serial.close()


def open_parallel(text: BinaryIO, spec: SourceSpec, *, read: pa_csv.ReadOptions,
                  parse: pa_csv.ParseOptions, convert: pa_csv.ConvertOptions) -> ParallelCsvReader:
    """A :class:`ParallelCsvReader` for ``text`` with ``spec``'s threads and chunk size."""
    return ParallelCsvReader(text, read=read, parse=parse, convert=convert, quotechar=spec.quotechar,
                             threads=parse_threads(spec), chunk_bytes=spec.csv_chunk_bytes)
