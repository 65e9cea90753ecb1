"""The plain description of one source (:class:`SourceSpec`) and the defaults it starts from.

It sits below the adapter template (:mod:`~connector.adapters.base`) and the decoders
(:mod:`~connector.adapters.formats` and the chunked CSV and JSON Lines readers), which all
take a spec, so none of them needs to import another to know what a spec is.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator, Mapping
from dataclasses import KW_ONLY, dataclass, field
from types import MappingProxyType
from typing import Any

import pyarrow as pa

from connector.adapters import json_limits
from connector.adapters.compression import COMPRESSIONS
from connector.adapters.errors import InvalidSourceSpec
from connector.adapters.schema import field_errors, fields_to_schema

FORMATS = ("csv", "tsv", "jsonl", "json", "parquet", "arrow", "feather")
DEFAULT_BLOCK_SIZE = 1 << 20
DEFAULT_CHUNK_BYTES = 2 << 20  # one chunk of the parallel CSV and JSON Lines readers
DEFAULT_CSV_CHUNK_BYTES = DEFAULT_CHUNK_BYTES


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
        if self.format is not None and self.format not in FORMATS:
            yield "format", f"unknown format {self.format!r} (known: {', '.join(FORMATS)})"
        if self.compression is not None and self.compression not in (*COMPRESSIONS, "none"):
            yield "compression", (f"unknown compression {self.compression!r} "
                                  f"(known: {', '.join(COMPRESSIONS)}, none)")
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
