"""From an agreement to published Parquet and back: jobs, progress, failures, expiry."""

from __future__ import annotations

import contextlib
import datetime as dt
import http.server
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from connector import client as training
from connector.app import create_app
from connector.audit import AuditEvent
from connector.db import utcnow
from connector.staging import expiry, runner
from connector.staging.models import StagingJob
from connector.worker import Worker
from tests.conftest import SCHEMAS, dataset_body
from tests.factories import Factories

ROWS = 2500


def write_csv(path: Path, rows: int = ROWS) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["patient_id,age,lvef,note"]
    lines += [f"P{i:05d},{20 + i % 60},{40 + (i % 30) / 2},\"line one\nline two, {i}\""
              for i in range(rows)]
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def app(clean_database, tmp_path):
    application = create_app({
        "DATABASE_URL": clean_database, "HOME": str(tmp_path / "home"), "AUTO_MIGRATE": False,
        "TESTING": True, "SOURCE_ALLOWLIST": ["127.0.0.1"], "JOB_BACKOFF_SECONDS": 0.01,
        "JOB_MAX_ATTEMPTS": 2, "PSEUDONYMISATION_SECRET": "s" * 32})
    yield application
    application.extensions["connector"].engine.dispose()


@pytest.fixture
def worker(app):
    ext = app.extensions["connector"]
    return Worker(ext.session_factory, ext.staging, poll_seconds=0.01)


def agreement_for(client, actors, url: str) -> dict:
    """An agreement on a dataset at ``url``, as ``{"id": ...}``: kept for
    tests/e2e/test_worker_crash.py until it uses the ``make`` fixture."""
    return {"id": Factories(client.application).agreement(source=url).id}


@pytest.fixture
def source(app) -> Path:
    path = Path(app.config["SOURCE_ROOTS"][0]) / "health" / "cardiac" / "measurements.csv"
    write_csv(path)
    return path


def stage(client, actors, agreement, who="member"):
    return client.post("/api/v1/stagings", json={"agreement": agreement.id},
                       headers=actors.headers(who))


def shown(client, actors, job_id: str) -> dict:
    """The job as its project's member sees it over HTTP."""
    return client.get(f"/api/v1/stagings/{job_id}", headers=actors.headers("member")).get_json()


def test_agreement_to_published_parquet_read_by_pyarrow_duckdb_and_the_client(
        client, actors, make, source, worker):
    agreement = make.agreement(source=source.as_uri())
    first = stage(client, actors, agreement)
    assert first.status_code == 202
    SCHEMAS.validate("staging-job", first.get_json())
    again = stage(client, actors, agreement)
    assert again.status_code == 200 and again.get_json()["id"] == first.get_json()["id"]

    assert worker.tick() == 1
    job = client.get(first.headers["Location"], headers=actors.headers("member")).get_json()
    SCHEMAS.validate("staging-job", job)
    assert job["state"] == "published", job["error"]
    assert job["rows"] == ROWS and job["progress"]["rows"] == ROWS and job["progress"]["bytes"] > 0

    location = job["location"]
    dataset = training.open_dataset(location, verify=True)
    table = dataset.to_table()
    assert table.num_rows == ROWS
    assert table.column("note")[0].as_py() == "line one\nline two, 0"
    pseudonyms = table.column("patient_id").to_pylist()
    assert "P00000" not in pseudonyms and len(set(pseudonyms)) == ROWS
    path = location.removeprefix("file://")
    assert pq.read_table(sorted(Path(path).glob("part-*.parquet"))[0]).num_rows > 0
    count = duckdb.execute("SELECT count(*) FROM read_parquet(?)",
                           [f"{path}/part-*.parquet"]).fetchall()[0][0]
    assert count == ROWS
    manifest = training.read_manifest(location)
    assert manifest["agreement"] == agreement.id
    assert manifest["provenance"][0]["sha256"]
    assert (Path(path) / "croissant.json").exists()


