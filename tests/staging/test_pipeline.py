"""stage_batches end to end on a POSIX tier: what is published, who can read it, and that no
failure (exception, hook, SIGKILL, quota) ever leaves a visible version."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import duckdb
import mlcroissant as mlc
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from connector.client import open_dataset
from connector.staging.duties import derive_project_key
from connector.staging.errors import ManifestMissing, QuotaExceeded, StagingError, VersionExists
from connector.staging.manifest import validate_manifest
from connector.staging.storage import utcnow
from tests.conftest import REPO, SCHEMAS
from tests.staging.conftest import PROVENANCE, SECRET, START, make_batch, make_batches, stage


def mlcroissant_warnings(test):
    """mlcroissant 1.1 uses rdflib and pandas APIs that now warn; none of them is ours."""
    test = pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")(test)
    return pytest.mark.filterwarnings(
        "ignore:The inplace keyword in DataFrame.reset_index:pandas.errors.Pandas4Warning")(test)


DUTIES = [{"action": "drop", "columns": ["note"]}, {"action": "pseudonymise", "columns": ["patient"]}]


def nothing_visible(tier, project="cardio", dataset="mri", version="1") -> bool:
    """No published version, nothing a reader could open, no file a directory scan would find."""
    base = Path(tier.dataset_path(project, dataset))
    with pytest.raises(ManifestMissing):
        open_dataset(tier.version_url(project, dataset, version))
    files = ds.dataset(str(base), format="parquet").files if base.exists() else []
    return not tier.is_published(project, dataset, version) and files == []


@mlcroissant_warnings
def test_a_published_version_reads_back_with_pyarrow_pandas_duckdb_and_mlcroissant(tier):
    published = stage(tier, rows=5000, duties=DUTIES)
    assert len(published.files) >= 2 and published.rows == 5000
    parts = [os.path.join(published.path, f) for f in published.files]

    dataset = open_dataset(published.url, verify=True)
    assert dataset.count_rows() == 5000
    assert pd.read_parquet(parts).shape[0] == 5000
    assert dataset.to_table().to_pandas().shape == (5000, 6)
    assert duckdb.execute("SELECT count(*) FROM read_parquet(?)", [parts]).fetchall() == [(5000,)]
    records = mlc.Dataset(os.path.join(published.path, "croissant.json")).records("records")
    assert sum(1 for _ in records) == 5000


def test_croissant_passes_mlcroissant_validate(tier):
    published = stage(tier, rows=1000)
    command = Path(sys.executable).with_name("mlcroissant")
    croissant = os.path.join(published.path, "croissant.json")
    run = subprocess.run([str(command), "validate", "--jsonld", croissant],
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    assert "error" not in run.stderr.lower()


def test_croissant_lists_every_part_with_its_checksum_and_types_each_column(tier):
    published = stage(tier, rows=3000, duties=DUTIES)
    croissant = json.loads(Path(published.path, "croissant.json").read_text())
    files = {d["contentUrl"]: d for d in croissant["distribution"] if d["@type"] == "cr:FileObject"}
    assert {f: d["sha256"] for f, d in files.items()} == \
        {f["path"]: f["sha256"] for f in published.manifest["files"]}
    file_set = next(d for d in croissant["distribution"] if d["@type"] == "cr:FileSet")
    assert file_set["includes"] == published.files
    fields = {f["name"]: f["dataType"] for f in croissant["recordSet"][0]["field"]}
    assert fields == {"id": "cr:Int64", "patient": "sc:Text", "site": "sc:Text", "lvef": "cr:Float64",
                      "measured": "sc:DateTime", "consent": "sc:Boolean"}
    assert croissant["name"] == "Cardiac MRI cohort" and croissant["citeAs"] == "Health Data Agency (2025)"
    assert croissant["conformsTo"] == "http://mlcommons.org/croissant/1.0"


@mlcroissant_warnings
def test_mlcroissant_returns_the_values_that_were_staged(tier):
    published = stage(tier, rows=10, duties=DUTIES)
    record = next(iter(mlc.Dataset(os.path.join(published.path, "croissant.json")).records("records")))
    key = derive_project_key(SECRET, "cardio")
    assert record["records/id"] == 0
    assert record["records/patient"].decode() == hmac.new(key, b"P0000", hashlib.sha256).hexdigest()
    assert record["records/measured"] == pd.Timestamp(START)


def test_the_manifest_lists_files_schema_provenance_agreement_and_duties(tier):
    expires = utcnow() + timedelta(days=30)
    published = stage(tier, rows=2000, duties=DUTIES, expires=expires, job="job-17", dataset_id="urn:x:mri")
    manifest = json.loads(Path(published.path, "_manifest.json").read_text())
    validate_manifest(manifest)
    SCHEMAS.validate("manifest", manifest)
    assert manifest == published.manifest
    assert (manifest["project"], manifest["agreement"], manifest["policy"]) == ("cardio", "agr-1", "pol-1")
    assert manifest["dataset"] == {"id": "urn:x:mri", "name": "mri", "version": "1"}
    assert manifest["provenance"] == PROVENANCE and manifest["job"] == "job-17"
    assert manifest["created"].endswith("Z") and manifest["expires"] == expires.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert [d["action"] for d in manifest["duties"]] == ["drop", "pseudonymise"]
    assert [f["name"] for f in manifest["schema"]["fields"]] == ["id", "patient", "site", "lvef", "measured",
                                                                 "consent"]
    for entry in manifest["files"]:
        data = Path(published.path, entry["path"]).read_bytes()
        assert entry["bytes"] == len(data) and entry["sha256"] == hashlib.sha256(data).hexdigest()
    assert manifest["rows"] == sum(f["rows"] for f in manifest["files"]) == 2000


def test_duties_are_applied_to_the_published_data(tier):
    published = stage(tier, rows=600, duties=DUTIES)
    table = open_dataset(published.url).to_table()
    assert "note" not in table.column_names
    key = derive_project_key(SECRET, "cardio")
    expected = [hmac.new(key, v.encode(), hashlib.sha256).hexdigest()
                for v in pa.concat_arrays([b.column("patient") for b in make_batches(600)]).to_pylist()]
    assert table.column("patient").to_pylist() == expected


def test_an_exception_mid_stream_leaves_no_version_and_no_temporary_prefix(tier):
    def failing():
        yield from make_batches(3000)
        raise ConnectionError("source reset")

    with pytest.raises(ConnectionError):
        stage(tier, batches=failing())
    assert nothing_visible(tier)
    assert os.listdir(tier.dataset_path("cardio", "mri")) == []


def test_a_failure_just_before_publishing_leaves_nothing_visible(tier):
    seen = []

    def crash(pending):
        seen.append(sorted(os.listdir(pending.path)))
        raise RuntimeError("worker lost its lease")

    with pytest.raises(RuntimeError, match="lease"):
        stage(tier, rows=3000, before_publish=crash)
    assert seen and seen[0][0] == "part-00000.parquet"
    assert nothing_visible(tier)
    assert os.listdir(tier.dataset_path("cardio", "mri")) == []


def test_a_process_killed_before_publishing_leaves_no_version_and_gc_removes_its_leftovers(tier):
    child = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(REPO)!r})
        from connector.staging.storage import StorageTier
        from tests.staging.conftest import stage
        tier = StorageTier.from_url({tier.url!r})
        stage(tier, rows=3000, before_publish=lambda pending: os.kill(os.getpid(), signal.SIGKILL))
    """)
    run = subprocess.run([sys.executable, "-c", child], capture_output=True, timeout=120, check=False)
    assert run.returncode == -signal.SIGKILL, run.stderr.decode()
    leftovers = os.listdir(tier.dataset_path("cardio", "mri"))
    assert len(leftovers) == 1 and leftovers[0].startswith(".tmp-1-")
    assert nothing_visible(tier)
    removed = tier.collect_garbage(older_than=timedelta(hours=1), now=utcnow() + timedelta(hours=2))
    assert [os.path.basename(p) for p in removed] == leftovers
    assert os.listdir(tier.dataset_path("cardio", "mri")) == []
    assert stage(tier, rows=100).rows == 100  # the job can simply run again


