"""The staging benchmark's parts (bench/staging.py): the cases, the child side that runs our
pipeline, running a case, the summary against the targets, and the report."""

from __future__ import annotations

from _common.docs import markers

MARK_BEGIN, MARK_END = markers("staging")


RSS_LIMIT_MIB = 300.0
RSS_FLAT = 0.15
WALL_TARGET = 1.10

OURS = "connector"
BARE = {"csv": "pa_csv_stream_zstd", "jsonl": "pa_json_stream_zstd"}
TUNED = {"csv": "pa_csv_stream_zstd_tuned", "jsonl": "pa_json_stream_zstd_tuned"}
FLOOR = "parse_only_floor"

# (name, kind, runner, key, description). runner "ours:<fsync>" runs our pipeline in this file,
# "floor:parse" only parses the input with pyarrow's streaming reader and writes nothing (the
# floor of every pipeline built on it; not an anchor); any other runner is a case of the anchors'
# cases.py. Cases that are not ``key`` run only ``--large-reps`` times on CSV files above 1 GiB
# (they are slow and only anchor the picture).
CASES: list[tuple[str, str, str, bool, str]] = [
    (
        OURS,
        "csv",
        "ours:fsync",
        True,
        "ours: LocalAdapter (source sha256) -> stage_batches -> file:// tier "
        "(fsync, part sha256, manifest, croissant, rename)",
    ),
    ("connector_nofsync", "csv", "ours:nofsync", False, "ours, tier with fsync=False"),
    (
        "connector_serial",
        "csv",
        "ours:serial",
        False,
        "ours with the serial CSV reader (CONNECTOR_CSV_PARSE_THREADS=1), the path before parallel parsing",
    ),
    (
        "connector_one_encoder",
        "csv",
        "ours:one_encoder",
        False,
        "ours with one Parquet encoding thread (CONNECTOR_PARQUET_ENCODE_THREADS=1), the writer before "
        "parallel encoding",
    ),
    (
        FLOOR,
        "csv",
        "floor:parse",
        False,
        "floor, not an anchor: pyarrow open_csv(path) (1 MiB blocks) iterated, nothing written",
    ),
    (
        "pa_csv_stream_zstd",
        "csv",
        "pa_csv_stream_zstd",
        False,
        "bare pyarrow: open_csv (1 MiB blocks) -> ParquetWriter zstd, 128k-row groups",
    ),
    (
        "pa_csv_stream_zstd_tuned",
        "csv",
        "pa_csv_stream_zstd_tuned",
        True,
        "tuned pyarrow: + parse/encode in two threads, dictionary for strings only",
    ),
    (
        "pa_csv_stream_zstd_tuned_sha256",
        "csv",
        "pa_csv_stream_zstd_tuned_sha256",
        True,
        "tuned pyarrow + inline sha256 of the Parquet written",
    ),
    (
        "duckdb_csv_zstd",
        "csv",
        "duckdb_csv_zstd",
        False,
        "DuckDB COPY read_csv_auto TO parquet zstd, threads=2",
    ),
    (
        "duckdb_csv_zstd_noorder",
        "csv",
        "duckdb_csv_zstd_noorder",
        True,
        "the same with preserve_insertion_order=false",
    ),
    (
        "polars_csv_zstd",
        "csv",
        "polars_csv_zstd",
        False,
        "polars scan_csv(try_parse_dates) -> sink_parquet zstd",
    ),
    (
        "pandas_csv_chunked",
        "csv",
        "pandas_csv_chunked",
        False,
        "pandas read_csv(chunksize=500k) -> ParquetWriter zstd (event_ts stays text)",
    ),
    (OURS, "jsonl", "ours:fsync", True, "ours, as for CSV"),
    ("connector_nofsync", "jsonl", "ours:nofsync", True, "ours, tier with fsync=False"),
    (
        FLOOR,
        "jsonl",
        "floor:parse",
        True,
        "floor, not an anchor: pyarrow open_json(path) (1 MiB blocks) iterated, nothing written",
    ),
    (
        "pa_json_stream_zstd",
        "jsonl",
        "pa_json_stream_zstd",
        True,
        "bare pyarrow: open_json (1 MiB blocks) -> ParquetWriter zstd, 128k-row groups",
    ),
    (
        "pa_json_stream_zstd_tuned",
        "jsonl",
        "pa_json_stream_zstd_tuned",
        True,
        "tuned pyarrow: two threads, dictionary for strings only",
    ),
    (
        "duckdb_json_zstd",
        "jsonl",
        "duckdb_json_zstd",
        True,
        "DuckDB COPY read_json_auto TO parquet zstd, threads=2",
    ),
    ("polars_json_zstd", "jsonl", "polars_json_zstd", True, "polars scan_ndjson -> sink_parquet zstd"),
    (
        "pandas_json_naive",
        "jsonl",
        "pandas_json_naive",
        True,
        "pandas read_json(lines=True) + to_parquet (snappy; loads everything)",
    ),
]
