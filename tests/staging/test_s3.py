"""Staging on an S3 tier, against a real S3 HTTP server on loopback (moto's server mode)."""

from __future__ import annotations

import json
import posixpath
from datetime import timedelta

import duckdb
import pandas as pd
import pytest

from connector.client import open_dataset, verify
from connector.staging.errors import IntegrityError, ManifestMissing, VersionExists
from connector.staging.storage import MANIFEST, PUBLISHING, STAMP, utcnow
from connector.staging.writer import write_parts
from tests.staging.conftest import make_batches, stage


def objects(tier, prefix=""):
    tier.fs.invalidate_cache()
    root = posixpath.join(tier.root, prefix) if prefix else tier.root
    return sorted(posixpath.relpath(p, tier.root) for p in tier.fs.find(root))


def write_pending(tier, version="1", rows=2000, **begin):
    pending = tier.begin("cardio", "mri", version, **begin)
    result = write_parts(make_batches(rows), pending.path, filesystem=tier.fs, row_group_rows=1000,
                         max_part_bytes=6_000)
    return pending, [p.name for p in result.parts]


def test_a_version_staged_on_s3_reads_back_with_pyarrow_pandas_and_duckdb(s3_tier):
    published = stage(s3_tier, rows=4000, duties=[{"action": "drop", "columns": ["note"]}])
    assert published.url.startswith("s3://") and len(published.files) >= 2
    assert objects(s3_tier) == sorted(f"cardio/mri/1/{name}"
                                      for name in [*published.files, MANIFEST, "croissant.json"])
    dataset = open_dataset(published.url, filesystem=s3_tier.fs, verify=True)
    assert dataset.count_rows() == 4000
    assert dataset.format.default_fragment_scan_options.pre_buffer is True
    parts = [posixpath.join(published.path, f) for f in published.files]
    assert pd.read_parquet(parts, filesystem=s3_tier.fs).shape == (4000, 6)
    assert duckdb.sql("SELECT count(*) FROM dataset").fetchall() == [(4000,)]


def test_parts_wait_under_a_hidden_temporary_prefix_until_the_manifest_is_written(s3_tier):
    seen = {}

    def look(pending):
        seen["before"] = objects(s3_tier)

    published = stage(s3_tier, rows=2000, before_publish=look)
    assert seen["before"] and all(p.startswith("cardio/mri/.tmp-1-") for p in seen["before"])
    assert not any(".tmp-" in p for p in objects(s3_tier))
    assert s3_tier.list_versions("cardio", "mri") == ["1"] and published.rows == 2000


def test_an_exception_mid_stream_leaves_no_object_behind(s3_tier):
    def failing():
        yield from make_batches(3000)
        raise TimeoutError("source stalled")

    with pytest.raises(TimeoutError):
        stage(s3_tier, batches=failing())
    assert objects(s3_tier) == []
    with pytest.raises(ManifestMissing):
        open_dataset(s3_tier.version_url("cardio", "mri", "1"), filesystem=s3_tier.fs)


def test_a_publish_failing_half_way_leaves_no_manifest_and_abort_removes_the_copies(s3_tier):
    pending, files = write_pending(s3_tier)
    with pytest.raises(FileNotFoundError):
        pending.publish(manifest=b"{}", croissant=b"{}", files=[*files, "part-00099.parquet"])
    assert not s3_tier.is_published("cardio", "mri", "1")
    pending.abort()
    assert objects(s3_tier) == []


def test_a_second_publisher_of_the_same_version_is_refused_and_the_first_stays(s3_tier):
    first, first_files = write_pending(s3_tier)
    second, second_files = write_pending(s3_tier)
    first.publish(manifest=b'{"first": true}', croissant=b"{}", files=first_files)
    with pytest.raises(VersionExists):
        second.publish(manifest=b'{"second": true}', croissant=b"{}", files=second_files)
    second.abort()
    manifest = posixpath.join(first.final, MANIFEST)
    assert json.loads(s3_tier.fs.cat_file(manifest)) == {"first": True}
    assert not any(".tmp-" in p for p in objects(s3_tier))


