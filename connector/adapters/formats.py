"""Formats: a decoded byte stream and a :class:`~connector.adapters.base.SourceSpec` in,
Arrow record batches out, streaming, with one schema fixed before the first batch.

* CSV/TSV: ``pyarrow.csv.open_csv`` with 1 MiB blocks; types inferred from the first block
  and then fixed by pyarrow (or given); quoted newlines parsed (``newlines_in_values``).
  With two or more parser threads the text is cut into chunks parsed in parallel, with the
  same rows, types and errors (:mod:`~connector.adapters.csv_parallel`).
* JSON Lines: ``pyarrow.json.open_json``, the same way; in parallel chunks cut at newlines
  with two or more parser threads (:mod:`~connector.adapters.jsonl_parallel`).
* JSON and JSON Lines text is checked for nesting depth and record size as it streams, before
  pyarrow or ijson see it (:mod:`~connector.adapters.json_limits`).
* JSON arrays: ``ijson`` walks the array; records are grouped into batches of at most
  ``block_size`` input bytes (or 65,536 records), so memory stays bounded.
* Parquet: ``ParquetFile(pre_buffer=False).iter_batches``; needs random access, so a stream
  that is not a local file is spooled to a temporary file first.
* Arrow IPC stream and file format, Feather v2: read sequentially as an IPC stream (the
  file format is the stream format after an 8-byte magic).

Text is UTF-8 unless ``encoding`` says otherwise; a UTF-8 BOM is dropped and a UTF-16/32
BOM switches the decoder. A text column that is not valid UTF-8 is an error, never binary.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, BinaryIO

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.ipc as pa_ipc
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from connector.adapters import csv_parallel, jsonl_parallel
from connector.adapters.chunked import RecordTooLong, straddles
from connector.adapters.compression import split_suffix
from connector.adapters.errors import SchemaMismatch, SourceFormatError, SourceTooLarge, UnsupportedSource
from connector.adapters.json_limits import (
    RECORD_SETTING,
    JsonDocumentLimits,
    JsonLinesLimits,
    record_error,
)
from connector.adapters.spec import FORMATS
from connector.adapters.streams import Prefixed, Reader, TranscodingReader, spool

if TYPE_CHECKING:
    from connector.adapters.spec import SourceSpec

EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
              ".json": "json", ".parquet": "parquet", ".pq": "parquet", ".arrow": "arrow",
              ".arrows": "arrow", ".ipc": "arrow", ".feather": "feather"}
MEDIA_TYPES = {"text/csv": "csv", "application/csv": "csv", "text/tab-separated-values": "tsv",
               "application/x-ndjson": "jsonl", "application/jsonl": "jsonl",
               "application/x-jsonlines": "jsonl", "application/json": "json",
               "application/vnd.apache.parquet": "parquet", "application/x-parquet": "parquet",
               "application/vnd.apache.arrow.file": "arrow",
               "application/vnd.apache.arrow.stream": "arrow"}
JSON_ARRAY_ROWS = 65_536
THREADS_SETTING = "CSV_PARSE_THREADS"
_CSV_COLUMN = re.compile(r"In CSV column #(\d+): ")
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def format_from_name(name: str) -> str | None:
    """The format named by a file name's extension (after any compression suffix)."""
    stem, _ = split_suffix(name)
    dot = stem.rfind(".")
    return EXTENSIONS.get(stem[dot:].lower()) if dot >= 0 else None


def format_from_media_type(media_type: str | None) -> str | None:
    if not media_type:
        return None
    return MEDIA_TYPES.get(media_type.split(";")[0].strip().lower())


def sniff_format(head: bytes) -> str | None:
    """The format whose signature starts the decoded ``head``, if any."""
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith((b"ARROW1", b"\xff\xff\xff\xff")):
        return "arrow"
    if head.startswith(b"FEA1"):
        return "feather"
    text = head.removeprefix(codecs.BOM_UTF8).lstrip()
    if text.startswith(b"["):
        return "json"
    if text.startswith(b"{"):
        return "jsonl"
    return None


def is_data_name(name: str, fmt: str | None) -> bool:
    """Whether a file of a directory, prefix or zip is data to read: it has a data extension
    (of ``fmt`` when given) and is not hidden or a marker (``.x``, ``_SUCCESS``)."""
    base = name.rstrip("/").rsplit("/", 1)[-1]
    if base.startswith((".", "_")):
        return False
    if split_suffix(base)[1] == "zip":
        return True  # an archive: its members are chosen when it is read
    found = format_from_name(base)
    return found is not None and (fmt is None or found == fmt or {found, fmt} <= {"arrow", "feather"})


