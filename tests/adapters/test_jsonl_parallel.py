"""The parallel JSON Lines reader gives the serial reader's rows, types and errors. Chunks and
blocks are made tiny so that small files span many chunks."""

from __future__ import annotations

import gzip
import json
import random
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.json as pa_json
import pytest

from connector.adapters import jsonl_parallel
from connector.adapters.base import SourceSpec
from connector.adapters.chunked import READ_AHEAD
from connector.adapters.errors import SchemaMismatch, SourceFormatError, SourceTooLarge
from connector.adapters.formats import open_reader
from tests.adapters.test_csv_parallel import SMALL, CountingStream, both, error_of, read

LOCATION = re.compile(r" \(record (\d+), line (\d+), at byte (\d+) of the text\)")


def records(count: int, seed: int = 7) -> list[dict]:
    """Ints, floats, nulls, timestamps, strings with escaped newlines and unicode, nested values."""
    rng = random.Random(seed)
    words = ["plain", "two\nlines", "crlf\r\ninside", "", "Zürich ✓", 'say "hi"', "{not: json}"]
    rows = []
    for i in range(count):
        rows.append({
            "id": i,
            "amount": rng.random() * 1000,
            "note": " ".join(rng.choice(words) for _ in range(rng.randint(0, 5))),
            "ts": f"2024-01-{1 + i % 28:02d} 10:00:00",
            "maybe": None if i % 3 else i,
            "geo": {"lat": i / 7, "tags": ["a", "b"][: i % 3]},
        })
    return rows


def write(path: Path, rows: list[dict], *, newline: str = "\n", blank_every: int = 0) -> Path:
    lines = []
    for i, row in enumerate(rows):
        lines.append(json.dumps(row, ensure_ascii=False))
        if blank_every and i % blank_every == 0:
            lines.append("")
    path.write_bytes((newline.join(lines) + newline).encode())
    return path


def whole(path: Path, schema: pa.Schema) -> pa.Table:
    """The oracle: pyarrow's whole-file reader, one block, with the serial reader's types."""
    return pa_json.read_json(path, read_options=pa_json.ReadOptions(block_size=1 << 26),
                             parse_options=pa_json.ParseOptions(explicit_schema=schema))


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_file_of_many_chunks_gives_the_serial_rows_and_types(tmp_path, newline):
    path = write(tmp_path / "many.jsonl", records(3000), newline=newline, blank_every=97)
    assert path.stat().st_size > 40 * SMALL["csv_chunk_bytes"]
    serial, parallel = both(path)
    assert parallel.schema == serial.schema
    assert parallel.equals(serial)
    assert parallel.equals(whole(path, serial.schema))
    assert parallel.num_rows == 3000
    assert serial.schema.field("ts").type == pa.timestamp("s")
    assert serial.schema.field("geo").type.field("tags").type == pa.list_(pa.string())
    assert any("\n" in v for v in parallel.column("note").to_pylist())


def test_chunk_boundaries_right_after_a_newline_lose_and_repeat_nothing(tmp_path):
    line = b'{"id": %6d, "text": "%s"}\n'
    width = len(line % (0, b""))
    filler = b"x" * (64 - width)  # 64-byte lines: every 8 KiB read ends right after a newline
    path = tmp_path / "aligned.jsonl"
    path.write_bytes(b"".join(line % (i, filler) for i in range(2000)))
    assert SMALL["csv_chunk_bytes"] % len(line % (0, filler)) == 0
    serial, parallel = both(path)
    assert parallel.equals(serial)
    assert parallel.column("id").to_pylist() == list(range(2000))


def test_a_file_without_a_final_newline_keeps_its_last_record(tmp_path):
    path = tmp_path / "open.jsonl"
    path.write_bytes(b"\n".join(b'{"a": %d}' % i for i in range(3000)))
    serial, parallel = both(path)
    assert parallel.equals(serial) and parallel.column("a").to_pylist()[-1] == 2999


