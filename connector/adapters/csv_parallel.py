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

The chunking, read-ahead and ordering are :mod:`~connector.adapters.chunked`'s.
"""

from __future__ import annotations

import copy
import re
from typing import TYPE_CHECKING, Any, BinaryIO

import pyarrow as pa
import pyarrow.csv as pa_csv

from connector.adapters.chunked import (
    MAX_RECORD_CHUNKS,
    MAX_THREADS,
    PARSE_ERRORS,
    Chunk,
    ChunkedReader,
    block_batches,
    count_byte,
    parse_threads,
    straddles,
)
from connector.adapters.json_limits import DEFAULT_MAX_RECORD_BYTES
from connector.adapters.spec import DEFAULT_CHUNK_BYTES
from connector.adapters.streams import Prefixed

if TYPE_CHECKING:
    from collections.abc import Iterator

    from connector.adapters.spec import SourceSpec

__all__ = ["DEFAULT_CHUNK_BYTES", "MAX_THREADS", "ParallelCsvReader", "count_quotes",
           "eligible", "open_parallel", "parse_threads", "record_end"]
count_quotes = count_byte  # how many quote bytes data[start:end] holds
_ROW = re.compile(r"Row #(\d+): ")


def eligible(spec: SourceSpec) -> bool:
    """Whether ``spec``'s dialect lets records be found by counting quotes."""
    if parse_threads(spec) < 2 or spec.escapechar is not None:
        return False
    return spec.quotechar is None or spec.newlines_in_values


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


class ParallelCsvReader(ChunkedReader):
    """Batches of one CSV text stream, parsed by a thread pool, in file order.

    ``read``, ``parse`` and ``convert`` are the serial reader's options; ``schema`` is known
    once the constructor returns, as with ``pyarrow.csv.open_csv`` (whose errors it raises).
    """

    def __init__(self, text: BinaryIO, *, read: pa_csv.ReadOptions, parse: pa_csv.ParseOptions,
                 convert: pa_csv.ConvertOptions, quotechar: str | None, threads: int,
                 chunk_bytes: int = DEFAULT_CHUNK_BYTES,
                 max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> None:
        super().__init__(text, threads=threads, chunk_bytes=max(chunk_bytes, read.block_size),
                         name_prefix="connector-csv", max_record_bytes=max_record_bytes)
        self._read, self._parse, self._convert = read, parse, convert
        self._quote = ord(quotechar) if quotechar else None
        self._chunk_error: Exception | None = None
        self._serial_block_size = read.block_size
        first = self._next_chunk()
        if first is None and self._pending is not None:
            raise self._pending
        if first is None:  # nothing to cut (empty, or one huge record): the serial reader decides
            long_read = copy.copy(read)
            long_read.block_size = self._serial_block_size = self._serial_block(read.block_size)
            try:
                self._serial = pa_csv.open_csv(Prefixed(self._carry, text), read_options=long_read,
                                               parse_options=parse, convert_options=convert)
            except PARSE_ERRORS as exc:
                raise self._too_long(exc, long_read.block_size) from exc
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
        except PARSE_ERRORS:
            trusted = False
        if not trusted:  # the serial reader from the start: its schema, or its error
            self._first = []
            self._serial = pa_csv.open_csv(self._rest_from(first), read_options=read, parse_options=parse,
                                           convert_options=convert)
            self.schema = self._serial.schema
            return
        self._fixed_read = pa_csv.ReadOptions(use_threads=False, column_names=self.schema.names,
                                              block_size=whole_chunk)
        self._start_pool()

    def _record_end(self, data: bytes) -> int:
        return record_end(data, self._quote)

    def _parse_chunk(self, chunk: Chunk) -> list[pa.RecordBatch]:
        return self._parse_with(chunk.data, self._fixed_read)

    def _parse_with(self, data: bytes | memoryview, read: pa_csv.ReadOptions) -> list[pa.RecordBatch]:
        table = pa_csv.read_csv(pa.BufferReader(pa.py_buffer(data)), read_options=read,
                                parse_options=self._parse, convert_options=self._fixed_convert)
        return block_batches(table, len(data), self._read.block_size)

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

    def _accept(self, chunk: Chunk) -> list[pa.RecordBatch] | None:
        try:
            batches = chunk.parsed.result()  # type: ignore[union-attr]
        except PARSE_ERRORS as exc:
            self._chunk_error = exc
            return None
        return batches if self._trusted(batches) else None

    def _open_serial(self, rest: BinaryIO) -> Any:
        self._serial_block_size = self._serial_block(self._read.block_size)
        read = pa_csv.ReadOptions(block_size=self._serial_block_size, use_threads=True,
                                  column_names=self.schema.names)
        try:  # open_csv parses its first block already
            return pa_csv.open_csv(rest, read_options=read, parse_options=self._parse,
                                   convert_options=self._fixed_convert)
        except PARSE_ERRORS as exc:
            if straddles(exc):
                raise self._too_long(exc, read.block_size) from exc
            raise type(exc)(f"{exc} ({self._where(exc, self.rows)})") from exc

    def _serial_batches(self) -> Iterator[pa.RecordBatch]:
        before = self.rows
        try:
            yield from super()._serial_batches()
        except PARSE_ERRORS as exc:
            if straddles(exc):
                raise self._too_long(exc, self._serial_block_size) from exc
            if self._pool is None:  # the serial reader from the start: its own message
                raise
            raise type(exc)(f"{exc} ({self._where(exc, before)})") from exc

    def _where(self, exc: Exception, before: int) -> str:
        """Where the serial reader's error is: the data row when the chunk's own parse found the
        same error (it counts rows, the streaming reader does not), else the rows before it."""
        found = _ROW.search(str(self._chunk_error or ""))
        if found and _ROW.sub("", str(self._chunk_error), count=1) == str(exc):
            return f"data row {before + int(found.group(1))}, in the text from byte {self._serial_start}"
        return f"after data row {self.rows}, in the text from byte {self._serial_start}"


def open_parallel(text: BinaryIO, spec: SourceSpec, *, read: pa_csv.ReadOptions,
                  parse: pa_csv.ParseOptions, convert: pa_csv.ConvertOptions) -> ParallelCsvReader:
    """A :class:`ParallelCsvReader` for ``text`` with ``spec``'s threads and chunk size."""
    return ParallelCsvReader(text, read=read, parse=parse, convert=convert, quotechar=spec.quotechar,
                             threads=parse_threads(spec), chunk_bytes=spec.csv_chunk_bytes,
                             max_record_bytes=spec.max_record_bytes)
