"""The adapter contract: every adapter serves the same fixture files as the same Arrow
tables with the same provenance (fsspec's tests/abstract style: one class, one fixture
parametrised over the adapters, each backed by a real server or real files)."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.feather as feather
import pyarrow.ipc as ipc
import pyarrow.json as pa_json
import pyarrow.parquet as pq
import pytest

from connector.adapters.base import SourceAdapter, SourceSpec
from connector.adapters.ckan import CkanAdapter
from connector.adapters.errors import SourceNotFound, SourceTimeout, SourceTooLarge
from connector.adapters.http import HttpAdapter
from connector.adapters.local import LocalAdapter
from connector.adapters.s3 import S3Adapter
from tests.adapters.conftest import BUCKET, sample_table

ALLOW = ["127.0.0.1"]
FILES = ["sample.csv", "sample.tsv", "sample.jsonl", "sample.json", "sample.parquet", "sample.arrow",
         "sample.arrows", "sample.csv.gz", "sample.csv.bz2", "sample.csv.zst", "sample.zip"]
CKAN_FORMATS = {"csv": "CSV", "tsv": "TSV", "jsonl": "JSONL", "json": "JSON", "parquet": "Parquet",
                "arrow": "Arrow", "arrows": "Arrow", "gz": "CSV", "bz2": "CSV", "zst": "CSV", "zip": "ZIP"}


@dataclass
class Served:
    kind: str
    adapter: SourceAdapter
    url: Callable[[str], str]        # fixture file name -> source URL
    final_url: Callable[[str], str]  # fixture file name -> URL after redirects


@pytest.fixture(params=["local", "http", "s3", "ckan"])
def served(request: pytest.FixtureRequest, fixtures_dir: Path) -> Served:
    kind = request.param
    if kind == "local":
        return Served(kind, LocalAdapter(roots=[fixtures_dir]), lambda n: str(fixtures_dir / n),
                      lambda n: (fixtures_dir / n).resolve().as_uri())
    if kind == "s3":
        endpoint = request.getfixturevalue("s3_endpoint")
        url = f"s3://{BUCKET}/fixtures/{{}}".format
        return Served(kind, S3Adapter(endpoint_url=endpoint), url, url)
    server = request.getfixturevalue("http_server")
    file_url = lambda n: server.url(f"/files/{n}")  # noqa: E731
    if kind == "http":
        return Served(kind, HttpAdapter(allowlist=ALLOW), file_url, file_url)

    def ckan_url(name: str) -> str:
        resource_id = "res-" + name.replace(".", "-")
        server.resources[resource_id] = {"url": file_url(name), "name": name,
                                         "format": CKAN_FORMATS[name.rsplit(".", 1)[-1]]}
        return f"ckan+http://127.0.0.1:{server.port}/{resource_id}"

    return Served(kind, CkanAdapter(allowlist=ALLOW), ckan_url, file_url)


def oracle(path: Path) -> pa.Table:
    """The table in ``path`` read whole by pyarrow's (or the stdlib's) own readers."""
    name, data = path.name, path.read_bytes()
    csv_parse = pa_csv.ParseOptions(newlines_in_values=True)
    if name.endswith(".gz"):
        data = gzip.decompress(data)
    elif name.endswith(".bz2"):
        data = bz2.decompress(data)
    elif name.endswith(".zst"):
        data = pa.input_stream(pa.py_buffer(data), compression="zstd").read()
    elif name.endswith(".zip"):
        data = zipfile.ZipFile(io.BytesIO(data)).read("data/sample.csv")
    if ".csv" in name or name.endswith(".zip"):
        return pa_csv.read_csv(io.BytesIO(data), parse_options=csv_parse)
    if name.endswith(".tsv"):
        return pa_csv.read_csv(io.BytesIO(data), parse_options=pa_csv.ParseOptions(
            delimiter="\t", newlines_in_values=True))
    if name.endswith(".jsonl"):
        return pa_json.read_json(io.BytesIO(data))
    if name.endswith(".json"):
        return pa.Table.from_pylist(json.loads(data))
    if name.endswith(".parquet"):
        return pq.read_table(io.BytesIO(data))
    if name.endswith(".arrow"):
        return feather.read_table(io.BytesIO(data))
    return ipc.open_stream(data).read_all()


class TestAdapterContract:
    @pytest.mark.parametrize("name", FILES)
    def test_every_format_reads_as_the_same_table_with_its_provenance(
            self, served: Served, fixtures_dir: Path, name: str) -> None:
        url = served.url(name)
        stream = served.adapter.read(SourceSpec(url))
        table = stream.read_all()
        expected = oracle(fixtures_dir / name)
        assert table.schema.equals(expected.schema, check_metadata=False)
        assert table.equals(expected)
        raw = (fixtures_dir / name).read_bytes()
        provenance = stream.provenance
        assert provenance.complete
        assert provenance.url == url
        assert provenance.bytes == len(raw)
        assert provenance.sha256 == hashlib.sha256(raw).hexdigest()
        assert provenance.final_url == served.final_url(name)
        assert provenance.rows == expected.num_rows
        assert provenance.files[0].members == (("data/sample.csv",) if name.endswith(".zip") else ())

    def test_csv_types_are_inferred_from_the_data(self, served: Served) -> None:
        table = served.adapter.read(served.url("sample.csv")).read_all()
        assert table.equals(sample_table())

    def test_schema_is_fixed_on_open_and_provenance_completes_when_exhausted(self, served: Served) -> None:
        with served.adapter.read(SourceSpec(served.url("sample.csv"), block_size=8192)) as stream:
            assert stream.schema.names == ["id", "name", "amount", "ts", "flag"]
            assert not stream.provenance.complete
            first = next(stream)
            assert first.schema.equals(stream.schema)
            assert 0 < first.num_rows < 600
            assert stream.provenance.files == ()
            rest = list(stream)
        assert first.num_rows + sum(b.num_rows for b in rest) == 600
        assert stream.provenance.complete and stream.provenance.rows == 600

    @pytest.mark.parametrize("name", ["sample.csv", "sample.csv.gz", "sample.json", "sample.parquet"])
    def test_closing_early_ends_the_stream_and_leaves_provenance_incomplete(
            self, served: Served, name: str) -> None:
        stream = served.adapter.read(SourceSpec(served.url(name), block_size=4096))
        next(stream)
        stream.close()
        with pytest.raises(StopIteration):
            next(stream)
        assert not stream.provenance.complete and stream.provenance.files == ()

    def test_a_missing_source_is_a_terminal_not_found_error(self, served: Served) -> None:
        with pytest.raises(SourceNotFound) as caught:
            served.adapter.read(served.url("no-such-file.csv") if served.kind != "ckan"
                                else served.url("sample.csv").rsplit("/", 1)[0] + "/unknown-id")
        assert caught.value.transient is False

    def test_a_source_above_max_bytes_is_refused(self, served: Served) -> None:
        with pytest.raises(SourceTooLarge, match="maximum of 2000 bytes"):
            served.adapter.read(SourceSpec(served.url("sample.csv"), max_bytes=2000)).read_all()

    def test_a_decompression_bomb_is_refused(self, served: Served) -> None:
        with pytest.raises(SourceTooLarge, match="decompression bomb"):
            served.adapter.read(SourceSpec(served.url("bomb.csv.gz"), max_ratio=100)).read_all()

    def test_an_expired_deadline_stops_the_read_as_a_transient_timeout(self, served: Served) -> None:
        with pytest.raises(SourceTimeout) as caught:
            served.adapter.read(SourceSpec(served.url("sample.csv"), deadline=1e-6)).read_all()
        assert caught.value.transient is True


@pytest.fixture(params=["local", "s3"])
def several(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[dict[str, bytes]], tuple]:
    """Write files into a directory or an S3 prefix; returns (adapter, URL of the whole)."""
    def make(files: dict[str, bytes]) -> tuple[SourceAdapter, str]:
        if request.param == "local":
            for name, data in files.items():
                (tmp_path / "dist" / name).parent.mkdir(parents=True, exist_ok=True)
                (tmp_path / "dist" / name).write_bytes(data)
            return LocalAdapter(roots=[tmp_path]), str(tmp_path / "dist")
        endpoint, upload = request.getfixturevalue("s3_endpoint"), request.getfixturevalue("s3_upload")
        prefix = f"dist-{request.node.name.replace('[', '-').rstrip(']')}"
        for name, data in files.items():
            upload(f"{prefix}/{name}", data)
        return S3Adapter(endpoint_url=endpoint), f"s3://{BUCKET}/{prefix}/"
    return make


class TestSeveralFiles:
    def test_a_directory_or_prefix_reads_its_data_files_in_name_order(self, several) -> None:
        adapter, url = several({"b.csv": b"x,y\n3,c\n", "a.csv": b"x,y\n1,a\n2,b\n",
                                "part/c.csv.gz": gzip.compress(b"x,y\n4,d\n"),
                                "README.md": b"# not data", "_SUCCESS": b"", ".hidden.csv": b"x\n"})
        stream = adapter.read(url)
        assert stream.read_all().to_pydict() == {"x": [1, 2, 3, 4], "y": ["a", "b", "c", "d"]}
        files = stream.provenance.files
        assert [f.url.rsplit("/", 1)[-1] for f in files] == ["a.csv", "b.csv", "c.csv.gz"]
        assert files[0].sha256 == hashlib.sha256(b"x,y\n1,a\n2,b\n").hexdigest()
        assert stream.provenance.rows == 4 and stream.provenance.sha256 is None

    def test_drifting_types_are_unified_when_every_value_fits(self, several) -> None:
        table = pa.table({"x": pa.array([3], pa.int32()), "y": ["p"]})
        sink = io.BytesIO()
        pq.write_table(table, sink)
        adapter, url = several({"a.csv": b"x,y\n1,\n", "b.csv": b"x,y\n2.5,q\n",
                                "c.parquet": sink.getvalue()})
        result = adapter.read(url).read_all()
        assert result.schema.field("x").type == pa.float64()
        assert result.schema.field("y").type == pa.string()
        # an empty CSV cell in a text column is an empty string, as pyarrow reads it
        assert result.to_pydict() == {"x": [1.0, 2.5, 3.0], "y": ["", "q", "p"]}

    def test_incompatible_types_are_refused_naming_the_column_both_types_and_files(self, several) -> None:
        from connector.adapters.errors import SchemaMismatch
        adapter, url = several({"a.csv": b"id,when\n1,2024-01-01\n", "b.csv": b"id,when\n2,soon\n"})
        with pytest.raises(SchemaMismatch, match=r"column 'when' is date32\[day\] in .*a\.csv but "
                                                 r"string in .*b\.csv") as caught:
            adapter.read(url)
        assert caught.value.extensions["column"] == "when"

    def test_a_missing_column_is_refused_naming_it(self, several) -> None:
        from connector.adapters.errors import SchemaMismatch
        adapter, url = several({"a.csv": b"id,name\n1,a\n", "b.csv": b"id\n2\n"})
        with pytest.raises(SchemaMismatch, match=r"column 'name' is in .*a\.csv but not in .*b\.csv"):
            adapter.read(url)
