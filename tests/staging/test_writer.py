"""The streaming Parquet writer: row groups, part roll-over, inline sha256, schema, memory (with one
encoding thread and with several; tests/staging/test_parallel_writer.py has the rest of the latter)."""

from __future__ import annotations

import hashlib
import os
import time

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from connector.staging.errors import SchemaMismatch, StagingError
from connector.staging.writer import pipelined, write_parts
from tests.staging.conftest import make_batch, make_batches, peak_arrow_memory


def test_small_batches_are_coalesced_into_row_groups_of_the_target_size(tmp_path):
    result = write_parts(make_batches(4500, batch_rows=100), str(tmp_path), row_group_rows=1000)
    metadata = pq.ParquetFile(tmp_path / "part-00000.parquet").metadata
    assert [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)] == [1000] * 4 + [500]
    assert result.rows == 4500 and len(result.parts) == 1 and result.parts[0].row_groups == 5


def test_batches_larger_than_a_row_group_are_split(tmp_path):
    write_parts([make_batch(0, 2500)], str(tmp_path), row_group_rows=1000)
    metadata = pq.ParquetFile(tmp_path / "part-00000.parquet").metadata
    assert [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)] == [1000, 1000, 500]


def test_the_byte_target_caps_row_groups_of_wide_rows(tmp_path):
    batch = make_batch(0, 2000)
    write_parts([batch], str(tmp_path), row_group_rows=100_000, row_group_bytes=batch.nbytes // 4)
    metadata = pq.ParquetFile(tmp_path / "part-00000.parquet").metadata
    assert metadata.num_row_groups in (4, 5)
    assert sum(metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)) == 2000


@pytest.mark.parametrize("threads", [1, 2])
def test_parts_roll_over_at_the_size_bound_and_are_numbered(tmp_path, threads):
    result = write_parts(make_batches(6000), str(tmp_path), row_group_rows=1000, max_part_bytes=10_000,
                         encode_threads=threads)
    names = [p.name for p in result.parts]
    assert len(names) >= 3 and names == [f"part-{i:05d}.parquet" for i in range(len(names))]
    assert sorted(os.listdir(tmp_path)) == names
    assert all(p.bytes >= 10_000 for p in result.parts[:-1])
    assert sum(pq.ParquetFile(tmp_path / n).metadata.num_rows for n in names) == 6000 == result.rows


def test_sha256_and_size_are_those_of_the_files_as_written(tmp_path):
    result = write_parts(make_batches(3000), str(tmp_path), row_group_rows=1000, max_part_bytes=20_000)
    for part in result.parts:
        data = (tmp_path / part.name).read_bytes()
        assert part.sha256 == hashlib.sha256(data).hexdigest()
        assert part.bytes == len(data)
        assert part.rows == pq.ParquetFile(tmp_path / part.name).metadata.num_rows


def test_zstd_statistics_and_dictionaries_for_text_columns_only(tmp_path):
    write_parts(make_batches(2000), str(tmp_path))
    row_group = pq.ParquetFile(tmp_path / "part-00000.parquet").metadata.row_group(0)
    columns = {row_group.column(i).path_in_schema: row_group.column(i) for i in range(row_group.num_columns)}
    assert {c.compression for c in columns.values()} == {"ZSTD"}
    assert columns["id"].statistics.has_min_max and columns["id"].statistics.min == 0
    assert columns["measured"].statistics.has_min_max
    dictionary = {"PLAIN_DICTIONARY", "RLE_DICTIONARY"}
    assert dictionary & set(columns["site"].encodings)
    assert not dictionary & set(columns["id"].encodings)
    assert not dictionary & set(columns["lvef"].encodings)


def test_a_mostly_distinct_text_column_is_written_plain_and_a_repeating_one_with_a_dictionary(tmp_path):
    rows = 5000
    batch = pa.record_batch({
        "order": pa.array([f"order-{i:06d}-{i * 7919 % 100_003}" for i in range(rows)]),
        "status": pa.array([("new", "paid", "shipped")[i % 3] for i in range(rows)]),
        "amount": pa.array([i * 0.5 for i in range(rows)]),
    })
    write_parts([batch], str(tmp_path))
    metadata = pq.ParquetFile(tmp_path / "part-00000.parquet").metadata
    assert metadata.num_row_groups == 1
    columns = {metadata.row_group(0).column(i).path_in_schema: metadata.row_group(0).column(i)
               for i in range(metadata.num_columns)}
    assert "RLE_DICTIONARY" in columns["status"].encodings
    assert columns["status"].has_dictionary_page
    assert "RLE_DICTIONARY" not in columns["order"].encodings
    assert not columns["order"].has_dictionary_page
    assert "RLE_DICTIONARY" not in columns["amount"].encodings
    assert pq.read_table(tmp_path / "part-00000.parquet").to_batches()[0].equals(batch)


def test_compression_can_be_chosen(tmp_path):
    write_parts(make_batches(100), str(tmp_path), compression="snappy")
    column = pq.ParquetFile(tmp_path / "part-00000.parquet").metadata.row_group(0).column(0)
    assert column.compression == "SNAPPY"


def test_later_batches_are_cast_to_the_first_schema_when_that_is_lossless(tmp_path):
    batches = [pa.record_batch({"n": pa.array([1], pa.int64())}),
               pa.record_batch({"n": pa.array([2], pa.int32())})]
    result = write_parts(batches, str(tmp_path))
    assert result.schema.field("n").type == pa.int64()
    assert pq.read_table(tmp_path / "part-00000.parquet").column("n").to_pylist() == [1, 2]


