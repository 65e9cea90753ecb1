"""A worker killed with SIGKILL in mid-write leaves no visible version, and the job completes
when another worker takes it over after the lease runs out."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from connector.app import create_app
from connector.worker import Worker
from tests.conftest import ProblemCheckingClient
from tests.staging.test_api import agreement_for

ROWS = 1_500_000


@pytest.fixture
def app(clean_database, tmp_path):
    application = create_app({"DATABASE_URL": clean_database, "HOME": str(tmp_path / "home"),
                              "AUTO_MIGRATE": False, "TESTING": True, "JOB_LEASE_SECONDS": 2,
                              "PSEUDONYMISATION_SECRET": "k" * 32})
    yield application
    application.extensions["connector"].engine.dispose()


def big_csv(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ids = pa.array([f"P{i:07d}" for i in range(ROWS)])
    table = pa.table({"patient_id": ids, "age": pa.array(range(ROWS)),
                      "lvef": pa.array([i / 7 for i in range(ROWS)]),
                      "note": pa.array(["stable"] * ROWS)})
    pacsv.write_csv(table, path)


def job_row(client, actors, job_id):
    return client.get(f"/api/v1/stagings/{job_id}", headers=actors.headers("member")).get_json()


def test_sigkilled_worker_leaves_nothing_visible_and_the_job_completes_on_restart(
        app, actors, cli_env):
    client = ProblemCheckingClient(app.test_client())
    source = Path(app.config["SOURCE_ROOTS"][0]) / "health" / "big.csv"
    big_csv(source)
    agreement = agreement_for(client, actors, source.as_uri())
    job = client.post("/api/v1/stagings", json={"agreement": agreement["id"]},
                      headers=actors.headers("member")).get_json()

    env = {**cli_env, "CONNECTOR_HOME": app.config["HOME"], "CONNECTOR_JOB_LEASE_SECONDS": "2",
           "CONNECTOR_PSEUDONYMISATION_SECRET": "k" * 32, "CONNECTOR_WORKER_POLL_SECONDS": "0.1"}
    worker = subprocess.Popen([sys.executable, "-m", "connector", "worker"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while job_row(client, actors, job["id"])["progress"].get("rows", 0) == 0:
            assert worker.poll() is None and time.monotonic() < deadline, "worker never wrote"
            time.sleep(0.05)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()

    killed = job_row(client, actors, job["id"])
    assert killed["state"] == "running" and killed["progress"]["rows"] < ROWS
    storage = Path(app.config["HOME"]) / "storage"
    assert not list(storage.rglob("_manifest.json"))
    assert not list(storage.rglob("part-*.parquet")) or all(
        part.parent.name.startswith(".") for part in storage.rglob("part-*.parquet"))

    time.sleep(2.1)  # the dead worker's lease runs out
    ext = app.extensions["connector"]
    assert Worker(ext.session_factory, ext.staging).tick() == 1
    done = job_row(client, actors, job["id"])
    assert done["state"] == "published" and done["rows"] == ROWS and done["attempts"] == 2
    assert len(list(storage.rglob("_manifest.json"))) == 1
