"""Pull transfers between two instances of the connector (DSP 2025-1): separate databases,
separate storage tiers, served on loopback. The provider stages a real CSV file as Parquet;
the consumer's team negotiates, asks for the data, and gets it staged on its own tier, parts
copied verbatim. Every message that crosses is checked against the official schemas."""
# ruff: noqa: F811  (the pair fixtures are imported from the negotiation test and used by name)

from __future__ import annotations

import csv
import hashlib
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from connector.client import open_dataset
from connector.db import utcnow
from connector.dsp.messages import message_schemas
from connector.dsp.models import Transfer
from connector.dsp.transfer_api import deliver
from tests.dsp.conftest import OWN_ID, SIMPLE_OFFER
from tests.dsp.conftest import DspClient as CheckingClient
from tests.dsp.two_connectors import (  # noqa: F401  (fixtures)
    BASE,
    CONTEXT,
    PAIR_TOKEN,
    Pair,
    consumer_database,
    pair,
    provider_process,
    two_connectors,
)

ROWS = 500


@pytest.fixture
def source_file(tmp_path: Path) -> Path:
    folder = tmp_path / "sources"
    folder.mkdir()
    path = folder / "measurements.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["patient_id", "lvef"])
        for index in range(ROWS):
            writer.writerow([f"P{index:05d}", round(40 + (index % 30) * 0.7, 1)])
    return path


