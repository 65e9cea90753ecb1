"""Record batches coalesced into row-group tables under the schema fixed by the first batch."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pyarrow as pa

from connector.staging.errors import SchemaMismatch

MIB = 1 << 20


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
