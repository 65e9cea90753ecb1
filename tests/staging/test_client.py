"""The training job's side: open_dataset, verify and iter_batches on a POSIX tier."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from fsspec.implementations.local import LocalFileSystem

from connector.client import iter_batches, open_dataset, read_manifest, verify
from connector.staging.errors import IntegrityError, ManifestExpired, ManifestInvalid, ManifestMissing
from connector.staging.storage import utcnow
from connector.staging.writer import write_parts
from tests.staging.conftest import make_batches, stage


def rewrite_manifest(path: str, change) -> None:
    manifest_path = Path(path, "_manifest.json")
    manifest = json.loads(manifest_path.read_text())
    change(manifest)
    manifest_path.write_text(json.dumps(manifest))


def test_a_directory_without_a_manifest_is_refused(tier, tmp_path):
    pending = tier.begin("cardio", "mri", "1")
    write_parts(make_batches(100), pending.path)
    for unpublished in (pending.path, tier.version_path("cardio", "mri", "1"), str(tmp_path)):
        with pytest.raises(ManifestMissing, match="not published"):
            open_dataset(unpublished)


def test_the_dataset_covers_exactly_the_files_the_manifest_lists(tier):
    published = stage(tier, rows=3000)
    stray = Path(published.path, "part-09999.parquet")
    pq.write_table(pa.Table.from_batches([next(make_batches(10))]), stray)
    dataset = open_dataset(published.path)
    assert [os.path.basename(f) for f in dataset.files] == published.files
    assert dataset.count_rows() == 3000


def test_the_schema_comes_from_the_manifest(tier):
    published = stage(tier, rows=10)
    assert open_dataset(published.path).schema == pq.read_schema(Path(published.path, published.files[0]))


def test_pre_buffer_is_off_for_local_paths(tier):
    published = stage(tier, rows=10)
    options = open_dataset(published.path).format.default_fragment_scan_options
    assert options.pre_buffer is False


@pytest.mark.parametrize("how", ["url", "path", "fsspec", "pyarrow"])
def test_a_version_opens_by_url_path_or_file_system(tier, how):
    published = stage(tier, rows=1200)
    target, filesystem = {
        "url": (published.url, None),
        "path": (published.path, None),
        "fsspec": (published.path, LocalFileSystem()),
        "pyarrow": (published.path, pafs.LocalFileSystem()),
    }[how]
    assert open_dataset(target, filesystem=filesystem, verify=True).count_rows() == 1200


def test_verify_finds_a_corrupted_file_of_the_same_size_and_names_it(tier):
    published = stage(tier, rows=3000)
    victim = Path(published.path, published.files[1])
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    assert open_dataset(published.path).count_rows() == 3000  # sizes agree; only checksums tell
    with pytest.raises(IntegrityError, match=f"{published.files[1]}: sha256") as caught:
        verify(published.path)
    assert len(caught.value.problems) == 1
    with pytest.raises(IntegrityError):
        open_dataset(published.path, verify=True)


def test_a_truncated_or_missing_file_is_found_without_checksums(tier):
    published = stage(tier, rows=3000)
    first, second = (Path(published.path, f) for f in published.files[:2])
    first.write_bytes(first.read_bytes()[:-10])
    second.unlink()
    with pytest.raises(IntegrityError) as caught:
        open_dataset(published.path)
    assert caught.value.problems == [f"{first.name}: {first.stat().st_size} bytes, manifest says "
                                     f"{first.stat().st_size + 10}", f"{second.name}: missing"]


def test_an_expired_version_is_refused_unless_asked_for_explicitly(tier):
    published = stage(tier, rows=10, expires=utcnow() + timedelta(hours=1))
    rewrite_manifest(published.path, lambda m: m.update(expires="2020-01-01T00:00:00Z"))
    with pytest.raises(ManifestExpired, match="2020-01-01T00:00:00Z"):
        open_dataset(published.path)
    assert open_dataset(published.path, allow_expired=True).count_rows() == 10
    later = utcnow() + timedelta(days=1)
    rewrite_manifest(published.path, lambda m: m.update(expires=later.strftime("%Y-%m-%dT%H:%M:%SZ")))
    assert read_manifest(published.path)["rows"] == 10
    with pytest.raises(ManifestExpired):
        read_manifest(published.path, now=later + timedelta(seconds=1))


@pytest.mark.parametrize("change, message", [
    (lambda m: m["files"][0].update(path="../../../etc/passwd"), "not a unique part-NNNNN.parquet"),
    (lambda m: m["files"].append(dict(m["files"][0])), "not a unique"),
    (lambda m: m["files"][0].update(sha256="XYZ"), "sha256"),
    (lambda m: m["files"][0].update(bytes=-1), "non-negative"),
    (lambda m: m.update(files=[]), "non-empty"),
    (lambda m: m.update(manifestVersion=99), "manifestVersion"),
    (lambda m: m["schema"].update(arrow="not base64!"), "schema.arrow"),
])
def test_a_manifest_a_reader_cannot_trust_is_refused(tier, change, message):
    published = stage(tier, rows=10)
    rewrite_manifest(published.path, change)
    with pytest.raises(ManifestInvalid, match=message):
        open_dataset(published.path)


def test_a_manifest_that_is_not_json_is_refused(tier):
    published = stage(tier, rows=10)
    Path(published.path, "_manifest.json").write_text("{ nope")
    with pytest.raises(ManifestInvalid, match="not JSON"):
        open_dataset(published.path)


def test_iter_batches_yields_every_row_in_bounded_batches(tier):
    published = stage(tier, rows=2500)
    batches = list(iter_batches(published.path, columns=["id", "lvef"], batch_size=400))
    assert sum(b.num_rows for b in batches) == 2500
    assert max(b.num_rows for b in batches) <= 400
    assert batches[0].schema.names == ["id", "lvef"]
    assert sorted(i for b in batches for i in b.column("id").to_pylist()) == list(range(2500))
