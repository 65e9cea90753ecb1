"""Formats, encodings, schemas, archives and decompression limits, read from real files."""

from __future__ import annotations

import gzip
import io
import json
import stat
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.feather as feather
import pytest

from connector.adapters.base import SourceSpec
from connector.adapters.errors import (
    InvalidSourceSpec,
    SchemaMismatch,
    SourceFormatError,
    SourceRefused,
    SourceTooLarge,
    UnsupportedSource,
)
from connector.adapters.local import LocalAdapter


@pytest.fixture
def put(tmp_path: Path):
    """Write bytes under the allowed root and return a reader for them."""
    adapter = LocalAdapter(roots=[tmp_path])

    def write(name: str, data: bytes, **spec):
        (tmp_path / name).write_bytes(data)
        return adapter.read(SourceSpec(str(tmp_path / name), **spec))

    return write


# -- CSV ------------------------------------------------------------------------------

def test_quoted_newlines_across_block_boundaries_parse_as_one_value(put) -> None:
    rows = b"".join(b'%d,"line one\nline two, with comma",%d\n' % (i, i) for i in range(3000))
    table = put("multi.csv", b"id,text,n\n" + rows, block_size=4096).read_all()
    assert table.num_rows == 3000
    assert set(table.column("text").to_pylist()) == {"line one\nline two, with comma"}


def test_tsv_and_custom_delimiter_quote_and_header_options(put) -> None:
    assert put("a.tsv", b"x\ty\n1\tb c\n").read_all().to_pydict() == {"x": [1], "y": ["b c"]}
    table = put("semi.txt", b"1;'a;b'\n2;'c'\n", format="csv", delimiter=";", quotechar="'",
                header=False, column_names=("n", "s")).read_all()
    assert table.to_pydict() == {"n": [1, 2], "s": ["a;b", "c"]}
    renamed = put("renamed.csv", b"old1,old2\n1,2\n", column_names=("a", "b")).read_all()
    assert renamed.to_pydict() == {"a": [1], "b": [2]}
    skipped = put("preamble.csv", b"exported 2024\n\nx\n5\n", skip_rows=2).read_all()
    assert skipped.to_pydict() == {"x": [5]}


def test_a_value_that_does_not_fit_the_type_of_the_first_block_names_the_column(put) -> None:
    data = b"id,amount\n" + b"".join(b"%d,%d\n" % (i, i) for i in range(5000)) + b"5000,oops\n"
    with pytest.raises(SchemaMismatch, match=r"column 'amount'.*invalid value 'oops'") as caught:
        put("drift.csv", data, block_size=4096).read_all()
    assert caught.value.extensions["column"] == "amount"


def test_an_explicit_field_list_fixes_the_types(put) -> None:
    fields = [{"name": "id", "type": "string"}, {"name": "amount", "type": "number"},
              {"name": "day", "type": "date", "constraints": {"required": True}}]
    table = put("typed.csv", b"id,amount,day\n007,1,2024-02-29\n", fields=fields).read_all()
    assert table.schema == pa.schema([("id", pa.string()), ("amount", pa.float64()),
                                      pa.field("day", pa.date32(), nullable=False)])
    assert table.column("id").to_pylist() == ["007"]


def test_a_column_missing_from_the_declared_schema_is_refused_by_name(put) -> None:
    with pytest.raises(SchemaMismatch, match="column 'extra' is not in the schema"):
        put("extra.csv", b"id,extra\n1,2\n", schema=pa.schema([("id", pa.int64())])).read_all()


def test_a_required_field_with_an_empty_value_is_refused(put) -> None:
    fields = [{"name": "id", "type": "integer", "constraints": {"required": True}}, {"name": "v"}]
    with pytest.raises(SchemaMismatch, match="'id' is required"):
        put("req.csv", b"id,v\n1,a\n,b\n", fields=fields).read_all()


def test_latin1_bytes_without_a_declared_encoding_fail_naming_the_column(put) -> None:
    with pytest.raises(SourceFormatError, match=r"column 'city' is not valid UTF-8.*encoding"):
        put("latin.csv", "id,city\n1,São Paulo\n".encode("latin-1"))


def test_a_declared_encoding_is_transcoded(put) -> None:
    table = put("latin.csv", "id,city\n1,São Paulo\n".encode("latin-1"), encoding="latin-1").read_all()
    assert table.column("city").to_pylist() == ["São Paulo"]


