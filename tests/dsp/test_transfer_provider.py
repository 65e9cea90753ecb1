"""The provider side of the transfer process (DSP 2025-1) with the Flask test client; the
consumer's callback is a recording HTTP server on loopback. Every error is a TransferError
valid against the official schema (the ``dsp`` client checks it)."""
# ruff: noqa: F811  (fixtures imported from the negotiation provider test)

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from connector.app import create_app
from connector.dsp.messages import message_schemas
from connector.dsp.models import Transfer
from connector.dsp.negotiation_api import deliver as deliver_negotiations
from connector.dsp.transfer_api import deliver
from tests.dsp.conftest import PARTICIPANTS, PARTNER, RADAR, SIMPLE_OFFER, dsp_config
from tests.dsp.test_negotiation_provider import (  # noqa: F401  (fixtures)
    BASE,
    CONTEXT,
    Recorder,
    offered,
    received,
    recorder,
    request_message,
    send,
    start,
)


@pytest.fixture
def source(rows_csv: Path) -> Path:
    return rows_csv


@pytest.fixture
def app(clean_dsp_tables: str, clean_database: str, tmp_path: Path, dsp_env: None, recorder: Recorder,
        source: Path):
    participants = [dict(PARTICIPANTS[0], address=recorder.url + "/partner/dsp"), *PARTICIPANTS[1:]]
    application = create_app(dsp_config(clean_database, tmp_path, DSP_PARTICIPANTS=participants,
                                        SOURCE_ROOTS={"*": [str(source.parent)]},
                                        STORAGE_URL=str(tmp_path / "tier")))
    application.extensions["dsp_negotiation"].deliver_inline = False
    application.extensions["dsp_transfer"].deliver_inline = False
    yield application
    application.extensions["connector"].engine.dispose()


@pytest.fixture
def agreed(app, dsp, offered, recorder, source) -> str:
    """A FINALIZED negotiation with the cardio partner; returns the agreement's DSP @id."""
    distribution = {"accessURL": source.as_uri(), "downloadURL": source.as_uri(), "format": "CSV"}
    target, offer = offered(SIMPLE_OFFER, distribution=[distribution])
    ack = start(dsp, request_message(target, offer, recorder))
    deliver_negotiations(app)
    verified = send(dsp, ack, "/agreement/verification", "ContractAgreementVerificationMessage")
    assert verified.status_code == 200
    deliver_negotiations(app)
    return received(recorder)[0]["agreement"]["@id"]


def transfer_request(agreement: str, recorder: Recorder, **extra: Any) -> dict[str, Any]:
    return {"@context": CONTEXT, "@type": "TransferRequestMessage", "consumerPid": f"urn:uuid:{uuid.uuid4()}",
            "agreementId": agreement, "format": "HttpData-PULL",
            "callbackAddress": recorder.url + "/partner/dsp/callback", **extra}


def ask(dsp, message: dict[str, Any], headers=PARTNER) -> dict[str, Any]:
    response = dsp.post(f"{BASE}/transfers/request", json=message, headers=headers)
    assert response.status_code == 201, response.get_json()
    assert message_schemas().validate(response.get_json(), expected="TransferProcess")
    return response.get_json()


def post(dsp, ack: dict[str, Any], suffix: str, message_type: str, headers=PARTNER, **fields: Any):
    body = {"@context": CONTEXT, "@type": message_type, "providerPid": ack["providerPid"],
            "consumerPid": ack["consumerPid"], **fields}
    return dsp.post(f"{BASE}/transfers/{ack['providerPid']}/{suffix}", json=body, headers=headers)


def state(dsp, provider_pid: str) -> str:
    response = dsp.get(f"{BASE}/transfers/{provider_pid}", headers=PARTNER)
    assert response.status_code == 200
    return response.get_json()["state"]


def test_tp_01_request_is_staged_then_started_with_a_bearer_data_address(app, dsp, agreed, recorder):
    message = transfer_request(agreed, recorder)
    ack = ask(dsp, message)
    assert ack["state"] == "REQUESTED" and ack["consumerPid"] == message["consumerPid"]
    assert deliver(app) >= 1
    (started,) = [body for body in received(recorder) if body["@type"] == "TransferStartMessage"]
    assert recorder.messages[-1][0] == f"/partner/dsp/callback/transfers/{message['consumerPid']}/start"
    address = started["dataAddress"]
    properties = {p["name"]: p["value"] for p in address["endpointProperties"]}
    assert address["endpointType"] == "https://w3id.org/idsa/v4.1/HTTP"
    assert address["endpoint"].endswith(f"/data/{ack['providerPid']}/") and properties["authType"] == "bearer"
    listing = dsp.get(f"{BASE}/data/{ack['providerPid']}/",
                      headers={"Authorization": f"Bearer {properties['authorization']}"})
    assert listing.status_code == 200 and listing.get_json()["rows"] == 20
    assert state(dsp, ack["providerPid"]) == "STARTED"