def test_a_published_version_is_refused_before_anything_is_copied(s3_tier):
    pending, files = write_pending(s3_tier)
    s3_tier.fs.pipe_file(posixpath.join(pending.final, MANIFEST), b'{"first": true}')
    with pytest.raises(VersionExists):
        pending.publish(manifest=b"{}", croissant=b"{}", files=files)
    assert objects(s3_tier, "cardio/mri/1") == [f"cardio/mri/1/{MANIFEST}"]


def test_the_server_enforces_create_only_manifest_writes(s3_tier, monkeypatch):
    pending, files = write_pending(s3_tier)
    manifest = posixpath.join(pending.final, MANIFEST)
    s3_tier.fs.pipe_file(manifest, b'{"racer": true}')
    # A view that misses the racer (it published between our checks): only If-None-Match saves us.
    monkeypatch.setattr(s3_tier.fs, "exists", lambda path, **kwargs: False)
    with pytest.raises(VersionExists):
        pending.publish(manifest=b'{"late": true}', croissant=b"{}", files=files)
    assert json.loads(s3_tier.fs.cat_file(manifest)) == {"racer": True}


def test_a_live_publish_marker_blocks_another_publisher_until_its_lease_runs_out(s3_tier):
    pending, files = write_pending(s3_tier)
    marker = posixpath.join(pending.final, PUBLISHING)
    fresh = json.dumps({"token": "0" * 16, "created": utcnow().strftime(STAMP)}).encode()
    s3_tier.fs.pipe_file(marker, fresh)
    with pytest.raises(VersionExists, match="being published"):
        pending.publish(manifest=b"{}", croissant=b"{}", files=files)
    stale = json.dumps({"token": "0" * 16, "created": (utcnow() - timedelta(hours=2)).strftime(STAMP)})
    s3_tier.fs.pipe_file(marker, stale.encode())
    s3_tier.fs.pipe_file(posixpath.join(pending.final, "part-00042.parquet"), b"debris of a crashed publish")
    pending.publish(manifest=b'{"ok": 1}', croissant=b"{}", files=files)
    assert objects(s3_tier) == sorted(f"cardio/mri/1/{n}" for n in [*files, MANIFEST, "croissant.json"])


def test_remove_version_on_s3_deletes_everything_and_readers_refuse_it(s3_tier):
    published = stage(s3_tier, rows=2000)
    assert s3_tier.usage("cardio") > published.bytes
    assert s3_tier.remove_version("cardio", "mri", "1") > published.bytes
    assert objects(s3_tier) == [] and s3_tier.usage("cardio") == 0
    with pytest.raises(ManifestMissing):
        open_dataset(published.url, filesystem=s3_tier.fs)


def test_verify_on_s3_finds_a_replaced_object(s3_tier):
    published = stage(s3_tier, rows=2000)
    victim = posixpath.join(published.path, published.files[0])
    data = bytearray(s3_tier.fs.cat_file(victim))
    data[100] ^= 0x01
    s3_tier.fs.pipe_file(victim, bytes(data))
    with pytest.raises(IntegrityError, match=published.files[0]):
        verify(published.url, filesystem=s3_tier.fs)


def test_garbage_collection_on_s3_removes_stale_temporary_prefixes_and_unfinished_versions(s3_tier):
    now = utcnow()
    stale, _ = write_pending(s3_tier, version="1", now=now - timedelta(hours=30))
    fresh, _ = write_pending(s3_tier, version="2", now=now)
    s3_tier.fs.pipe_file(posixpath.join(s3_tier.version_path("cardio", "mri", "3"), "part-00000.parquet"),
                         b"left by a crashed publish")
    stage(s3_tier, rows=100, version="4")
    removed = s3_tier.collect_garbage(older_than=timedelta(hours=24), now=now)
    assert removed == [stale.path]
    removed = s3_tier.collect_garbage(older_than=timedelta(hours=1), now=now + timedelta(hours=2))
    assert sorted(removed) == sorted([fresh.path, s3_tier.version_path("cardio", "mri", "3")])
    assert s3_tier.list_versions("cardio", "mri") == ["4"]
    assert {p.split("/")[2] for p in objects(s3_tier)} == {"4"}