@pytest.fixture
def app(clean_dsp_tables: str, clean_database: str, consumer_database: str, tmp_path: Path,
        dsp_env: None, source_file: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Provider and consumer, each with its own storage tier; the provider may read ``source_file``."""
    with two_connectors(clean_database, consumer_database, tmp_path, monkeypatch,
                        provider={"STORAGE_URL": str(tmp_path / "provider-tier"),
                                  "SOURCE_ROOTS": {"*": [str(source_file.parent)]}},
                        consumer={"STORAGE_URL": str(tmp_path / "consumer-tier")}) as provider:
        yield provider


pump = Pair.pump


def _team(pair: Pair) -> dict[str, str]:
    return pair.team_headers()


def _finalized(pair: Pair, register, source_file: Path,
               offer: dict[str, Any] = SIMPLE_OFFER) -> dict[str, Any]:
    distribution = {"accessURL": source_file.as_uri(), "downloadURL": source_file.as_uri(), "format": "CSV",
                    "mediaType": "text/csv"}
    dataset = register(offer, accessRights="PUBLIC", distribution=[distribution])
    response = pair.consumer.test_client().post(
        "/api/v1/negotiations", headers=_team(pair),
        json={"participant": OWN_ID, "dataset": f"urn:uuid:{dataset['id']}",
              "offer": f"urn:uuid:{dataset['offers'][0]['id']}", "project": "ai-team"})
    assert response.status_code == 201, response.get_json()
    pump(pair)
    negotiation = pair.consumer.test_client().get(f"/api/v1/negotiations/{response.get_json()['id']}",
                                                  headers=_team(pair)).get_json()
    assert negotiation["state"] == "FINALIZED"
    return negotiation


def _ask(pair: Pair, negotiation: dict[str, Any]) -> dict[str, Any]:
    response = pair.consumer.test_client().post("/api/v1/transfers", json={"negotiation": negotiation["id"]},
                                                headers=_team(pair))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _transfer(pair: Pair, transfer_id: str) -> dict[str, Any]:
    return pair.consumer_process("transfers", transfer_id)


def _provider_transfer(client, actors, consumer_pid: str) -> dict[str, Any]:
    return provider_process(client, actors, "transfers", consumer_pid)


def _sent(pair: Pair, message_type: str) -> list[dict[str, Any]]:
    return [message for message, _ in pair.exchanged if message["@type"] == message_type]


def _get(url: str, token: str | None) -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310  (loopback)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read()


def _job(application, headers: dict[str, str], job_id: str) -> dict[str, Any]:
    response = application.test_client().get(f"/api/v1/stagings/{job_id}", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_tp_01_pull_transfer_reaches_completed_and_the_consumer_has_the_providers_parts(
        pair, register, client, actors, source_file):
    negotiation = _finalized(pair, register, source_file)
    asked = _ask(pair, negotiation)
    assert asked["state"] == "REQUESTED" and asked["role"] == "consumer" and asked["localAgreement"]
    pump(pair)
    ours = _transfer(pair, asked["id"])
    assert ours["state"] == "COMPLETED", ours
    theirs = _provider_transfer(client, actors, ours["consumerPid"])
    assert theirs["state"] == "COMPLETED" and theirs["providerPid"] == ours["providerPid"]
    assert [t for t in pair.types() if t.startswith("Transfer")] == [
        "TransferRequestMessage", "TransferStartMessage", "TransferCompletionMessage"]
    for message, answer in pair.exchanged:
        message_schemas().validate(message)
        if answer:
            message_schemas().validate(answer)
    request_ack = [answer for message, answer in pair.exchanged
                   if message["@type"] == "TransferRequestMessage"][0]
    assert request_ack["@type"] == "TransferProcess" and request_ack["state"] == "REQUESTED"
    (request,) = _sent(pair, "TransferRequestMessage")
    assert request["agreementId"] == negotiation["agreement"]["@id"] and request["format"] == "HttpData-PULL"

    consumer_job = _job(pair.consumer, _team(pair), ours["stagingJob"])
    provider_job = _job(pair.provider, actors.headers("steward"), theirs["stagingJob"])
    assert consumer_job["state"] == provider_job["state"] == "published"
    consumer_manifest = json.loads(Path(consumer_job["location"].removeprefix("file://"), "_manifest.json")
                                   .read_text())
    provider_manifest = json.loads(Path(provider_job["location"].removeprefix("file://"), "_manifest.json")
                                   .read_text())
    assert [(f["path"], f["sha256"], f["bytes"]) for f in consumer_manifest["files"]] == \
        [(f["path"], f["sha256"], f["bytes"]) for f in provider_manifest["files"]]
    for entry in consumer_manifest["files"]:
        data = Path(consumer_job["location"].removeprefix("file://"), entry["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
    received = open_dataset(consumer_job["location"], verify=True).to_table()
    sent = open_dataset(provider_job["location"], verify=True).to_table()
    assert received.num_rows == ROWS and received.equals(sent)
    assert consumer_manifest["agreement"] == ours["localAgreement"]
    local = pair.consumer.test_client().get(f"/api/v1/agreements/{ours['localAgreement']}",
                                            headers=_team(pair)).get_json()
    assert local["project"] == "ai-team" and local["state"] == "active"


def test_tp_03_a_replayed_token_after_completion_is_refused_401(pair, register, source_file):
    negotiation = _finalized(pair, register, source_file)
    asked = _ask(pair, negotiation)
    deliver(pair.consumer)  # the request reaches the provider
    deliver(pair.provider)  # the provider stages and sends the start; the consumer has not staged
    endpoint, token = _data_address(pair)
    assert _get(endpoint, token)[0] == 200
    assert _get(endpoint, None)[0] == 401 and _get(endpoint, "wrong-token")[0] == 401
    name = "part-00000.parquet"
    status, body = _get(endpoint + name, token)
    assert status == 200 and body[:4] == b"PAR1"
    assert _get(endpoint + "croissant.json", token)[0] == 404  # only the manifest and its parts
    pump(pair)
    assert _transfer(pair, asked["id"])["state"] == "COMPLETED"
    assert _get(endpoint, token)[0] == 401
    assert _get(endpoint + name, token)[0] == 401


def _data_address(pair: Pair) -> tuple[str, str]:
    """Endpoint and token of the last TransferStartMessage, as sent (the outbox withholds it after)."""
    start = _sent(pair, "TransferStartMessage")[-1]
    properties = {p["name"]: p["value"] for p in start["dataAddress"]["endpointProperties"]}
    return start["dataAddress"]["endpoint"], properties["authorization"]


def test_tp_03_an_expired_token_is_refused_401(pair, register, source_file):
    negotiation = _finalized(pair, register, source_file)
    _ask(pair, negotiation)
    deliver(pair.consumer)
    deliver(pair.provider)
    endpoint, token = _data_address(pair)
    assert _get(endpoint, token)[0] == 200
    with pair.provider.extensions["connector"].session_factory() as session:
        session.execute(update(Transfer).values(token_expires=utcnow()))
        session.commit()
    status, body = _get(endpoint, token)
    assert status == 401 and b"expired" in body


def test_sent_start_messages_do_not_keep_the_token(pair, register, source_file):
    negotiation = _finalized(pair, register, source_file)
    _ask(pair, negotiation)
    pump(pair)
    from sqlalchemy import select

    from connector.dsp.models import OutboxMessage

    with pair.provider.extensions["connector"].session_factory() as session:
        stored = [m for m in session.scalars(select(OutboxMessage.message))
                  if m["@type"] == "TransferStartMessage"]
        hashes = list(session.scalars(select(Transfer.token_hash)))
    (sent,) = _sent(pair, "TransferStartMessage")
    token = {p["name"]: p["value"] for p in sent["dataAddress"]["endpointProperties"]}["authorization"]
    assert stored and all(token not in json.dumps(m) for m in stored)
    assert hashes == [None]  # completed: the hash is gone too


def test_tp_c_02_termination_by_the_consumer_team_reaches_the_provider_and_ends_the_token(
        pair, register, client, actors, source_file):
    negotiation = _finalized(pair, register, source_file)
    asked = _ask(pair, negotiation)
    deliver(pair.consumer)
    deliver(pair.provider)
    endpoint, token = _data_address(pair)
    deliver(pair.provider)  # the start message arrives; the consumer has not staged yet
    assert _transfer(pair, asked["id"])["state"] == "STARTED"
    answer = pair.consumer.test_client().post(f"/api/v1/transfers/{asked['id']}/terminate",
                                              json={"reason": "no longer needed"}, headers=_team(pair))
    assert answer.status_code == 200 and answer.get_json()["state"] == "TERMINATED"
    deliver(pair.consumer)
    theirs = _provider_transfer(client, actors, asked["consumerPid"])
    assert theirs["state"] == "TERMINATED" and theirs["reason"]["reason"] == ["no longer needed"]
    assert _get(endpoint, token)[0] == 401
    again = pair.consumer.test_client().post(f"/api/v1/transfers/{asked['id']}/terminate",
                                             headers=_team(pair))
    assert again.status_code == 400  # terminal: nothing more is accepted


def test_tp_02_termination_by_the_provider_reaches_the_consumer(pair, register, client, actors,
                                                               source_file):
    negotiation = _finalized(pair, register, source_file)
    asked = _ask(pair, negotiation)
    deliver(pair.consumer)
    deliver(pair.provider)
    deliver(pair.provider)
    theirs = _provider_transfer(client, actors, asked["consumerPid"])
    answer = client.post(f"/api/v1/transfers/{theirs['id']}/terminate", json={"reason": "audit pending"},
                         headers=actors.headers("steward"))
    assert answer.status_code == 200, answer.get_json()
    deliver(pair.provider)
    ours = _transfer(pair, asked["id"])
    assert ours["state"] == "TERMINATED" and ours["reason"]["reason"] == ["audit pending"]


def test_tp_02_suspension_and_resumption_by_the_provider_then_completion(pair, register, client, actors,
                                                                         source_file):
    negotiation = _finalized(pair, register, source_file)
    asked = _ask(pair, negotiation)
    deliver(pair.consumer)
    deliver(pair.provider)
    endpoint, first_token = _data_address(pair)
    deliver(pair.provider)
    theirs = _provider_transfer(client, actors, asked["consumerPid"])
    suspended = client.post(f"/api/v1/transfers/{theirs['id']}/suspend", headers=actors.headers("steward"))
    assert suspended.status_code == 200 and suspended.get_json()["state"] == "SUSPENDED"
    deliver(pair.provider)
    assert _transfer(pair, asked["id"])["state"] == "SUSPENDED"
    assert _get(endpoint, first_token)[0] == 401
    completion = client.post(f"/api/v1/transfers/{theirs['id']}/resume", headers=actors.headers("steward"))
    assert completion.status_code == 200 and completion.get_json()["state"] == "STARTED"
    pump(pair)
    assert _transfer(pair, asked["id"])["state"] == "COMPLETED"
    assert [t for t in pair.types() if t.startswith("Transfer")] == [
        "TransferRequestMessage", "TransferStartMessage", "TransferSuspensionMessage",
        "TransferStartMessage", "TransferCompletionMessage"]


def test_tp_c_03_completion_while_suspended_is_refused_and_changes_nothing(pair, register, source_file):
    negotiation = _finalized(pair, register, source_file)
    asked = _ask(pair, negotiation)
    deliver(pair.consumer)
    deliver(pair.provider)
    deliver(pair.provider)
    suspended = pair.consumer.test_client().post(f"/api/v1/transfers/{asked['id']}/suspend",
                                                 headers=_team(pair))
    assert suspended.status_code == 200
    ours = _transfer(pair, asked["id"])
    checked = CheckingClient(pair.consumer.test_client())
    body = {"@context": CONTEXT, "@type": "TransferCompletionMessage", "providerPid": ours["providerPid"],
            "consumerPid": ours["consumerPid"]}
    response = checked.post(f"{BASE}/callback/transfers/{ours['consumerPid']}/completion", json=body,
                            headers={"Authorization": f"Bearer {PAIR_TOKEN}"})
    assert response.status_code == 400 and response.get_json()["@type"] == "TransferError"
    assert _transfer(pair, asked["id"])["state"] == "SUSPENDED"