def test_fields_missing_from_the_first_block_are_refused_late_and_missing_later_fields_are_null(tmp_path):
    path = tmp_path / "late.jsonl"
    path.write_bytes(b"".join(b'{"a": %d, "b": "x"}\n' % i for i in range(5000)) + b'{"a": 1, "z": 2}\n')
    serial, parallel = error_of(path, threads=1), error_of(path, threads=2)
    assert type(serial) is type(parallel) is SchemaMismatch
    assert "not in the schema (a, b)" in str(parallel)
    assert "record 5001, line 5001" in str(parallel)
    sparse = tmp_path / "sparse.jsonl"
    sparse.write_bytes(b"".join(b'{"a": %d, "b": "x"}\n' % i for i in range(200))
                       + b"".join(b'{"a": %d}\n' % i for i in range(5000)))
    serial_t, parallel_t = both(sparse)
    assert parallel_t.equals(serial_t)
    assert parallel_t.column("b").null_count == 5000


@pytest.mark.parametrize(("late", "kind"), [
    (b'{"a": 1, "n": 5}\n', SchemaMismatch),          # a field null in the first block gets a value
    (b'{"a": "text", "n": null}\n', SchemaMismatch),  # a number column gets a string
    (b'{"a": 1.5, "n": null}\n', SourceFormatError),  # a float in an integer column
])
def test_type_drift_late_in_the_file_fails_as_in_the_serial_reader(tmp_path, late, kind):
    path = tmp_path / "drift.jsonl"
    path.write_bytes(b"".join(b'{"a": %d, "n": null}\n' % i for i in range(5000)) + late)
    serial, parallel = error_of(path, threads=1), error_of(path, threads=2)
    assert type(serial) is type(parallel) is kind
    assert LOCATION.sub("", str(parallel)) == re.sub(r" in row \d+", "", str(serial))
    assert LOCATION.search(str(parallel)).groups() == ("5001", "5001", str(path.stat().st_size - len(late)))


def test_a_malformed_line_late_in_the_file_names_its_record_line_and_byte(tmp_path):
    head = b"".join(b'{"a": %d}\n' % i for i in range(4000)) + b"\n\n"  # two blank lines: line != record
    bad = b'{"a": 4000, }\n'
    path = tmp_path / "broken.jsonl"
    path.write_bytes(head + bad + b"".join(b'{"a": %d}\n' % i for i in range(3000)))
    serial, parallel = error_of(path, threads=1), error_of(path, threads=2)
    assert type(serial) is type(parallel) is SourceFormatError
    assert LOCATION.sub("", str(parallel)) == re.sub(r" in row \d+", "", str(serial))
    assert LOCATION.search(str(parallel)).groups() == ("4001", "4003", str(len(head)))


def test_a_malformed_first_block_fails_with_the_serial_message(tmp_path):
    path = tmp_path / "bad-start.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": \n' + b"".join(b'{"a": %d}\n' % i for i in range(3000)))
    serial, parallel = error_of(path, threads=1), error_of(path, threads=2)
    assert type(parallel) is type(serial) and str(parallel) == str(serial)


def test_empty_and_blank_files_fail_like_the_serial_reader(tmp_path):
    for name, data in (("empty.jsonl", b""), ("blank.jsonl", b"\n\r\n  \n" * 5000)):
        path = tmp_path / name
        path.write_bytes(data)
        assert str(error_of(path, threads=2)) == str(error_of(path, threads=1))


def test_a_line_longer_than_the_read_ahead_buffer_is_read_whole(tmp_path):
    long_value = "y" * (SMALL["csv_chunk_bytes"] * 10)
    rows = [{"a": i, "s": "short"} for i in range(500)] + [{"a": 500, "s": long_value}]
    rows += [{"a": i, "s": "short"} for i in range(501, 1500)]
    path = write(tmp_path / "long.jsonl", rows)
    serial, parallel = both(path, block_size=SMALL["csv_chunk_bytes"] * 16)
    assert parallel.equals(serial) and parallel.column("s").to_pylist()[500] == long_value


