"""Push transfers (``AmazonS3-PUSH``) between two instances of the connector: the consumer's team
names a bucket on a real S3 server (moto in server mode, on loopback), the provider stages the
agreed version on its own tier and copies the parts and the manifest there. Credentials never
rest in either database nor reach a log."""
# ruff: noqa: F811  (the pair fixtures are imported from the other two-connector tests)

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from connector.db import utcnow
from connector.dsp.messages import message_schemas
from connector.dsp.models import OutboxMessage, Transfer
from connector.dsp.transfer_api import deliver
from tests.dsp.test_negotiation_two_connectors import consumer_database, pair  # noqa: F401  (fixtures)
from tests.dsp.test_transfer_two_connectors import (  # noqa: F401  (fixtures and helpers)
    _finalized,
    _job,
    _provider_transfer,
    _sent,
    _team,
    _transfer,
    app,
    pump,
    source_file,
)
from tests.staging.conftest import s3_endpoint  # noqa: F401  (the loopback S3 server)

ACCESS_KEY = "AKIAPUSHTEST0000KEY1"
SECRET_KEY = "push-secret-0123456789abcdefghijklmnop"


@pytest.fixture
def bucket(s3_endpoint: str) -> str:
    import s3fs

    name = "push-" + uuid.uuid4().hex[:12]
    s3fs.S3FileSystem(key=ACCESS_KEY, secret=SECRET_KEY, endpoint_url=s3_endpoint,
                      skip_instance_cache=True).mkdir(name)
    return name


def _bucket_fs(endpoint: str) -> Any:
    import s3fs

    return s3fs.S3FileSystem(key=ACCESS_KEY, secret=SECRET_KEY, endpoint_url=endpoint,
                             skip_instance_cache=True)


def _address(endpoint: str, bucket: str, prefix: str = "incoming/cardio") -> dict[str, Any]:
    properties = {"bucketName": bucket, "objectPrefix": prefix, "region": "eu-central-1",
                  "endpointOverride": endpoint, "accessKeyId": ACCESS_KEY, "secretAccessKey": SECRET_KEY}
    return {"@type": "DataAddress", "endpointType": "AmazonS3",
            "endpointProperties": [{"@type": "EndpointProperty", "name": k, "value": v}
                                   for k, v in properties.items()]}


def _ask_push(pair, negotiation: dict[str, Any], address: dict[str, Any]) -> dict[str, Any]:
    response = pair.consumer.test_client().post(
        "/api/v1/transfers", headers=_team(pair),
        json={"negotiation": negotiation["id"], "format": "AmazonS3-PUSH", "dataAddress": address})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _stored_text(application) -> str:
    """Every transfer row and outbox message of ``application``, as text."""
    with application.extensions["connector"].session_factory() as session:
        rows = [{column.name: str(getattr(row, column.key)) for column in Transfer.__table__.columns}
                for row in session.scalars(select(Transfer))]
        messages = list(session.scalars(select(OutboxMessage.message)))
    return json.dumps([rows, messages])


def test_push_reaches_completed_and_the_bucket_holds_the_providers_parts_and_manifest(
        pair, register, client, actors, source_file, s3_endpoint, bucket, caplog):
    caplog.set_level(logging.DEBUG)
    negotiation = _finalized(pair, register, source_file)
    asked = _ask_push(pair, negotiation, _address(s3_endpoint, bucket))
    assert asked["format"] == "AmazonS3-PUSH" and asked["state"] == "REQUESTED"
    pump(pair)

    ours = _transfer(pair, asked["id"])
    assert ours["state"] == "COMPLETED", ours
    theirs = _provider_transfer(client, actors, ours["consumerPid"])
    assert theirs["state"] == "COMPLETED" and theirs["format"] == "AmazonS3-PUSH"
    assert [t for t in pair.types() if t.startswith("Transfer")] == [
        "TransferRequestMessage", "TransferStartMessage", "TransferCompletionMessage"]
    for message, answer in pair.exchanged:
        message_schemas().validate(message)
        if answer:
            message_schemas().validate(answer)
    (request,) = _sent(pair, "TransferRequestMessage")
    sent = {p["name"]: p["value"] for p in request["dataAddress"]["endpointProperties"]}
    assert request["format"] == "AmazonS3-PUSH" and sent["secretAccessKey"] == SECRET_KEY
    (start,) = _sent(pair, "TransferStartMessage")
    assert "dataAddress" not in start

    provider_job = _job(pair.provider, actors.headers("steward"), theirs["stagingJob"])
    provider_dir = Path(provider_job["location"].removeprefix("file://"))
    provider_manifest = json.loads((provider_dir / "_manifest.json").read_text())
    fs = _bucket_fs(s3_endpoint)
    names = sorted(path.rsplit("/", 1)[1] for path in fs.ls(f"{bucket}/incoming/cardio"))
    assert names == sorted(["_manifest.json", *(f["path"] for f in provider_manifest["files"])])
    manifest_bytes = (provider_dir / "_manifest.json").read_bytes()
    assert fs.cat(f"{bucket}/incoming/cardio/_manifest.json") == manifest_bytes
    for entry in provider_manifest["files"]:
        pushed = fs.cat(f"{bucket}/incoming/cardio/{entry['path']}")
        assert hashlib.sha256(pushed).hexdigest() == entry["sha256"] and len(pushed) == entry["bytes"]

    for application in (pair.provider, pair.consumer):
        stored = _stored_text(application)
        assert SECRET_KEY not in stored and ACCESS_KEY not in stored
    assert not any(SECRET_KEY in record.getMessage() for record in caplog.records)
    assert pair.provider.extensions["dsp_negotiation"].runtime.secrets.get(theirs["providerPid"]) is None
    assert pair.consumer.extensions["dsp_negotiation"].runtime.secrets.get(ours["consumerPid"]) is None