def test_exceeding_the_quota_mid_way_fails_and_removes_the_temporary_parts(tier):
    with pytest.raises(QuotaExceeded, match="quota"):
        stage(tier, rows=10_000, max_bytes=30_000)
    assert nothing_visible(tier)
    assert tier.usage("cardio") == 0


def test_progress_is_reported_while_staging(tier):
    seen = []
    stage(tier, rows=3000, on_progress=seen.append)
    assert [s.rows for s in seen] == [1000, 2000, 3000]


def test_an_expired_agreement_stages_nothing(tier):
    with pytest.raises(StagingError, match="expired"):
        stage(tier, rows=100, expires=utcnow() - timedelta(seconds=1))
    assert not os.path.exists(tier.dataset_path("cardio", "mri"))


def test_provenance_is_read_after_the_last_batch(tier):
    sources = []

    def reading():
        yield from make_batches(1000)
        sources.append({"url": "https://x.example/a.csv", "bytes": 10, "sha256": "a" * 64})

    published = stage(tier, batches=reading(), provenance=sources)
    assert published.manifest["provenance"] == [{"url": "https://x.example/a.csv", "bytes": 10,
                                                 "sha256": "a" * 64, "finalUrl": "https://x.example/a.csv"}]
    assert stage(tier, version="2", rows=10, provenance=lambda: sources).manifest["provenance"] == \
        published.manifest["provenance"]


def test_staging_a_published_version_again_is_refused_and_changes_nothing(tier):
    first = stage(tier, rows=100)
    with pytest.raises(VersionExists):
        stage(tier, rows=200)
    assert open_dataset(first.url).count_rows() == 100


def test_a_schema_given_up_front_fixes_the_input_types(tier):
    schema = make_batch(0, 1).schema
    published = stage(tier, batches=iter([]), schema=schema, duties=DUTIES)
    assert published.rows == 0 and len(published.files) == 1
    assert open_dataset(published.url).schema.names == ["id", "patient", "site", "lvef", "measured",
                                                        "consent"]