def test_gzip_input_is_decompressed_by_the_same_streams(tmp_path):
    plain = write(tmp_path / "plain.jsonl", records(3000))
    packed = tmp_path / "packed.jsonl.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    serial, parallel = both(packed)
    assert parallel.equals(serial) and parallel.equals(read(plain, threads=2))
    bomb = tmp_path / "bomb.jsonl.gz"  # 4 MiB of repetitive records: far above a ratio of 20
    bomb.write_bytes(gzip.compress(b'{"a": 1, "s": "%s"}\n' % (b"z" * 1000) * 4000))
    serial_error = error_of(bomb, threads=1, max_ratio=20)
    parallel_error = error_of(bomb, threads=2, max_ratio=20)
    assert type(parallel_error) is type(serial_error) is SourceTooLarge
    # the same message; the decoded count at which it trips depends on the read size
    assert re.sub(r"\d+", "N", str(parallel_error)) == re.sub(r"\d+", "N", str(serial_error))


def test_the_byte_limit_applies_to_the_parallel_path(tmp_path):
    path = write(tmp_path / "big.jsonl", [{"id": i, "text": f"value {i}"} for i in range(20000)])
    assert isinstance(error_of(path, threads=2, max_bytes=100_000), SourceTooLarge)


def test_a_declared_schema_fixes_the_types_of_every_chunk(tmp_path):
    path = write(tmp_path / "declared.jsonl", [{"id": i, "amount": i} for i in range(5000)])
    fields = ({"name": "id", "type": "integer"}, {"name": "amount", "type": "number"},
              {"name": "extra", "type": "string"})
    serial, parallel = both(path, fields=fields)
    assert parallel.equals(serial)
    assert parallel.schema.field("amount").type == pa.float64()
    assert parallel.column("extra").null_count == 5000


def test_the_reader_stays_a_few_chunks_ahead_of_the_batches_it_hands_out():
    line = '{{"a": {:8d}, "b": "fixed width text", "c": {:8d}}}\n'
    count, threads, chunk = 20_000, 2, SMALL["csv_chunk_bytes"]  # 1 MB: 120 chunks of 8 KiB
    data = "".join(line.format(i, i) for i in range(count)).encode()
    stream = CountingStream(data)
    spec = SourceSpec("/x.jsonl", csv_threads=threads, **SMALL)
    reader = open_reader(stream, "jsonl", spec, name="x.jsonl")
    assert isinstance(reader._reader, jsonl_parallel.ParallelJsonLinesReader)
    consumed, worst = 0, 0
    try:
        for batch in reader:
            consumed += batch.num_rows
            worst = max(worst, stream.position - consumed * len(line.format(0, 0)))
    finally:
        reader.close()
    assert consumed == count
    assert 0 < worst <= (threads + READ_AHEAD + 2) * chunk
    assert reader._reader.max_in_flight == threads + READ_AHEAD


def test_a_parser_has_the_next_chunk_queued_while_the_consumer_holds_a_batch():
    line = '{{"a": {:8d}, "b": "fixed width text"}}\n'
    data = "".join(line.format(i) for i in range(20_000)).encode()
    threads = 2
    reader = open_reader(CountingStream(data), "jsonl", SourceSpec("/x.jsonl", csv_threads=threads, **SMALL),
                         name="x.jsonl")
    try:
        batches = iter(reader)
        first = next(batches)  # the consumer stalls here (as behind a busy Parquet encoder)
        queued = list(reader._reader._queue)
        assert len(queued) == threads + READ_AHEAD  # the chunk handed out freed a slot, refilled
        assert all(chunk.parsed is not None for chunk in queued)
        rows = first.num_rows + sum(batch.num_rows for batch in batches)
    finally:
        reader.close()
    assert rows == 20_000


def test_one_thread_keeps_the_serial_reader_and_the_environment_does_not_choose(monkeypatch):
    assert not jsonl_parallel.eligible(SourceSpec("/x.jsonl", csv_threads=1))
    assert jsonl_parallel.eligible(SourceSpec("/x.jsonl", csv_threads=2))
    monkeypatch.setenv("CONNECTOR_CSV_PARSE_THREADS", "1")
    monkeypatch.setattr("os.cpu_count", lambda: 4)
    assert jsonl_parallel.eligible(SourceSpec("/x.jsonl"))