class TableReader:
    """Batches of one table; ``schema`` is fixed before the first batch."""

    schema: pa.Schema
    block_size: int | None = None  # the serial pyarrow reader's, for the record-too-long message

    def __init__(self, name: str) -> None:
        self.name = name
        self.rows = 0
        self._closers: list[Any] = []

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        try:
            for batch in self._batches():
                self.rows += batch.num_rows
                yield batch
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
            raise (self._too_long(exc) or self._explain(exc)) from exc

    def _too_long(self, exc: Exception, block_size: int | None = None) -> SourceTooLarge | None:
        """The error for a record longer than the reader's block, saying where and what raises
        the limit (``SOURCE_MAX_RECORD_BYTES``; the serial reader's block is fixed)."""
        if isinstance(exc, RecordTooLong):
            return record_error(self.name, exc.limit, exc.where)
        if not straddles(exc):
            return None
        block_size = block_size or self.block_size
        block = f" of {block_size} bytes" if block_size else ""
        return SourceTooLarge(
            f"{self.name}: a record after data row {self.rows} is longer than the serial reader's "
            f"block{block}; with two or more parser threads ({THREADS_SETTING}) records up to "
            f"{RECORD_SETTING} are read", setting=RECORD_SETTING)

    def _batches(self) -> Iterator[pa.RecordBatch]:
        raise NotImplementedError

    def _explain(self, exc: Exception) -> SourceFormatError:
        return SourceFormatError(f"{self.name}: {exc}")

    def close(self) -> None:
        while self._closers:
            try:
                self._closers.pop().close()
            except OSError:  # already failed; the first error is the one reported
                pass


def _text(stream: BinaryIO, spec: SourceSpec, name: str) -> BinaryIO:
    """UTF-8 bytes of a text stream: BOMs handled, other encodings transcoded strictly."""
    head = stream.read(4)
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return TranscodingReader(Prefixed(head, stream), encoding, name=name)
    if head.startswith(codecs.BOM_UTF8):
        head = head[3:]
    body = Prefixed(head, stream)
    if codecs.lookup(spec.encoding).name == "utf-8":
        return body
    return TranscodingReader(body, spec.encoding, name=name)


class CsvReader(TableReader):
    def __init__(self, stream: BinaryIO, spec: SourceSpec, fmt: str, *, name: str,
                 schema: pa.Schema | None) -> None:
        super().__init__(name)
        delimiter = spec.delimiter or ("\t" if fmt == "tsv" else ",")
        names = list(spec.column_names) if spec.column_names else None
        if names is None and not spec.header and schema is not None:
            names = schema.names
        read = pa_csv.ReadOptions(
            block_size=spec.block_size, use_threads=True, column_names=names,
            skip_rows=spec.skip_rows + (1 if names and spec.header else 0),
            autogenerate_column_names=names is None and not spec.header)
        parse = pa_csv.ParseOptions(delimiter=delimiter, quote_char=spec.quotechar or False,
                                    escape_char=spec.escapechar or False,
                                    newlines_in_values=spec.newlines_in_values)
        convert = pa_csv.ConvertOptions(
            column_types={f.name: f.type for f in schema} if schema is not None else None,
            null_values=list(spec.null_values) if spec.null_values is not None else None)
        text = _text(stream, spec, name)
        self._closers.append(text)
        self.block_size = spec.block_size
        try:
            if csv_parallel.eligible(spec):
                self._reader = csv_parallel.open_parallel(text, spec, read=read, parse=parse,
                                                          convert=convert)
            else:
                self._reader = pa_csv.open_csv(text, read_options=read, parse_options=parse,
                                               convert_options=convert)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            message = "the file is empty" if "Empty CSV" in str(exc) else str(exc)
            raise (self._too_long(exc, read.block_size) or SourceFormatError(f"{name}: {message}")) from exc
        self._closers.append(self._reader)
        self.schema = self._reader.schema
        try:
            self._check_header(declared=schema)
        except SourceFormatError:
            self.close()
            raise

    def _check_header(self, declared: pa.Schema | None) -> None:
        seen: set[str] = set()
        for field in self.schema:
            if not field.name.strip():
                raise SourceFormatError(f"{self.name}: a column has an empty name")
            if field.name in seen:
                raise SourceFormatError(f"{self.name}: column {field.name!r} appears twice in the header",
                                        column=field.name)
            seen.add(field.name)
            wanted = declared.field(field.name).type if declared is not None and \
                declared.get_field_index(field.name) >= 0 else None
            if pa.types.is_binary(field.type) and wanted != field.type:
                raise SourceFormatError(
                    f"{self.name}: column {field.name!r} is not valid UTF-8; declare the source's "
                    "encoding (e.g. encoding='latin-1')", column=field.name)

    def _batches(self) -> Iterator[pa.RecordBatch]:
        yield from self._reader

    def _explain(self, exc: Exception) -> SourceFormatError:
        message = str(exc)
        match = _CSV_COLUMN.search(message)
        if match and int(match.group(1)) < len(self.schema):
            column = self.schema.field(int(match.group(1))).name
            message = _CSV_COLUMN.sub(f"column {column!r}: ", message, count=1)
            return SchemaMismatch(f"{self.name}: {message} (the column's type was fixed from the "
                                  "first block; declare a schema to choose it)", column=column)
        return SourceFormatError(f"{self.name}: {message}")


