"""Schemas: Frictionless-like field lists to Arrow, unification of the files of one
distribution, and fitting every batch to the one fixed schema.

Unification uses ``pyarrow.unify_schemas(promote_options="permissive")`` one column at a
time, so that a conflict names the column, both types and both files. A promotion is only
accepted where every value can be checked when cast (int32 -> int64, int64 -> double,
null -> anything, timestamp[s] -> timestamp[ns], string -> large_string ...): the cast
runs with ``safe=True`` and a value that does not fit fails naming its column.
Column sets must match (order may differ).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from connector.adapters.errors import SchemaMismatch

FIELD_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "datetime": pa.timestamp("us"),
    "time": pa.time64("us"),
    "year": pa.int32(),
    # Kept as their text: JSON in a cell, ISO 8601 durations, "lat,lon" points.
    "any": pa.string(),
    "object": pa.string(),
    "array": pa.string(),
    "geojson": pa.string(),
    "geopoint": pa.string(),
    "yearmonth": pa.string(),
    "duration": pa.string(),
}


def fields_to_schema(fields: Sequence[Mapping[str, Any]]) -> pa.Schema:
    """Arrow schema from Frictionless-like fields: ``{"name", "type", "constraints": {"required"}}``.

    ``type`` is one of :data:`FIELD_TYPES`; a ``datetime`` field may carry ``"tz": "UTC"``.
    """
    out = []
    for field in fields:
        kind = field.get("type", "string")
        arrow_type = FIELD_TYPES[kind]
        if kind == "datetime" and field.get("tz"):
            arrow_type = pa.timestamp("us", tz=field["tz"])
        required = bool((field.get("constraints") or {}).get("required"))
        out.append(pa.field(field["name"], arrow_type, nullable=not required))
    return pa.schema(out)


def field_errors(fields: Sequence[Any]) -> list[str]:
    """Every problem of a field list, in words (empty when valid)."""
    problems, seen = [], set()
    for i, field in enumerate(fields):
        if not isinstance(field, Mapping) or not isinstance(field.get("name"), str) or not field["name"]:
            problems.append(f"fields[{i}]: needs a non-empty 'name'")
            continue
        if field["name"] in seen:
            problems.append(f"fields[{i}]: duplicate name {field['name']!r}")
        seen.add(field["name"])
        if field.get("type", "string") not in FIELD_TYPES:
            problems.append(f"fields[{i}]: unknown type {field.get('type')!r} "
                            f"(known: {', '.join(FIELD_TYPES)})")
    return problems


def unify(schemas: Sequence[tuple[str, pa.Schema]]) -> pa.Schema:
    """One schema for several files ``(origin, schema)``, or :class:`SchemaMismatch`."""
    first_origin, result = schemas[0]
    origins = {name: first_origin for name in result.names}
    for origin, schema in schemas[1:]:
        missing = [n for n in result.names if n not in schema.names]
        extra = [n for n in schema.names if n not in result.names]
        if missing or extra:
            column = (missing or extra)[0]
            where, other = (origin, origins[column]) if missing else (first_origin, origin)
            raise SchemaMismatch(
                f"column {column!r} is in {other} but not in {where}: files of one source must "
                "have the same columns", column=column)
        fields = []
        for field in result:
            theirs = schema.field(field.name)
            try:
                merged = pa.unify_schemas([pa.schema([field]), pa.schema([theirs])],
                                          promote_options="permissive").field(0)
            except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                raise SchemaMismatch(
                    f"column {field.name!r} is {field.type} in {origins[field.name]} but "
                    f"{theirs.type} in {origin}, and these types cannot be unified without loss",
                    column=field.name, types=[str(field.type), str(theirs.type)]) from exc
            if merged.type != field.type:
                origins[field.name] = origin
            fields.append(merged)
        result = pa.schema(fields, metadata=result.metadata)
    return result


def conform(batch: pa.RecordBatch, schema: pa.Schema, origin: str) -> pa.RecordBatch:
    """``batch`` with the columns and types of ``schema`` (safe casts), or :class:`SchemaMismatch`."""
    if batch.schema.equals(schema, check_metadata=False):
        return batch
    names = batch.schema.names
    extra = [n for n in names if schema.get_field_index(n) < 0]
    if extra:
        raise SchemaMismatch(f"{origin}: column {extra[0]!r} is not in the schema "
                             f"({', '.join(schema.names)})", column=extra[0])
    columns = []
    for field in schema:
        index = batch.schema.get_field_index(field.name)
        if index < 0:
            raise SchemaMismatch(f"{origin}: column {field.name!r} of the schema is missing",
                                 column=field.name)
        column = batch.column(index)
        if column.type != field.type:
            try:
                column = column.cast(field.type, safe=True)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
                raise SchemaMismatch(
                    f"{origin}: column {field.name!r} has a value that does not fit "
                    f"{field.type} (read as {column.type}): {exc}",
                    column=field.name, types=[str(field.type), str(column.type)]) from exc
        if not field.nullable and column.null_count:
            raise SchemaMismatch(f"{origin}: column {field.name!r} is required but has "
                                 f"{column.null_count} empty value(s)", column=field.name)
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, schema=schema)
