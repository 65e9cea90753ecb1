"""Hostile sources staged through ``connector serve`` on the embedded default: each job ends
``failed`` with a reason, while the server keeps answering and stays small, because parsing
happens in a child process under limits (connector.sandbox), never in the API process."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import dataset_body
from tests.e2e.test_server import free_port
from tests.factories import PERMIT

DEPTH = 100_000
HOSTILE = {
    "nested-arrays.json": ("JSON", "[" * DEPTH + "]" * DEPTH),
    "nested-object.jsonl": ("JSONL", '{"a":' * DEPTH + "1" + "}" * DEPTH + "\n"),
    "nested-objects-in-array.json": ("JSON", "[" + '{"a":' * DEPTH + "1" + "}" * DEPTH + "]"),
}
API_RSS_LIMIT = 300 << 20


def peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc/<pid>/status")


@pytest.fixture
def embedded(cli_env, tmp_path):
    """``connector serve`` on the embedded default (SQLite and the worker in-process), with a
    steward of ``health`` and a member of its project ``cardio``."""
    env = {k: v for k, v in cli_env.items() if k != "CONNECTOR_DATABASE_URL"}
    env.update({"CONNECTOR_WORKER_POLL_SECONDS": "0.2", "CONNECTOR_PSEUDONYMISATION_SECRET": "k" * 32})

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "connector", *args], env=env,
                              capture_output=True, text=True, check=True, timeout=120).stdout

    cli("orgs", "create", "health")
    cli("projects", "create", "cardio", "--org", "health")
    tokens = {who: json.loads(cli("users", "create", who, *options, "--json"))["token"]
              for who, options in (("steward", ("--role", "steward", "--org", "health")),
                                   ("member", ("--role", "member", "--project", "cardio")))}
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "connector", "serve", "--port", str(port)],
                               env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            requests.get(base + "/healthz", timeout=1)
            break
        except requests.ConnectionError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail("server did not start: " + (tmp_path / "serve.log").read_text())
            time.sleep(0.1)
    try:
        yield base, process, Path(env["CONNECTOR_HOME"]), {
            who: {"Authorization": f"Bearer {token}"} for who, token in tokens.items()}
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def stage_as_member(base: str, headers: dict, url: str, fmt: str) -> str:
    distribution = {"accessURL": url, "format": fmt}
    dataset = requests.post(base + "/api/v1/datasets", json=dataset_body(
        accessRights="RESTRICTED", distribution=[distribution]), headers=headers["steward"], timeout=30)
    assert dataset.status_code == 201, dataset.text
    offer = requests.post(f"{base}/api/v1/datasets/{dataset.json()['id']}/offers", json={
        "template": "health-secondary-use", "parameters": {
            "permit_ids": [PERMIT], "projects": ["cardio"], "processing_location": "ai-factory",
            "identifying_columns": ["patient_id"], "retention_days": 90}},
        headers=headers["steward"], timeout=30)
    assert offer.status_code == 201, offer.text
    request = requests.post(base + "/api/v1/access-requests", json={
        "dataset": dataset.json()["id"], "offer": offer.json()["id"], "project": "cardio",
        "purpose": "scientificResearch", "duration": "P30D", "attributes": {"dataPermit": PERMIT}},
        headers=headers["member"], timeout=30).json()
    assert request["state"] == "agreed", request
    job = requests.post(base + "/api/v1/stagings", json={"agreement": request["agreement"]},
                        headers=headers["member"], timeout=30)
    assert job.status_code == 202, job.text
    return job.json()["id"]


def test_hostile_json_sources_fail_their_jobs_while_the_server_keeps_answering_and_stays_small(embedded):
    base, server, home, headers = embedded
    jobs = {}
    for name, (fmt, text) in HOSTILE.items():
        source = home / "sources" / "health" / name
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_text(text)
        jobs[name] = stage_as_member(base, headers, source.as_uri(), fmt)

    deadline, ended = time.monotonic() + 600, {}
    while len(ended) < len(jobs):
        assert time.monotonic() < deadline, f"jobs still running: {set(jobs) - set(ended)}"
        health = requests.get(base + "/healthz", timeout=5)
        assert health.status_code == 200
        for name, job_id in jobs.items():
            row = requests.get(f"{base}/api/v1/stagings/{job_id}", headers=headers["member"],
                               timeout=5).json()
            if row["state"] not in ("queued", "running"):
                ended[name] = row
        time.sleep(0.2)

    for name, row in ended.items():
        assert row["state"] == "failed", (name, row)
        assert row["error"]["detail"].strip(), (name, row)
    assert server.poll() is None
    assert peak_rss(server.pid) < API_RSS_LIMIT
