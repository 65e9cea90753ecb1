"""Which columns of a part are worth dictionary-encoding (``use_dictionary="strings"``)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

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