def test_revoked_agreement_removes_the_staged_data_with_an_audit_event(
        client, actors, make, source, worker, uow):
    agreement = make.agreement(source=source.as_uri())
    job = make.published_staging(agreement.id)
    client.post(f"/api/v1/agreements/{agreement.id}/revoke", json={"comment": "permit void"},
                headers=actors.headers("steward"))
    worker.tick()
    after = shown(client, actors, job.id)
    assert after["state"] == "removed" and after["removed"]
    assert not Path(job.location.removeprefix("file://")).exists()
    with uow:
        actions = [e.action for e in uow.session.scalars(
            select(AuditEvent).where(AuditEvent.object_id == job.id).order_by(AuditEvent.id))]
    assert actions == ["staging.request", "staging.publish", "staging.remove"]
    assert stage(client, actors, agreement).status_code == 422


def test_expired_agreement_removes_the_staged_data(client, actors, make, source, uow):
    job = make.published_staging(source=source.as_uri())
    removed = expiry.remove_ended(uow, make.staging, now=utcnow() + dt.timedelta(days=31))
    assert [j.id for j in removed] == [job.id]
    assert shown(client, actors, job.id)["state"] == "removed"


def test_missing_source_fails_at_once_without_retry(client, actors, make, app, worker):
    missing = Path(app.config["SOURCE_ROOTS"][0]) / "health" / "nowhere.csv"
    agreement = make.agreement(source=missing.as_uri())
    job = make.staging_job(agreement.id)
    worker.tick()
    failed = shown(client, actors, job.id)
    assert failed["state"] == "failed" and failed["attempts"] == 1
    assert failed["error"]["transient"] is False
    again = stage(client, actors, agreement)
    assert again.status_code == 202 and again.get_json()["state"] == "queued"


def test_source_outside_the_allowed_roots_is_refused_at_registration(client, actors, tmp_path):
    outside = tmp_path / "elsewhere.csv"
    write_csv(outside, 3)
    refused = client.post("/api/v1/datasets", json=dataset_body(
        distribution=[{"accessURL": outside.as_uri(), "format": "CSV"}]), headers=actors.headers("steward"))
    assert refused.status_code == 422 and "root" in refused.get_json()["detail"]