def test_a_push_to_an_endpoint_that_is_not_admitted_is_refused_and_nothing_is_written(
        pair, register, client, actors, source_file, s3_endpoint, bucket):
    negotiation = _finalized(pair, register, source_file)
    elsewhere = s3_endpoint.replace("127.0.0.1", "localhost")  # loopback, but not the consumer's host
    asked = _ask_push(pair, negotiation, _address(elsewhere, bucket))
    pump(pair)

    ours = _transfer(pair, asked["id"])
    assert ours["state"] == "TERMINATED" and ours["reason"]["code"] == "refused-by-peer"
    assert any("not admitted" in reason for reason in ours["reason"]["reason"]), ours
    answers = [answer for message, answer in pair.exchanged if message["@type"] == "TransferRequestMessage"]
    assert answers and answers[0]["@type"] == "TransferError" and answers[0]["code"] == "transfer-refused"
    listed = client.get("/api/v1/transfers?role=provider", headers=actors.headers("steward")).get_json()
    assert listed["items"] == []  # the provider stored nothing
    assert _bucket_fs(s3_endpoint).find(bucket) == []


def test_a_push_whose_credentials_were_lost_with_a_restart_is_terminated(
        pair, register, client, actors, source_file, s3_endpoint, bucket):
    negotiation = _finalized(pair, register, source_file)
    asked = _ask_push(pair, negotiation, _address(s3_endpoint, bucket))
    deliver(pair.consumer)  # the request reaches the provider, which holds the address in memory
    theirs = _provider_transfer(client, actors, _transfer(pair, asked["id"])["consumerPid"])
    pair.provider.extensions["dsp_negotiation"].runtime.secrets.drop(theirs["providerPid"])  # a restart
    pump(pair)
    theirs = _provider_transfer(client, actors, theirs["consumerPid"])
    assert theirs["state"] == "TERMINATED" and theirs["reason"]["code"] == "push-credentials-lost"
    assert _transfer(pair, asked["id"])["state"] == "TERMINATED"
    assert _bucket_fs(s3_endpoint).find(bucket) == []


@pytest.mark.parametrize(("body", "path"), [
    ({"format": "AmazonS3-PUSH"}, "$.dataAddress"),
    ({"format": "AmazonS3-PUSH", "dataAddress": {"@type": "DataAddress", "endpointType": "AmazonS3",
                                                 "endpointProperties": []}}, "$.dataAddress"),
    ({"format": "HttpData-PUSH"}, "$.format"),
    ({"dataAddress": {"@type": "DataAddress", "endpointType": "AmazonS3"}}, "$.dataAddress"),
])
def test_a_bad_push_request_is_refused_with_422_and_nothing_is_sent(pair, register, source_file, body, path):
    negotiation = _finalized(pair, register, source_file)
    before = len(pair.exchanged)
    response = pair.consumer.test_client().post("/api/v1/transfers", headers=_team(pair),
                                                json={"negotiation": negotiation["id"], **body})
    assert response.status_code == 422
    assert [error["path"] for error in response.get_json()["errors"]] == [path]
    pump(pair)
    assert len(pair.exchanged) == before


def test_a_push_whose_provider_died_mid_copy_is_terminated_once_its_lease_runs_out(
        pair, register, client, actors, source_file, s3_endpoint, bucket, monkeypatch):
    from sqlalchemy import update

    from connector.dsp import push

    negotiation = _finalized(pair, register, source_file)
    asked = _ask_push(pair, negotiation, _address(s3_endpoint, bucket))
    deliver(pair.consumer)  # the request reaches the provider

    def die(*args: Any, **kwargs: Any) -> None:
        raise SystemExit("the provider process is killed in the middle of the copy")

    with monkeypatch.context() as patched:
        patched.setattr(push, "copy_files", die)
        with pytest.raises(SystemExit):
            deliver(pair.provider)
    consumer_pid = _transfer(pair, asked["id"])["consumerPid"]
    theirs = _provider_transfer(client, actors, consumer_pid)
    assert theirs["state"] == "STARTED"
    pair.provider.extensions["dsp_negotiation"].runtime.secrets.drop(theirs["providerPid"])  # lost with it

    pump(pair)  # within the lease nothing ends it: a live provider may still be copying
    assert _provider_transfer(client, actors, consumer_pid)["state"] == "STARTED"

    lease = pair.provider.extensions["dsp_transfer"].runtime.push_lease_seconds
    with pair.provider.extensions["connector"].session_factory() as session:
        session.execute(update(Transfer).where(Transfer.pid == theirs["providerPid"])
                        .values(updated_at=utcnow() - dt.timedelta(seconds=lease + 1)))
        session.commit()
    pump(pair)

    theirs = _provider_transfer(client, actors, consumer_pid)
    assert theirs["state"] == "TERMINATED" and theirs["reason"]["code"] == "push-interrupted"
    ours = _transfer(pair, asked["id"])
    assert ours["state"] == "TERMINATED" and ours["reason"]["code"] == "push-interrupted"
    assert "request the transfer again" in ours["reason"]["reason"][0]