def test_bytes_invalid_in_the_declared_encoding_fail_with_their_offset(put) -> None:
    with pytest.raises(SourceFormatError, match="not valid ascii near byte 11"):
        put("ascii.csv", "id,city\n1,Zürich\n".encode(), encoding="ascii")


def test_a_utf16_file_with_a_bom_is_transcoded_and_a_utf8_bom_dropped(put) -> None:
    utf16 = put("u16.csv", "id,city\n1,Zürich\n".encode("utf-16")).read_all()
    assert utf16.column("city").to_pylist() == ["Zürich"]
    table = put("bom.jsonl", b"\xef\xbb\xbf" + b'{"a": 1}\n{"a": 2}\n').read_all()
    assert table.to_pydict() == {"a": [1, 2]}


def test_duplicate_or_empty_header_names_are_refused(put) -> None:
    with pytest.raises(SourceFormatError, match="'a' appears twice"):
        put("dup.csv", b"a,b,a\n1,2,3\n")
    with pytest.raises(SourceFormatError, match="empty name"):
        put("blank.csv", b"a,,c\n1,2,3\n")


def test_ragged_rows_and_empty_files_fail_with_a_format_error(put) -> None:
    with pytest.raises(SourceFormatError, match="Expected 2 columns, got 3"):
        put("ragged.csv", b"a,b\n1,2\n3,4,5\n").read_all()
    with pytest.raises(SourceFormatError, match="empty"):
        put("empty.csv", b"")


# -- JSON -----------------------------------------------------------------------------

def test_a_json_array_streams_in_bounded_batches(put) -> None:
    records = [{"id": i, "tags": ["x", "y"], "geo": {"lat": 1.5, "lon": i / 2}} for i in range(20_000)]
    stream = put("big.json", json.dumps(records).encode(), block_size=64 << 10)
    batches = list(stream)
    assert sum(b.num_rows for b in batches) == 20_000 and len(batches) > 10
    assert stream.schema.field("geo").type == pa.struct([("lat", pa.float64()), ("lon", pa.float64())])


def test_a_nested_json_array_is_read_through_json_prefix(put) -> None:
    doc = {"meta": {"count": 2}, "data": [{"a": 1}, {"a": 2}]}
    stream = put("wrapped.json", json.dumps(doc).encode(), json_prefix="data.item")
    assert stream.read_all().to_pydict() == {"a": [1, 2]}


def test_a_json_record_with_a_field_outside_the_fixed_schema_is_refused_by_name(put) -> None:
    records = [{"a": i} for i in range(70_000)] + [{"a": 1, "surprise": True}]
    with pytest.raises(SchemaMismatch, match="field 'surprise' is not in the schema"):
        put("late.json", json.dumps(records).encode()).read_all()


def test_a_json_value_that_does_not_fit_names_the_column(put) -> None:
    records = [{"a": i, "b": "x"} for i in range(70_000)] + [{"a": "text", "b": "y"}]
    with pytest.raises(SchemaMismatch, match="column 'a' has a value that does not fit int64"):
        put("typed.json", json.dumps(records).encode()).read_all()


def test_a_json_array_of_non_objects_or_broken_json_is_a_format_error(put) -> None:
    with pytest.raises(SourceFormatError, match="record 1 is int, not an object"):
        put("mixed.json", b'[{"a": 1}, 2]')
    with pytest.raises(SourceFormatError, match="not valid JSON"):
        put("broken.json", b'[{"a": 1}, {"a": ')


def test_json_lines_with_a_later_new_field_are_refused(put) -> None:
    data = b"".join(b'{"a": %d}\n' % i for i in range(5000)) + b'{"a": 1, "b": 2}\n'
    with pytest.raises(SchemaMismatch, match="not in the schema"):
        put("late.jsonl", data, block_size=4096).read_all()


# -- binary formats and inference -----------------------------------------------------

def test_feather_v1_is_refused_with_advice(put) -> None:
    # Feather v1 files start and end with the magic FEA1 (pyarrow no longer writes them quietly).
    with pytest.raises(SourceFormatError, match="Feather version 1"):
        put("v1.feather", b"FEA1" + bytes(64) + b"FEA1")


def test_formats_are_sniffed_when_the_name_says_nothing(put, tmp_path: Path) -> None:
    feather.write_feather(pa.table({"a": [1, 2]}), tmp_path / "x")
    assert put("blob", (tmp_path / "x").read_bytes()).read_all().num_rows == 2
    assert put("records", gzip.compress(b'[{"a": 1}]')).read_all().to_pydict() == {"a": [1]}


