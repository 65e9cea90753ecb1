"""The parallel CSV reader gives the serial reader's rows, types and errors, and reads ahead
only a few chunks. Chunks and blocks are made tiny so that small files span many chunks."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pytest

from connector.adapters import csv_parallel
from connector.adapters.base import SourceSpec
from connector.adapters.chunked import READ_AHEAD
from connector.adapters.errors import SchemaMismatch, SourceFormatError, SourceTooLarge
from connector.adapters.formats import open_reader
from connector.adapters.local import LocalAdapter

SMALL = {"block_size": 4096, "csv_chunk_bytes": 8192}


def read(path: Path, *, threads: int, **options) -> pa.Table:
    spec = SourceSpec(str(path), csv_threads=threads, **{**SMALL, **options})
    return LocalAdapter(roots=[path.parent]).read(spec).read_all()


def both(path: Path, **options) -> tuple[pa.Table, pa.Table]:
    return read(path, threads=1, **options), read(path, threads=2, **options)


def whole(path: Path, schema: pa.Schema) -> pa.Table:
    """The oracle: pyarrow's whole-file reader, one block, with the serial reader's types."""
    return pa_csv.read_csv(path, read_options=pa_csv.ReadOptions(block_size=1 << 26),
                           parse_options=pa_csv.ParseOptions(newlines_in_values=True),
                           convert_options=pa_csv.ConvertOptions(column_types=schema))


def error_of(path: Path, *, threads: int, **options) -> Exception:
    with pytest.raises((SourceFormatError, SchemaMismatch, SourceTooLarge)) as caught:
        read(path, threads=threads, **options)
    return caught.value


def awkward_rows(count: int, seed: int = 7) -> list[str]:
    """Rows with quoted newlines, doubled quotes, commas, CRLF inside values, empty strings."""
    rng = random.Random(seed)
    words = ["plain", "with, comma", 'say ""hi""', "two\nlines", "crlf\r\ninside", "", "Zürich ✓"]
    rows = []
    for i in range(count):
        note = " ".join(rng.choice(words) for _ in range(rng.randint(0, 6)))
        rows.append(f'{i},{rng.random() * 1000:.3f},"{note}",2024-01-{1 + i % 28:02d} 10:00:00')
    return rows


def write(path: Path, header: str, rows: list[str], newline: str = "\n") -> Path:
    path.write_bytes((newline.join([header, *rows]) + newline).encode("utf-8"))
    return path


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_quoted_newlines_doubled_quotes_and_crlf_give_the_serial_rows_and_types(tmp_path, newline):
    path = write(tmp_path / "awkward.csv", "id,amount,note,ts", awkward_rows(3000), newline)
    assert path.stat().st_size > 10 * SMALL["csv_chunk_bytes"]
    serial, parallel = both(path)
    assert parallel.schema == serial.schema
    # Compared with the whole-file read: the serial streaming reader itself drops the LF of a
    # quoted CRLF that straddles one of its blocks (below).
    assert parallel.equals(whole(path, serial.schema))
    assert parallel.num_rows == serial.num_rows == 3000
    assert serial.schema.field("ts").type == pa.timestamp("s")
    assert any("\n" in v for v in parallel.column("note").to_pylist())


def test_a_quoted_crlf_across_a_block_boundary_keeps_its_lf(tmp_path):
    # pyarrow's streaming reader (26.0) loses the LF when the CR ends one of its blocks; the
    # parallel path parses whole chunks and keeps it.
    head = "id,note\n" + "".join(f"{i},padding\n" for i in range(100))
    filler = "x" * (SMALL["block_size"] - len(head.encode()) - len('100,"') - 1)
    path = tmp_path / "crlf.csv"
    path.write_bytes((head + f'100,"{filler}\r\nrest"\n' + "101,tail\n").encode())
    assert path.read_bytes().index(b"\r") == SMALL["block_size"] - 1
    serial, parallel = both(path)
    assert parallel.column("note")[100].as_py() == filler + "\r\nrest"
    assert parallel.equals(whole(path, serial.schema))


@pytest.mark.parametrize("chunk", [4096, 5000, 6001, 8192])
def test_chunk_boundaries_inside_quoted_fields_move_to_the_record_end(tmp_path, chunk):
    value = "\n".join(f'line {i} "" quoted, comma' for i in range(100))  # 2.6 KB, 100 newlines
    rows = [f'{i},"{value}"' if i % 5 == 0 else f'{i},"short {i}"' for i in range(400)]
    path = write(tmp_path / "long.csv", "id,text", rows)
    assert path.stat().st_size > 20 * chunk
    serial, parallel = both(path, csv_chunk_bytes=chunk)
    assert parallel.equals(serial)
    assert parallel.column("text")[395].as_py() == value.replace('""', '"')


def test_a_record_longer_than_a_chunk_is_read_whole(tmp_path):
    # The serial reader refuses a record longer than its block; the parallel one reads records
    # up to MAX_RECORD_CHUNKS chunks long, then hands over to the serial reader.
    value = "\n".join(f"line {i}" for i in range(3000))  # 27 KB
    rows = [f'{i},"short {i}"' for i in range(400)] + [f'400,"{value}"', '401,"after"']
    path = write(tmp_path / "long.csv", "id,text", rows)
    assert "a record after data row 400 is longer than the serial reader's block" in \
        error_of(path, threads=1).detail
    parallel = read(path, threads=2)
    assert parallel.column("text")[400].as_py() == value
    assert parallel.equals(whole(path, parallel.schema))


def test_a_header_only_file_and_a_one_row_file_match_the_serial_reader(tmp_path):
    header_only = write(tmp_path / "header.csv", "a,b,c", [])
    one_row = write(tmp_path / "one.csv", "a,b,c", ['1,"x\ny",2.5'])
    for path in (header_only, one_row):
        serial, parallel = both(path)
        assert parallel.schema == serial.schema
        assert parallel.equals(serial)
    assert both(one_row)[1].num_rows == 1


def test_a_file_without_a_final_newline_keeps_its_last_row(tmp_path):
    path = tmp_path / "nofinal.csv"
    path.write_bytes(("a,b\n" + "".join(f"{i},v{i}\n" for i in range(2000)) + '2000,"last"').encode())
    serial, parallel = both(path)
    assert parallel.equals(serial)
    assert parallel.num_rows == 2001


def test_quotes_outside_rfc_4180_fall_back_to_the_serial_reader_with_the_same_rows(tmp_path):
    # Inch marks in unquoted fields and text after a closing quote fool the quote count;
    # pyarrow reads them literally, and so must the parallel path.
    rows = [f'{i},15" screen,"a"b' if i % 97 == 0 else f'{i},{i} cm,"c"' for i in range(3000)]
    path = write(tmp_path / "inches.csv", "id,size,note", rows)
    serial, parallel = both(path)
    assert parallel.equals(serial)
    assert parallel.column("size")[0].as_py() == '15" screen'


def test_a_malformed_row_late_in_the_file_fails_like_the_serial_reader_and_names_the_row(tmp_path):
    rows = [f"{i},value {i}" for i in range(5000)]
    rows[4321] = "4321"
    path = write(tmp_path / "ragged.csv", "id,text", rows)
    serial, parallel = error_of(path, threads=1), error_of(path, threads=2)
    assert type(parallel) is type(serial) is SourceFormatError
    assert str(serial.detail) in str(parallel.detail)
    assert "Expected 2 columns, got 1" in parallel.detail
    assert "data row 4322" in parallel.detail


def test_a_value_that_breaks_the_first_blocks_type_late_in_the_file_names_the_column(tmp_path):
    rows = [f"{i},{i * 2}" for i in range(5000)]
    rows[4000] = "4000,not a number"
    path = write(tmp_path / "drift.csv", "id,count", rows)
    serial, parallel = error_of(path, threads=1), error_of(path, threads=2)
    assert type(parallel) is type(serial) is SchemaMismatch
    assert parallel.extensions.get("column") == serial.extensions.get("column") == "count"
    assert str(serial.detail).split(" (the column")[0] in parallel.detail


def test_invalid_utf8_late_in_the_file_fails_naming_the_column_in_both_paths(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes(b"id,name\n" + b"".join(b"%d,name %d\n" % (i, i) for i in range(5000))
                     + b"5000,Z\xfcrich\n")
    serial, parallel = error_of(path, threads=1), error_of(path, threads=2)
    assert type(parallel) is type(serial)
    assert parallel.extensions.get("column") == serial.extensions.get("column") == "name"


def test_the_byte_limit_applies_to_the_parallel_path(tmp_path):
    path = write(tmp_path / "big.csv", "id,text", [f"{i},value {i}" for i in range(20000)])
    error = error_of(path, threads=2, max_bytes=100_000)
    assert isinstance(error, SourceTooLarge)


def test_a_declared_schema_fixes_the_types_of_every_chunk(tmp_path):
    path = write(tmp_path / "declared.csv", "id,amount", [f"{i},{i}" for i in range(5000)])
    fields = ({"name": "id", "type": "integer"}, {"name": "amount", "type": "number"})
    serial, parallel = both(path, fields=fields)
    assert parallel.equals(serial)
    assert parallel.schema.field("amount").type == pa.float64()


class CountingStream(io.RawIOBase):
    def __init__(self, data: bytes) -> None:
        super().__init__()
        self._data, self.position = data, 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        end = len(self._data) if n is None or n < 0 else self.position + n
        chunk = self._data[self.position:end]
        self.position += len(chunk)
        return chunk


def test_the_reader_stays_a_few_chunks_ahead_of_the_batches_it_hands_out():
    row = "{:08d},fixed width text,{:08d}\n"
    header = "a,b,c\n"
    count = 40_000  # 1.3 MB: 160 chunks of 8 KiB
    data = (header + "".join(row.format(i, i) for i in range(count))).encode()
    row_bytes, threads, chunk = len(row.format(0, 0)), 2, SMALL["csv_chunk_bytes"]
    stream = CountingStream(data)
    spec = SourceSpec("/x.csv", csv_threads=threads, **SMALL)
    reader = open_reader(stream, "csv", spec, name="x.csv")
    consumed, worst = 0, 0
    try:
        for batch in reader:
            consumed += batch.num_rows
            ahead = stream.position - (len(header) + consumed * row_bytes)
            worst = max(worst, ahead)
    finally:
        reader.close()
    assert consumed == count
    assert 0 < worst <= (threads + READ_AHEAD + 2) * chunk


@pytest.mark.parametrize(("data", "cut"), [
    (b'a,b\n1,"x\ny"\n2,z', 12),       # the last newline outside quotes
    (b'1,"x\ny', 0),                    # only a quoted newline: no record ends
    (b'1,"a""b"\n2,"c\n', 9),           # doubled quotes count twice
    (b"no newline", 0),
])
def test_record_end_counts_quotes_to_find_the_last_record_boundary(data, cut):
    assert csv_parallel.record_end(data, ord('"')) == cut
    assert csv_parallel.count_quotes(data * 20_000, ord('"')) == data.count(b'"') * 20_000


def test_an_escape_character_or_one_thread_keeps_the_serial_reader(monkeypatch):
    assert not csv_parallel.eligible(SourceSpec("/x.csv", csv_threads=4, escapechar="\\"))
    assert not csv_parallel.eligible(SourceSpec("/x.csv", csv_threads=1))
    assert csv_parallel.eligible(SourceSpec("/x.csv", csv_threads=2))
    monkeypatch.setenv("CONNECTOR_CSV_PARSE_THREADS", "1")  # not read: the setting arrives in the spec
    monkeypatch.setattr("os.cpu_count", lambda: 4)
    assert csv_parallel.eligible(SourceSpec("/x.csv"))
