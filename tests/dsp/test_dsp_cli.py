"""``connector negotiations`` and ``connector transfers`` as an operator runs them: the consumer
connector's command line against its database, the two connectors served on loopback."""
# ruff: noqa: F811  (the pair fixtures are imported from the other two-connector tests)

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.dsp.conftest import OWN_ID
from tests.dsp.test_negotiation_two_connectors import CONSUMER_ID, consumer_database, pair  # noqa: F401
from tests.dsp.test_transfer_two_connectors import (  # noqa: F401  (fixtures and helpers)
    _provider_transfer,
    app,
    pump,
    source_file,
)


@pytest.fixture
def consumer_cli(pair, consumer_database: str, tmp_path: Path) -> dict[str, str]:
    """The environment of the consumer connector's ``connector`` command."""
    config = pair.consumer.config
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
    env.update({"CONNECTOR_HOME": str(tmp_path / "c" / "home"), "CONNECTOR_DATABASE_URL": consumer_database,
                "CONNECTOR_PUBLIC_BASE_URL": config["PUBLIC_BASE_URL"],
                "CONNECTOR_STORAGE_URL": str(config["STORAGE_URL"]),
                "CONNECTOR_DSP_PARTICIPANT_ID": CONSUMER_ID,
                "CONNECTOR_DSP_PARTICIPANTS": json.dumps(config["DSP_PARTICIPANTS"])})
    return env


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "connector", *args], env=env, capture_output=True, text=True,
                          timeout=120)


def ok(env: dict[str, str], *args: str) -> Any:
    result = run(env, *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def fails(env: dict[str, str], *args: str) -> str:
    result = run(env, *args)
    assert result.returncode != 0 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("connector: error: "), result.stderr
    return lines[0]


def _offered(register, source_file: Path) -> dict[str, Any]:
    from tests.dsp.conftest import SIMPLE_OFFER

    distribution = {"accessURL": source_file.as_uri(), "downloadURL": source_file.as_uri(), "format": "CSV",
                    "mediaType": "text/csv"}
    return register(SIMPLE_OFFER, accessRights="PUBLIC", distribution=[distribution])


def _negotiate(env: dict[str, str], pair, dataset: dict[str, Any]) -> dict[str, Any]:
    started = ok(env, "negotiations", "start", "--participant", OWN_ID, "--project", "ai-team",
                 "--as", "alice", "--dataset", f"urn:uuid:{dataset['id']}",
                 "--offer", f"urn:uuid:{dataset['offers'][0]['id']}")
    assert started["state"] == "REQUESTED" and started["role"] == "consumer"
    assert "ContractRequestMessage" in pair.types() or started["providerPid"]  # sent by the command
    pump(pair)
    shown = ok(env, "negotiations", "show", started["id"])
    assert shown["state"] == "FINALIZED" and shown["agreement"]["@id"]
    return shown


def test_an_operator_negotiates_and_pulls_a_dataset_from_the_command_line(
        pair, register, consumer_cli, source_file):
    negotiation = _negotiate(consumer_cli, pair, _offered(register, source_file))
    listed = ok(consumer_cli, "negotiations", "list", "--role", "consumer")
    assert [item["id"] for item in listed] == [negotiation["id"]]
    assert negotiation["id"] in run(consumer_cli, "negotiations", "list").stdout

    asked = ok(consumer_cli, "transfers", "start", negotiation["id"], "--as", "alice")
    assert asked["state"] == "REQUESTED" and asked["format"] == "HttpData-PULL" and asked["providerPid"]
    pump(pair)
    shown = ok(consumer_cli, "transfers", "show", asked["id"])
    assert shown["state"] == "COMPLETED" and shown["stagingJob"]
    consumer_side = ok(consumer_cli, "transfers", "list", "--role", "consumer")
    assert [item["id"] for item in consumer_side] == [asked["id"]]
    assert ok(consumer_cli, "transfers", "list", "--role", "provider") == []
    line = fails(consumer_cli, "transfers", "suspend", asked["id"])
    assert "COMPLETED" in line and "400" in line
    assert ok(consumer_cli, "transfers", "show", asked["id"])["state"] == "COMPLETED"


def test_an_operator_terminates_a_transfer_and_the_provider_is_told(
        pair, register, consumer_cli, source_file, client, actors):
    negotiation = _negotiate(consumer_cli, pair, _offered(register, source_file))
    asked = ok(consumer_cli, "transfers", "start", negotiation["id"], "--as", "alice")
    ended = ok(consumer_cli, "transfers", "terminate", asked["id"], "--reason", "wrong cohort")
    assert ended["state"] == "TERMINATED" and ended["reason"]["reason"] == ["wrong cohort"]
    theirs = _provider_transfer(client, actors, asked["consumerPid"])
    assert theirs["state"] == "TERMINATED" and theirs["reason"]["reason"] == ["wrong cohort"]


def test_command_line_errors_are_one_line_and_a_non_zero_exit(pair, consumer_cli):
    assert "404" in fails(consumer_cli, "transfers", "show", "no-such-transfer")
    assert "404" in fails(consumer_cli, "negotiations", "show", "no-such-negotiation")
    line = fails(consumer_cli, "negotiations", "start", "--participant", "urn:nobody", "--project", "ai-team",
                 "--as", "alice", "--dataset", "urn:uuid:x", "--offer", "urn:uuid:y")
    assert "urn:nobody" in line
    line = fails(consumer_cli, "transfers", "start", "whatever", "--as", "alice",
                 "--push-to", '{"endpointType": "AmazonS3"}')
    assert "$.dataAddress" in line and "bucketName" in line
    assert "$.offer" in fails(consumer_cli, "negotiations", "start", "--participant", OWN_ID, "--project",
                              "ai-team", "--as", "alice", "--dataset", "urn:uuid:x",
                              "--offer", "@/nonexistent/offer.json")
    without_base = {k: v for k, v in consumer_cli.items() if k != "CONNECTOR_PUBLIC_BASE_URL"}
    assert "PUBLIC_BASE_URL" in fails(without_base, "transfers", "start", "whatever", "--as", "alice")