def test_tp_01_a_repeated_request_answers_the_same_process(dsp, agreed, recorder):
    message = transfer_request(agreed, recorder)
    assert ask(dsp, message)["providerPid"] == ask(dsp, message)["providerPid"]


def test_a_request_for_another_participants_agreement_answers_404(dsp, agreed, recorder):
    message = {**transfer_request(agreed, recorder), "callbackAddress": "https://radar.example.eu/dsp/callback"}
    response = dsp.post(f"{BASE}/transfers/request", json=message, headers=RADAR)
    assert response.status_code == 404 and response.get_json()["@type"] == "TransferError"


def test_a_request_for_an_unknown_agreement_answers_404(dsp, recorder):
    message = transfer_request(f"urn:uuid:{uuid.uuid4()}", recorder)
    assert dsp.post(f"{BASE}/transfers/request", json=message, headers=PARTNER).status_code == 404


def test_a_schema_invalid_transfer_message_is_refused_with_a_transfer_error(dsp, agreed, recorder):
    message = transfer_request(agreed, recorder)
    del message["format"]
    response = dsp.post(f"{BASE}/transfers/request", json=message, headers=PARTNER)
    assert response.status_code == 400 and response.get_json()["code"] == "invalid-message"
    assert response.get_json()["consumerPid"] == message["consumerPid"]


def test_a_format_we_do_not_offer_is_refused(dsp, agreed, recorder):
    message = transfer_request(agreed, recorder, format="HttpData-PUSH")
    response = dsp.post(f"{BASE}/transfers/request", json=message, headers=PARTNER)
    assert response.status_code == 400 and "AmazonS3-PUSH, HttpData-PULL" in response.get_json()["reason"][0]


def test_a_push_without_an_s3_data_address_is_refused_and_nothing_is_stored(app, dsp, agreed, recorder):
    message = transfer_request(agreed, recorder, format="AmazonS3-PUSH")
    response = dsp.post(f"{BASE}/transfers/request", json=message, headers=PARTNER)
    assert response.status_code == 400 and "dataAddress" in response.get_json()["reason"][0]
    message["dataAddress"] = {"@type": "DataAddress", "endpointType": "https://w3id.org/idsa/v4.1/HTTP",
                              "endpoint": "https://partner.example.eu/in"}
    response = dsp.post(f"{BASE}/transfers/request", json=message, headers=PARTNER)
    assert response.status_code == 400 and "AmazonS3" in response.get_json()["reason"][0]
    with app.extensions["connector"].session_factory() as session:
        assert session.scalars(select(Transfer)).all() == []


def test_tp_03_completion_from_requested_is_refused_and_changes_nothing(app, dsp, agreed, recorder):
    ack = ask(dsp, transfer_request(agreed, recorder))
    response = post(dsp, ack, "completion", "TransferCompletionMessage")
    assert response.status_code == 400 and "REQUESTED" in response.get_json()["reason"][0]
    assert state(dsp, ack["providerPid"]) == "REQUESTED"


def test_tp_03_after_termination_nothing_is_accepted_and_the_token_is_refused(app, dsp, agreed, recorder):
    ack = ask(dsp, transfer_request(agreed, recorder))
    deliver(app)
    started = [body for body in received(recorder) if body["@type"] == "TransferStartMessage"][0]
    token = {p["name"]: p["value"] for p in started["dataAddress"]["endpointProperties"]}["authorization"]
    ended = post(dsp, ack, "termination", "TransferTerminationMessage", code="done", reason=["enough"])
    assert ended.status_code == 200 and ended.get_json()["state"] == "TERMINATED"
    again = post(dsp, ack, "suspension", "TransferSuspensionMessage")
    assert again.status_code == 400
    denied = dsp.get(f"{BASE}/data/{ack['providerPid']}/", headers={"Authorization": f"Bearer {token}"})
    assert denied.status_code == 401


def test_revoking_the_agreement_ends_the_token_and_the_transfer(app, dsp, agreed, recorder, client, actors):
    ack = ask(dsp, transfer_request(agreed, recorder))
    deliver(app)
    started = [body for body in received(recorder) if body["@type"] == "TransferStartMessage"][0]
    token = {p["name"]: p["value"] for p in started["dataAddress"]["endpointProperties"]}["authorization"]
    local = agreed.removeprefix("urn:uuid:")
    revoked = client.post(f"/api/v1/agreements/{local}/revoke", json={"comment": "permit withdrawn"},
                          headers=actors.headers("steward"))
    assert revoked.status_code == 200, revoked.get_json()
    assert dsp.get(f"{BASE}/data/{ack['providerPid']}/",
                   headers={"Authorization": f"Bearer {token}"}).status_code == 401
    deliver(app)
    assert state(dsp, ack["providerPid"]) == "TERMINATED"
    assert received(recorder)[-1]["@type"] == "TransferTerminationMessage"


def test_the_data_endpoint_without_a_token_answers_401(dsp):
    assert dsp.get(f"{BASE}/data/urn:uuid:{uuid.uuid4()}/").status_code == 401