def test_a_type_change_that_cannot_be_cast_names_the_column(tmp_path):
    batches = [pa.record_batch({"n": pa.array([1], pa.int64())}),
               pa.record_batch({"n": pa.array(["x"])})]
    with pytest.raises(SchemaMismatch, match="column 'n' changed type from int64 to string"):
        write_parts(batches, str(tmp_path))


@pytest.mark.parametrize("second, message", [
    ({"a": [1], "b": [2], "c": [3]}, "column 'c' is new"),
    ({"a": [1]}, "column 'b' is missing"),
    ({"b": [1], "a": [2]}, "another order"),
])
def test_new_missing_or_reordered_columns_are_refused(tmp_path, second, message):
    batches = [pa.record_batch({"a": [1], "b": [2]}), pa.record_batch(second)]
    with pytest.raises(SchemaMismatch, match=message):
        write_parts(batches, str(tmp_path))


def test_a_given_schema_fixes_the_types(tmp_path):
    schema = pa.schema([("n", pa.int64())])
    result = write_parts([pa.record_batch({"n": pa.array([1], pa.int16())})], str(tmp_path), schema=schema)
    assert pq.read_schema(tmp_path / result.parts[0].name).field("n").type == pa.int64()


def test_empty_input_with_a_schema_writes_one_empty_part_and_without_one_is_an_error(tmp_path):
    schema = pa.schema([("n", pa.int64())])
    (tmp_path / "a").mkdir()
    result = write_parts([], str(tmp_path / "a"), schema=schema)
    assert result.rows == 0 and len(result.parts) == 1
    assert pq.read_table(tmp_path / "a" / "part-00000.parquet").schema.equals(schema)
    with pytest.raises(StagingError, match="no record batches"):
        write_parts([], str(tmp_path))
    assert os.listdir(tmp_path) == ["a"]


@pytest.mark.parametrize(("threads", "pipelined_read"), [(1, True), (1, False), (2, True)])
def test_an_error_mid_stream_propagates_and_removes_the_unfinished_part(tmp_path, threads, pipelined_read):
    def failing():
        yield from make_batches(3000)
        raise ConnectionResetError("source went away")

    with pytest.raises(ConnectionResetError, match="went away"):
        write_parts(failing(), str(tmp_path), row_group_rows=1000, pipelined_read=pipelined_read,
                    encode_threads=threads)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("threads", [1, 2])
def test_progress_is_reported_after_each_row_group_and_can_stop_the_write(tmp_path, threads):
    seen = []

    def progress(state):
        seen.append(state)
        if state.rows >= 3000:
            raise RuntimeError("quota")

    with pytest.raises(RuntimeError, match="quota"):
        write_parts(make_batches(10_000), str(tmp_path), row_group_rows=1000, on_row_group=progress,
                    encode_threads=threads)
    assert [s.rows for s in seen] == [1000, 2000, 3000]
    assert seen[0].bytes > 0 and seen[-1].bytes > seen[0].bytes and seen[-1].row_groups == 3
    assert os.listdir(tmp_path) == []


def test_writes_through_an_fsspec_filesystem(tmp_path):
    fs = fsspec.filesystem("memory")
    directory = f"/writer-test-{tmp_path.name}"
    try:
        result = write_parts(make_batches(1500), directory, filesystem=fs, row_group_rows=1000)
        data = fs.cat_file(f"{directory}/part-00000.parquet")
        assert hashlib.sha256(data).hexdigest() == result.parts[0].sha256
        assert pa.BufferReader(data) and pq.read_table(pa.BufferReader(data)).num_rows == 1500
    finally:
        fs.rm(directory, recursive=True)


@pytest.mark.parametrize("threads", [1, 2])
def test_memory_does_not_grow_with_the_input_size(tmp_path, threads):
    small = peak_arrow_memory(tmp_path, 40, max_part_bytes=1 << 20, encode_threads=threads)
    large = peak_arrow_memory(tmp_path, 200, max_part_bytes=1 << 20, encode_threads=threads)
    assert large < small * 1.5 + (1 << 20), (small, large)


def test_the_pipelined_reader_stops_its_thread_when_the_consumer_stops():
    pulled = []

    def endless():
        i = 0
        while True:
            pulled.append(i)
            yield i
            i += 1

    stream = pipelined(endless(), depth=2)
    assert [next(stream) for _ in range(3)] == [0, 1, 2]
    stream.close()
    count = len(pulled)
    assert count <= 3 + 2 + 1  # what was consumed, the queue, and one item in hand
    time.sleep(0.2)
    assert len(pulled) == count


def test_a_discarded_part_sends_none_of_its_buffered_bytes_to_the_storage_tier(tmp_path):
    from connector.staging.parts import _Part

    table = pa.Table.from_batches([make_batch(0, 500)])
    part = _Part(fsspec.filesystem("file"), str(tmp_path / "part-00000.parquet"), "part-00000.parquet",
                 table.schema, {"compression": "zstd"}, fsync=False, block_size=None)
    part.write(table)
    assert part.size > 0 and part.sink.size == 0  # still in the writer's buffer
    part.discard()
    assert part.sink.size == 0 and os.listdir(tmp_path) == []
    with pytest.raises(ValueError, match="closed part file"):
        part.sink.write(b"late")
