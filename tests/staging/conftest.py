"""Staging fixtures: a local tier on ``tmp_path``, a loopback S3 server (moto in server mode, a
real HTTP endpoint that s3fs talks to) with a fresh bucket per test, and small generated data."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest

from connector.staging.pipeline import PublishedVersion, stage_batches
from connector.staging.storage import StorageTier

SECRET = "test-service-secret-0123456789abcdef"
PROVENANCE = [{"url": "https://data.example.eu/cohort.csv", "bytes": 123456,
               "sha256": "9f" * 32, "finalUrl": "https://cdn.example.eu/cohort.csv"}]
METADATA = {"name": "Cardiac MRI cohort", "description": "Pseudonymised cardiac MRI measurements.",
            "license": "https://creativecommons.org/licenses/by/4.0/",
            "url": "https://health.example.eu/cardiac-mri", "citation": "Health Data Agency (2025)",
            "creator": "Health Data Agency", "keywords": ["cardiology", "MRI"]}
SMALL_PARTS = {"row_group_rows": 1000, "max_part_bytes": 6_000}
START = datetime(2025, 1, 1, tzinfo=UTC)


def make_batch(start: int, rows: int) -> pa.RecordBatch:
    """Rows ``start .. start+rows-1``: ints, text (repeating), floats with nulls, timestamps, bools."""
    ids = range(start, start + rows)
    return pa.record_batch({
        "id": pa.array(ids, pa.int64()),
        "patient": pa.array([f"P{(i * 7919) % 500:04d}" for i in ids]),
        "site": pa.array([("Berlin", "Lyon", "Turin")[i % 3] for i in ids]),
        "lvef": pa.array([None if i % 10 == 0 else 40 + (i % 300) / 10 for i in ids], pa.float64()),
        "measured": pa.array([START + timedelta(minutes=i) for i in ids], pa.timestamp("us", tz="UTC")),
        "consent": pa.array([i % 4 != 0 for i in ids]),
        "note": pa.array([None if i % 3 else f"note {i}, \"quoted\"" for i in ids]),
    })


def make_batches(rows: int, batch_rows: int = 500) -> Iterator[pa.RecordBatch]:
    for start in range(0, rows, batch_rows):
        yield make_batch(start, min(batch_rows, rows - start))


def peak_arrow_memory(tmp_path, batches: int, **writer_options: Any) -> int:
    """Peak Arrow allocation while ``write_parts`` writes ``batches`` batches of 1,000 rows in
    row groups of 5,000 (``writer_options`` go to it as well)."""
    from connector.staging.writer import write_parts

    peak = 0

    def source() -> Iterator[pa.RecordBatch]:
        nonlocal peak
        for i in range(batches):
            peak = max(peak, pa.total_allocated_bytes())
            yield make_batch(i * 1000, 1000)

    out = tmp_path / f"peak-{batches}"
    out.mkdir()
    write_parts(source(), str(out), row_group_rows=5000, **writer_options)
    return peak


def stage(tier: StorageTier, rows: int = 5000, **overrides: Any) -> PublishedVersion:
    """Stage ``rows`` generated rows with test defaults; keyword arguments override them."""
    options: dict[str, Any] = dict(project="cardio", dataset="mri", version="1", agreement="agr-1",
                                   policy="pol-1", provenance=PROVENANCE, metadata=METADATA,
                                   secret=SECRET, writer_options=SMALL_PARTS)
    options.update(overrides)
    batches = options.pop("batches", None)
    return stage_batches(batches if batches is not None else make_batches(rows), tier=tier, **options)


@pytest.fixture
def tier(tmp_path) -> StorageTier:
    return StorageTier.from_url((tmp_path / "tier").as_uri())


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3 HTTP endpoint on loopback (moto's server mode, as s3fs's own tests use)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_options(s3_endpoint: str) -> dict[str, Any]:
    return {"endpoint_url": s3_endpoint, "key": "testing", "secret": "testing"}


@pytest.fixture
def s3_tier(s3_options: dict[str, Any]) -> StorageTier:
    import s3fs

    bucket = "staging-" + uuid.uuid4().hex[:12]
    s3fs.S3FileSystem(skip_instance_cache=True, **s3_options).mkdir(bucket)
    return StorageTier.from_url(f"s3://{bucket}/tier", **s3_options)