def test_json_lines_named_json_are_read_as_json_lines(put) -> None:
    assert put("export.json", b'{"a": 1}\n{"a": 2}\n').read_all().to_pydict() == {"a": [1, 2]}
    with pytest.raises(SourceFormatError, match="not valid JSON near record 0"):
        put("declared.json", b'{"a": 1}\n{"a": 2}\n', format="json")


def test_an_unknown_format_asks_for_one(put) -> None:
    with pytest.raises(UnsupportedSource, match="set format"):
        put("notes", b"a,b\n1,2\n")


def test_concatenated_gzip_members_are_read_whole(put) -> None:
    data = gzip.compress(b"a\n1\n") + gzip.compress(b"2\n")
    assert put("multi.csv.gz", data).read_all().to_pydict() == {"a": [1, 2]}


def test_spec_values_are_validated_all_at_once() -> None:
    with pytest.raises(InvalidSourceSpec) as caught:
        SourceSpec("x", format="xlsx", compression="rar", delimiter=";;", max_bytes=0,
                   fields=[{"name": "a", "type": "money"}])
    paths = [e["path"] for e in caught.value.errors]
    assert paths == ["$.format", "$.compression", "$.delimiter", "$.fields", "$.max_bytes"]
    assert caught.value.status == 422


# -- archives and bombs ---------------------------------------------------------------

def _zip(*members: tuple[str, bytes], link: str | None = None) -> bytes:
    sink = io.BytesIO()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
        if link:
            info = zipfile.ZipInfo(link)
            info.create_system = 3
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return sink.getvalue()


@pytest.mark.parametrize("member, reason", [("../evil.csv", r"parent directory reference"),
                                            ("data/../../evil.csv", r"parent directory reference"),
                                            ("/etc/cron.d/evil.csv", "absolute name"),
                                            ("C:/evil.csv", "absolute name"),
                                            ("..\\evil.csv", "parent directory reference")])
def test_zip_members_escaping_the_archive_refuse_it(put, member: str, reason: str) -> None:
    with pytest.raises(SourceRefused, match=reason) as caught:
        put("slip.zip", _zip(("ok.csv", b"a\n1\n"), (member, b"a\n2\n")))
    assert caught.value.extensions["member"] == member


def test_a_symlink_member_refuses_the_archive(put) -> None:
    with pytest.raises(SourceRefused, match="symbolic link"):
        put("link.zip", _zip(("ok.csv", b"a\n1\n"), link="passwd.csv"))


def test_zip_members_with_several_tables_are_unified(put) -> None:
    stream = put("two.zip", _zip(("b.csv", b"x\n2.5\n"), ("a.csv", b"x\n1\n"), ("notes.txt", b"hi")))
    assert stream.read_all().to_pydict() == {"x": [1.0, 2.5]}
    assert stream.provenance.files[0].members == ("a.csv", "b.csv")


def test_a_zip_without_data_members_says_what_it_holds(put) -> None:
    with pytest.raises(SourceFormatError, match="no data members.*notes.txt"):
        put("docs.zip", _zip(("notes.txt", b"hi")))


def test_a_zip_bomb_is_refused_before_decompressing(put) -> None:
    with pytest.raises(SourceTooLarge, match="declares 16777218 bytes"):
        put("bomb.zip", _zip(("bomb.csv", b"n\n" + b"0\n" * (8 << 20))), max_ratio=100)


@pytest.mark.parametrize("compression", ["gzip", "bz2", "zstd"])
def test_a_compressed_bomb_is_refused_while_streaming(put, compression: str) -> None:
    data = b"n\n" + b"0\n" * (2 << 20)  # 4 MiB that pack into a few kB
    packed = gzip.compress(data) if compression == "gzip" else pa.compress(data, compression, asbytes=True) \
        if compression == "zstd" else __import__("bz2").compress(data)
    suffix = {"gzip": "gz", "bz2": "bz2", "zstd": "zst"}[compression]
    with pytest.raises(SourceTooLarge, match="decompression bomb"):
        put(f"bomb.csv.{suffix}", packed, max_ratio=50).read_all()


def test_a_large_but_ordinary_compressed_file_passes_the_ratio_limit(put) -> None:
    data = b"id,text\n" + b"".join(b"%d,row number %d of the table\n" % (i, i) for i in range(100_000))
    assert put("fine.csv.gz", gzip.compress(data)).read_all().num_rows == 100_000
