"""JSON Lines parsed on several cores, with the serial reader's rows, types and errors.

A JSON string cannot hold a raw newline (RFC 8259 requires control characters in strings to
be escaped), so every newline ends a record and a chunk may end after any of them: the cut is
the last newline of the chunk (:mod:`~connector.adapters.chunked` does the rest).

* Types: the first chunk is opened with ``pyarrow.json.open_json`` and the serial options, so
  the schema is the one the serial reader infers from its first block (or the declared one).
  Every chunk, the first included, is then parsed as one block with that schema explicit and
  unexpected fields an error, which is what the serial reader does with every block after its
  first: a field absent from the first block, a value whose type differs (``changed from
  number to string``), a float in an integer column, fail the same way.
* Errors: a chunk that fails is searched line by line (halving) for its first bad line, whose
  error is raised with the record number and the byte where its line starts, in the decoded
  text; the streaming reader only counts rows within its 1 MiB block.
* A first chunk that ``open_json`` refuses (a bad first block, or only blank lines), and a line
  longer than ``MAX_RECORD_CHUNKS`` chunks, go to the serial reader, whose blocks are then
  ``max_record_bytes`` long (pyarrow refuses some lines longer than its block: "straddling
  object"); :class:`~connector.adapters.json_limits.JsonLinesLimits` has already refused any
  line longer than that.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, BinaryIO

import pyarrow as pa
import pyarrow.json as pa_json

from connector.adapters import chunked
from connector.adapters.chunked import PARSE_ERRORS, Chunk, ChunkedReader
from connector.adapters.json_limits import DEFAULT_MAX_RECORD_BYTES
from connector.adapters.streams import Prefixed

if TYPE_CHECKING:
    from collections.abc import Iterator

    from connector.adapters.spec import SourceSpec

_IN_ROW = re.compile(r" in row \d+$")
_NEWLINE = ord("\n")


def eligible(spec: SourceSpec) -> bool:
    """Whether JSON Lines of ``spec`` are parsed in parallel (two or more threads)."""
    return chunked.parse_threads(spec) >= 2


class ParallelJsonLinesReader(ChunkedReader):
    """Batches of one JSON Lines text stream, parsed by a thread pool, in file order.

    ``read`` and ``parse`` are the serial reader's options; ``schema`` is known once the
    constructor returns, as with ``pyarrow.json.open_json`` (whose errors it raises).
    """

    def __init__(self, text: BinaryIO, *, read: pa_json.ReadOptions, parse: pa_json.ParseOptions,
                 threads: int, chunk_bytes: int, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> None:
        super().__init__(text, threads=threads, chunk_bytes=max(chunk_bytes, read.block_size),
                         name_prefix="connector-jsonl", max_record_bytes=max_record_bytes)
        self._block_size = self._serial_block_size = read.block_size
        self._lines = 0  # newlines in the chunks handed out so far
        first = self._next_chunk()
        if first is None and self._pending is not None:
            raise self._pending
        if first is None:  # empty, or one huge line: the serial reader decides
            self._serial_block_size = self._serial_block(read.block_size)
            long_read = pa_json.ReadOptions(block_size=self._serial_block_size, use_threads=True)
            try:
                self._serial = pa_json.open_json(Prefixed(self._carry, text), read_options=long_read,
                                                 parse_options=parse)
            except PARSE_ERRORS as exc:
                raise self._too_long(exc, self._serial_block_size) from exc
            self._carry = b""
            self.schema = self._serial.schema
            return
        probe_read = pa_json.ReadOptions(block_size=read.block_size, use_threads=False)
        try:
            probe = pa_json.open_json(pa.BufferReader(pa.py_buffer(first.data)), read_options=probe_read,
                                      parse_options=parse)
        except PARSE_ERRORS:  # the serial reader from the start: its error, or its schema
            self._serial = pa_json.open_json(self._rest_from(first), read_options=read, parse_options=parse)
            self.schema = self._serial.schema
            return
        self.schema = probe.schema
        probe.close()
        self._fixed = pa_json.ParseOptions(explicit_schema=self.schema, unexpected_field_behavior="error")
        self._whole_chunk = self._chunk_bytes * (chunked.MAX_RECORD_CHUNKS + 1)
        self._start_pool()
        first.parsed = self._pool.submit(self._parse_chunk, first)  # type: ignore[union-attr]
        self._queue.append(first)

    def _record_end(self, data: bytes) -> int:
        return data.rfind(b"\n") + 1

    def _parse(self, data: bytes | memoryview) -> pa.Table:
        read = pa_json.ReadOptions(use_threads=False, block_size=max(self._whole_chunk, len(data) + 1))
        return pa_json.read_json(pa.BufferReader(pa.py_buffer(data)), read_options=read,
                                 parse_options=self._fixed)

    def _parse_chunk(self, chunk: Chunk) -> list[pa.RecordBatch]:
        chunk.newlines = chunked.count_byte(chunk.data, _NEWLINE)
        return chunked.block_batches(self._parse(chunk.data), len(chunk.data), self._block_size)

    def _accept(self, chunk: Chunk) -> list[pa.RecordBatch] | None:
        try:
            batches = chunk.parsed.result()  # type: ignore[union-attr]
        except PARSE_ERRORS as exc:
            raise self._located(chunk, exc) from exc
        self._lines += chunk.newlines
        return batches

    def _located(self, chunk: Chunk, exc: Exception) -> Exception:
        """The error of the chunk's first bad line, saying which record and line it is."""
        data = bytes(chunk.data)
        ends = [i + 1 for i, byte in enumerate(data) if byte == _NEWLINE]  # only on failure
        if not ends or ends[-1] != len(data):
            ends.append(len(data))
        low, high = 0, len(ends) - 1  # the first line whose prefix fails is in [low, high]
        while low < high:
            middle = (low + high) // 2
            try:
                self._parse(data[:ends[middle]])
            except PARSE_ERRORS:
                high = middle
            else:
                low = middle + 1
        start = ends[low - 1] if low else 0
        try:
            self._parse(data[:ends[low]])
        except PARSE_ERRORS as found:
            exc = found
        records = self.rows + sum(1 for i in range(low) if data[(ends[i - 1] if i else 0):ends[i]].strip())
        message = _IN_ROW.sub("", str(exc))
        return type(exc)(f"{message} (record {records + 1}, line {self._lines + low + 1}, "
                         f"at byte {chunk.start + start} of the text)")

    def _serial_batches(self) -> Iterator[pa.RecordBatch]:
        try:
            yield from super()._serial_batches()
        except PARSE_ERRORS as exc:
            if chunked.straddles(exc):
                raise self._too_long(exc, self._serial_block_size) from exc
            if self._pool is None:  # the serial reader from the start: its own message
                raise
            raise type(exc)(f"{exc} (after record {self.rows}, in the text from byte "
                            f"{self._serial_start})") from exc

    def _open_serial(self, rest: BinaryIO) -> Any:
        self._serial_block_size = self._serial_block(self._block_size)
        read = pa_json.ReadOptions(block_size=self._serial_block_size, use_threads=True)
        try:
            return pa_json.open_json(rest, read_options=read, parse_options=self._fixed)
        except PARSE_ERRORS as exc:
            raise self._too_long(exc, self._serial_block_size) from exc


def open_parallel(text: BinaryIO, spec: SourceSpec, *, read: pa_json.ReadOptions,
                  parse: pa_json.ParseOptions) -> ParallelJsonLinesReader:
    """A :class:`ParallelJsonLinesReader` for ``text`` with ``spec``'s threads and chunk size."""
    return ParallelJsonLinesReader(text, read=read, parse=parse, threads=chunked.parse_threads(spec),
                                   chunk_bytes=spec.csv_chunk_bytes, max_record_bytes=spec.max_record_bytes)
