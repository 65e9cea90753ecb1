"""Storage tiers on a POSIX path: layout, temporary prefixes, rename publish, removal, GC, usage."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import pytest
from fsspec.implementations.local import LocalFileSystem

from connector.staging.errors import PublishError, VersionExists
from connector.staging.storage import StorageTier, utcnow
from connector.staging.writer import write_parts
from tests.staging.conftest import make_batches, stage


def write_pending(tier, version="1", rows=1000, **begin):
    pending = tier.begin("cardio", "mri", version, **begin)
    result = write_parts(make_batches(rows), pending.path, filesystem=tier.fs)
    return pending, [p.name for p in result.parts]


def publish(pending, files, manifest=b'{"m": 1}'):
    return pending.publish(manifest=manifest, croissant=b"{}", files=files)


def test_a_tier_comes_from_a_file_url_or_a_plain_path(tmp_path):
    by_url = StorageTier.from_url((tmp_path / "a").as_uri())
    by_path = StorageTier.from_url(str(tmp_path / "b"))
    assert by_url.posix and by_url.root == str(tmp_path / "a") and (tmp_path / "a").is_dir()
    assert by_path.root == str(tmp_path / "b") and by_url.fsync
    assert by_url.version_url("p", "d", "1") == (tmp_path / "a" / "p" / "d" / "1").as_uri()


@pytest.mark.parametrize("name", ["..", "../x", "a/b", ".hidden", "_manifest", "", "a" * 129, "a..b"])
def test_names_that_could_leave_or_hide_in_the_layout_are_refused(tier, name):
    with pytest.raises(ValueError, match="invalid"):
        tier.version_path("cardio", "mri", name)
    with pytest.raises(ValueError, match="invalid"):
        tier.version_path(name, "mri", "1")


def test_parts_are_written_under_a_hidden_temporary_sibling_of_the_version(tier):
    pending, _ = write_pending(tier)
    assert os.path.dirname(pending.path) == os.path.dirname(pending.final)
    assert os.path.basename(pending.path).startswith(".tmp-1-")
    assert not os.path.exists(pending.final) and not tier.is_published("cardio", "mri", "1")


def test_publish_renames_the_temporary_directory_onto_the_version(tier):
    pending, files = write_pending(tier)
    path = publish(pending, files)
    assert path == tier.version_path("cardio", "mri", "1")
    assert sorted(os.listdir(path)) == sorted([*files, "_manifest.json", "croissant.json"])
    assert not os.path.exists(pending.path)
    assert tier.is_published("cardio", "mri", "1") and tier.list_versions("cardio", "mri") == ["1"]


def test_a_second_publisher_of_the_same_version_is_refused_and_the_first_stays(tier):
    first, first_files = write_pending(tier)
    second, second_files = write_pending(tier)
    publish(first, first_files, manifest=b'{"first": true}')
    with pytest.raises(VersionExists):
        publish(second, second_files, manifest=b'{"second": true}')
    assert json.loads(Path(first.final, "_manifest.json").read_bytes()) == {"first": True}
    second.abort()
    assert not os.path.exists(second.path)


def test_publish_never_replaces_an_existing_version_directory_even_an_empty_one(tier):
    pending, files = write_pending(tier)
    os.makedirs(pending.final)
    with pytest.raises(VersionExists):
        publish(pending, files)
    assert os.listdir(pending.final) == []


def test_starting_a_published_version_again_is_refused(tier):
    stage(tier, rows=100)
    with pytest.raises(VersionExists):
        tier.begin("cardio", "mri", "1")


def test_publish_refuses_a_temporary_directory_with_unlisted_or_missing_files(tier):
    pending, files = write_pending(tier)
    with pytest.raises(PublishError, match="missing"):
        publish(pending, [*files, "part-00099.parquet"])
    Path(pending.path, "stray.txt").touch()
    with pytest.raises(PublishError, match="stray.txt"):
        publish(pending, files)
    assert not tier.is_published("cardio", "mri", "1")


def test_abort_removes_the_temporary_prefix(tier):
    pending, _ = write_pending(tier)
    pending.abort()
    assert not os.path.exists(pending.path)
    assert os.listdir(os.path.dirname(pending.path)) == []


class RecordingFileSystem(LocalFileSystem):
    """The local file system, recording the paths it deletes, in order."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.deleted = []

    def rm_file(self, path):
        self.deleted.append(path)
        return super().rm_file(path)

    def rm(self, path, recursive=False, maxdepth=None):
        self.deleted.append(path)
        return super().rm(path, recursive=recursive, maxdepth=maxdepth)


def test_remove_version_deletes_the_manifest_first_then_everything(tmp_path):
    tier = StorageTier(RecordingFileSystem(skip_instance_cache=True), str(tmp_path))
    published = stage(tier, rows=2000)
    on_disk = sum(entry.stat().st_size for entry in os.scandir(published.path))
    removed = tier.remove_version("cardio", "mri", "1")
    assert tier.fs.deleted[0] == os.path.join(published.path, "_manifest.json")
    assert tier.fs.deleted[1] == published.path
    assert removed == on_disk > published.bytes
    assert not os.path.exists(published.path) and tier.list_versions("cardio", "mri") == []
    assert tier.remove_version("cardio", "mri", "1") == 0


def test_garbage_collection_removes_stale_temporary_prefixes_only(tier):
    now = utcnow()
    stale, _ = write_pending(tier, version="1", now=now - timedelta(hours=30))
    fresh, _ = write_pending(tier, version="2", now=now - timedelta(hours=1))
    stage(tier, rows=100, version="3")
    removed = tier.collect_garbage(older_than=timedelta(hours=24), now=now)
    assert removed == [stale.path]
    assert not os.path.exists(stale.path) and os.path.exists(fresh.path)
    assert tier.list_versions("cardio", "mri") == ["3"]


def test_garbage_collection_removes_old_version_directories_left_without_a_manifest(tier):
    leftover = tier.version_path("cardio", "mri", "7")
    os.makedirs(leftover)
    part = os.path.join(leftover, "part-00000.parquet")
    Path(part).write_bytes(b"PAR1")
    old = (utcnow() - timedelta(days=3)).timestamp()
    os.utime(part, (old, old))
    recent = tier.version_path("cardio", "mri", "8")
    os.makedirs(recent)
    Path(recent, "part-00000.parquet").write_bytes(b"PAR1")
    assert tier.collect_garbage(older_than=timedelta(hours=24)) == [leftover]
    assert os.path.exists(recent)


def test_usage_counts_published_bytes_of_one_project_and_never_temporary_ones(tier):
    assert tier.usage("cardio") == 0
    published = stage(tier, rows=2000)
    after_publish = tier.usage("cardio")
    assert after_publish >= published.bytes
    pending, _ = write_pending(tier, version="2")
    assert tier.usage("cardio") == after_publish
    stage(tier, rows=100, project="radar")
    pending.abort()
    assert tier.usage("cardio") == after_publish
