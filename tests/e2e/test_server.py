"""`connector serve` as a user runs it: a real server on loopback, spoken to over HTTP."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import requests

from tests.conftest import SCHEMAS, dataset_body
from tests.e2e.conftest import serving


@pytest.fixture
def server(cli_env):
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "connector", *args], env=cli_env,
                              capture_output=True, text=True, check=True, timeout=120).stdout

    cli("orgs", "create", "health")
    token = json.loads(cli("users", "create", "steward", "--role", "steward", "--org", "health",
                           "--json"))["token"]
    with serving(cli_env, start_seconds=30) as (base, _):
        yield base, {"Authorization": f"Bearer {token}"}


def test_register_over_http_then_find_it(server):
    base, headers = server
    created = requests.post(base + "/api/v1/datasets", json=dataset_body(title="Served registry"),
                            headers=headers, timeout=10)
    assert created.status_code == 201
    assert created.headers["Location"].endswith(created.json()["id"])
    found = requests.get(base + "/api/v1/datasets", params={"q": "served registry", "theme": "HEAL"},
                         headers=headers, timeout=10)
    assert found.status_code == 200 and found.json()["count"] == 1


def test_errors_over_the_wire_are_problem_json(server):
    base, headers = server
    response = requests.post(base + "/api/v1/datasets", data="[" * 10000, headers={
        **headers, "Content-Type": "application/json"}, timeout=10)
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/problem+json"
    SCHEMAS.validate("problem", response.json())
    big = requests.post(base + "/api/v1/datasets", data=b"x" * (2 * 1024 * 1024), headers={
        **headers, "Content-Type": "application/json"}, timeout=10)
    assert big.status_code == 413
    assert requests.get(base + "/api/v1/datasets", timeout=10).status_code == 401


def test_openapi_and_health_are_served(server):
    base, _ = server
    assert requests.get(base + "/healthz", timeout=10).json()["status"] == "ok"
    assert requests.get(base + "/api/openapi.json", timeout=10).json()["openapi"] == "3.1.0"