class JsonLinesReader(TableReader):
    def __init__(self, stream: BinaryIO, spec: SourceSpec, *, name: str,
                 schema: pa.Schema | None) -> None:
        super().__init__(name)
        parse = pa_json.ParseOptions(explicit_schema=schema,
                                     unexpected_field_behavior="error" if schema is not None else "infer")
        text = JsonLinesLimits(_text(stream, spec, name), name=name, max_depth=spec.max_json_depth,
                               max_record_bytes=spec.max_record_bytes)
        self._closers.append(text)
        read = pa_json.ReadOptions(block_size=spec.block_size, use_threads=True)
        self.block_size = spec.block_size
        try:
            if jsonl_parallel.eligible(spec):
                self._reader = jsonl_parallel.open_parallel(text, spec, read=read, parse=parse)
            else:
                self._reader = pa_json.open_json(text, read_options=read, parse_options=parse)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            message = "the file is empty" if "Empty JSON" in str(exc) else str(exc)
            raise (self._too_long(exc, read.block_size) or SourceFormatError(f"{name}: {message}")) from exc
        self._closers.append(self._reader)
        self.schema = self._reader.schema

    def _batches(self) -> Iterator[pa.RecordBatch]:
        yield from self._reader

    def _explain(self, exc: Exception) -> SourceFormatError:
        message = str(exc)
        if "unexpected field" in message:
            return SchemaMismatch(f"{self.name}: {message}: a record has a field that is not in the "
                                  f"schema ({', '.join(self.schema.names)}) fixed from the first block")
        if "changed from" in message:
            return SchemaMismatch(f"{self.name}: {message}")
        return SourceFormatError(f"{self.name}: {message}")


class _Counting(Reader):
    """Counts the bytes read through it."""

    def __init__(self, stream: BinaryIO) -> None:
        super().__init__()
        self._stream = stream
        self.bytes = 0

    def read(self, n: int = -1) -> bytes:
        data = self._stream.read(n)
        self.bytes += len(data)
        return data