@contextlib.contextmanager
def serving(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """A loopback HTTP server with ``handler``, for the duration of the block; yields its base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


class _Unavailable(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        self.send_response(503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_transient_source_failure_is_retried_with_back_off_then_fails(client, actors, make, worker):
    with serving(_Unavailable) as base:
        job = make.staging_job(source=f"{base}/data.csv")
        worker.tick()
        first = shown(client, actors, job.id)
        assert first["state"] in ("queued", "failed")
        assert first["error"]["transient"] is True
        deadline = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=10)
        while first["state"] == "queued" and dt.datetime.now(dt.UTC) < deadline:
            worker.tick()
            first = shown(client, actors, job.id)
        assert first["state"] == "failed" and first["attempts"] == 2


def test_a_lapsed_lease_lets_another_worker_take_the_job(make, source, uow):
    job = make.staging_job(source=source.as_uri())
    settings, now = make.staging, utcnow()
    assert runner.claim_job(uow, "dead-worker", settings, now=now) == job.id
    assert runner.claim_job(uow, "other", settings, now=now) is None
    later = now + dt.timedelta(seconds=settings.lease_seconds + 1)
    assert runner.claim_job(uow, "other", settings, now=later) == job.id
    done = runner.run_job(uow, job.id, "other", settings, clock=utcnow)
    assert done.state == "published" and done.attempts == 2


def test_quota_exceeded_fails_and_publishes_nothing(client, actors, make, source, app, worker):
    make.quota("cardio", 1000)
    job = make.staging_job(source=source.as_uri())
    worker.tick()
    failed = shown(client, actors, job.id)
    assert failed["state"] == "failed" and failed["error"]["code"] == "quota-exceeded"
    tier = Path(app.config["HOME"]) / "storage" / "cardio"
    assert not any(tier.rglob("_manifest.json"))


def test_cancelled_job_is_not_run(client, actors, make, source, worker):
    job = make.staging_job(source=source.as_uri())
    cancelled = client.post(f"/api/v1/stagings/{job.id}/cancel", headers=actors.headers("member"))
    assert cancelled.get_json()["state"] == "cancelled"
    assert worker.tick() == 0
    assert client.post(f"/api/v1/stagings/{job.id}/cancel",
                       headers=actors.headers("member")).status_code == 409


def test_other_projects_do_not_see_the_job(client, actors, make, source):
    agreement = make.agreement(source=source.as_uri())
    job = make.staging_job(agreement.id)
    assert client.get(f"/api/v1/stagings/{job.id}",
                      headers=actors.headers("outsider")).status_code == 404
    assert stage(client, actors, agreement, who="outsider").status_code == 404
    assert client.get("/api/v1/stagings", headers=actors.headers("outsider")).get_json()["items"] == []


def test_job_rows_are_unique_per_agreement_and_version(client, actors, make, source, uow):
    agreement = make.agreement(source=source.as_uri())
    for _ in range(3):
        stage(client, actors, agreement)
    with uow:
        assert len(uow.session.scalars(select(StagingJob)).all()) == 1


def test_concurrent_requests_for_one_agreement_make_one_job(app, actors, make, source, uow):
    agreement = make.agreement(source=source.as_uri())
    barrier = threading.Barrier(4)
    answers: list[tuple[int, str]] = []

    def request() -> None:
        local = app.test_client()
        barrier.wait()
        response = local.post("/api/v1/stagings", json={"agreement": agreement.id},
                              headers=actors.headers("member"))
        answers.append((response.status_code, response.get_json()["id"]))

    threads = [threading.Thread(target=request) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(status for status, _ in answers) == [200, 200, 200, 202]
    assert len({job_id for _, job_id in answers}) == 1
    with uow:
        assert len(uow.session.scalars(select(StagingJob)).all()) == 1


class _FailsOnce(http.server.BaseHTTPRequestHandler):
    calls = 0
    body = b""

    def do_GET(self):  # noqa: N802
        type(self).calls += 1
        if type(self).calls == 1:
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/csv")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


def test_http_500_then_200_is_retried_and_published(client, actors, make, worker, tmp_path):
    write_csv(tmp_path / "d.csv", 50)
    _FailsOnce.calls, _FailsOnce.body = 0, (tmp_path / "d.csv").read_bytes()
    with serving(_FailsOnce) as base:
        job = make.staging_job(source=f"{base}/d.csv")
        deadline = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=10)
        state = "queued"
        while state != "published" and dt.datetime.now(dt.UTC) < deadline:
            worker.tick()
            seen = shown(client, actors, job.id)
            state = seen["state"]
        assert state == "published" and seen["attempts"] == 2 and seen["rows"] == 50
        assert _FailsOnce.calls == 2


def test_staging_request_without_an_agreement_is_422_and_with_an_unknown_one_404(client, actors):
    assert client.post("/api/v1/stagings", json={}, headers=actors.headers("member")).status_code == 422
    assert client.post("/api/v1/stagings", json={"agreement": "nope"},
                       headers=actors.headers("member")).status_code == 404


def test_quota_exceeded_mid_way_leaves_no_temporary_parts(client, actors, make, app, worker):
    big = Path(app.config["SOURCE_ROOTS"][0]) / "health" / "big.csv"
    write_csv(big, 400_000)
    make.quota("cardio", 200_000)
    job = make.staging_job(source=big.as_uri())
    worker.tick()
    failed = shown(client, actors, job.id)
    assert failed["state"] == "failed" and failed["error"]["code"] == "quota-exceeded"
    written = int(re.search(r"(\d+) bytes written", failed["error"]["detail"]).group(1))
    assert written > 0  # it stopped mid-way, after writing
    project_dir = Path(app.config["HOME"]) / "storage" / "cardio"
    assert [p for p in project_dir.rglob("*") if p.is_file()] == []