class JsonArrayReader(TableReader):
    """Records of a JSON array (``json_prefix`` picks a nested one, in ijson's notation)."""

    def __init__(self, stream: BinaryIO, spec: SourceSpec, *, name: str,
                 schema: pa.Schema | None) -> None:
        super().__init__(name)
        try:
            import ijson
        except ImportError as exc:  # pragma: no cover - a declared dependency
            raise UnsupportedSource("JSON arrays need `pip install ijson`") from exc
        self._ijson = ijson
        text = JsonDocumentLimits(_text(stream, spec, name), name=name, max_depth=spec.max_json_depth,
                                  max_record_bytes=spec.max_record_bytes,
                                  record_depth=len(spec.json_prefix.split(".")))
        self._closers.append(text)
        self._counter = _Counting(text)
        self._items = ijson.items(self._counter, spec.json_prefix, use_float=True)
        self._limit = spec.block_size
        self._index = 0
        try:
            self._first = self._next_rows()
            if schema is None:
                if not self._first:
                    raise SourceFormatError(f"{name}: no records at {spec.json_prefix!r} "
                                            "(is the top level an array of objects?)")
                schema = self._infer(self._first)
        except SourceFormatError:
            self.close()
            raise
        self.schema = schema
        self._type = pa.struct(list(schema))

    def _next_rows(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        start = self._counter.bytes
        try:
            for item in self._items:
                if type(item) is not dict:
                    raise SourceFormatError(f"{self.name}: record {self._index} is "
                                            f"{type(item).__name__}, not an object")
                rows.append(item)
                self._index += 1
                if len(rows) >= JSON_ARRAY_ROWS or self._counter.bytes - start >= self._limit:
                    break
        except self._ijson.JSONError as exc:
            raise SourceFormatError(f"{self.name}: not valid JSON near record {self._index}: {exc}") from exc
        return rows

    def _infer(self, rows: list[dict[str, Any]]) -> pa.Schema:
        try:
            inferred = pa.array(rows)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise SourceFormatError(f"{self.name}: {exc}") from exc
        return pa.schema(list(inferred.type))

    def _batches(self) -> Iterator[pa.RecordBatch]:
        rows, self._first = self._first, []
        while rows:
            yield self._convert(rows)
            rows = self._next_rows()

    def _convert(self, rows: list[dict[str, Any]]) -> pa.RecordBatch:
        keys: set[str] = set().union(*rows)
        extra = sorted(keys - set(self.schema.names))
        if extra:
            raise SchemaMismatch(f"{self.name}: field {extra[0]!r} is not in the schema "
                                 f"({', '.join(self.schema.names)}) fixed from the first records",
                                 column=extra[0])
        try:
            return pa.RecordBatch.from_struct_array(pa.array(rows, type=self._type))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            for field in self.schema:  # find the column to name
                try:
                    pa.array([row.get(field.name) for row in rows], type=field.type)
                except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                    raise SchemaMismatch(f"{self.name}: column {field.name!r} has a value that "
                                         f"does not fit {field.type}: {exc}", column=field.name) from exc
            raise


class ParquetReader(TableReader):
    def __init__(self, stream: BinaryIO, *, name: str, seekable: bool,
                 spool_dir: str | None) -> None:
        super().__init__(name)
        if not seekable:
            stream = spool(stream, directory=spool_dir)
            self._closers.append(stream)
        try:
            self._file = pq.ParquetFile(stream, pre_buffer=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
            raise SourceFormatError(f"{name}: not a readable Parquet file: {exc}") from exc
        self._closers.append(self._file)
        self.schema = self._file.schema_arrow

    def _batches(self) -> Iterator[pa.RecordBatch]:
        yield from self._file.iter_batches(batch_size=JSON_ARRAY_ROWS, use_threads=True)


class IpcReader(TableReader):
    def __init__(self, stream: BinaryIO, *, name: str) -> None:
        super().__init__(name)
        head = stream.read(8)
        if head.startswith(b"FEA1"):
            raise SourceFormatError(f"{name}: Feather version 1 is not supported; "
                                    "write Feather version 2 (Arrow IPC) instead")
        body = stream if head.startswith(b"ARROW1") else Prefixed(head, stream)
        try:
            self._reader = pa_ipc.open_stream(body)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
            raise SourceFormatError(f"{name}: not a readable Arrow IPC file or stream: {exc}") from exc
        self._closers.append(self._reader)
        self.schema = self._reader.schema

    def _batches(self) -> Iterator[pa.RecordBatch]:
        yield from self._reader


def open_reader(stream: BinaryIO, fmt: str, spec: SourceSpec, *, name: str,
                schema: pa.Schema | None = None, seekable: bool = False,
                spool_dir: str | None = None) -> TableReader:
    """A :class:`TableReader` over a decoded byte stream.

    ``schema`` fixes the columns and types (explicit, or unified over several files);
    without it the reader infers them from the first block. ``seekable`` says that
    ``stream`` is a local file that random-access formats may seek in.
    """
    if fmt in ("csv", "tsv"):
        return CsvReader(stream, spec, fmt, name=name, schema=schema)
    if fmt == "jsonl":
        return JsonLinesReader(stream, spec, name=name, schema=schema)
    if fmt == "json":
        return JsonArrayReader(stream, spec, name=name, schema=schema)
    if fmt == "parquet":
        return ParquetReader(stream, name=name, seekable=seekable, spool_dir=spool_dir)
    if fmt in ("arrow", "feather"):
        return IpcReader(stream, name=name)
    raise UnsupportedSource(f"{name}: unknown format {fmt!r} (known: {', '.join(FORMATS)})")
