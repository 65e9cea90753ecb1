"""Contract negotiation, provider side (DSP 2025-1): the Flask test client plays the consumer,
a real HTTP server on loopback is its callback. Named after the Eclipse Dataspace TCK
scenarios (CN:01 happy paths, CN:02 terminations, CN:03 negatives) where they apply."""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from connector.app import create_app
from connector.dsp.messages import message_schemas
from connector.dsp.negotiation_api import deliver
from tests.dsp.conftest import (
    OWN_ID,
    PARTICIPANTS,
    PARTNER,
    RADAR,
    SIMPLE_OFFER,
    dsp_config,
)

BASE = "/dsp/2025-1"
CONTEXT = ["https://w3id.org/dspace/2025/1/context.jsonld"]
CONSUMER = "urn:partner:cardio"
PAST = {"policy": {"@type": "Offer", "permission": [{"action": "use", "constraint": [
    {"leftOperand": "dateTime", "operator": "lteq", "rightOperand": "2020-01-01T00:00:00Z"}]}]}}


class Recorder:
    """A consumer's callback endpoint: records every message posted and answers 200."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self.authorizations: list[str | None] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                recorder.messages.append((self.path, body))
                recorder.authorizations.append(self.headers.get("Authorization"))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def types(self) -> list[str]:
        return [body["@type"] for _, body in self.messages]


@pytest.fixture
def recorder():
    found = Recorder()
    found.thread.start()
    yield found
    found.server.shutdown()
    found.server.server_close()


@pytest.fixture
def app(clean_dsp_tables: str, clean_database: str, tmp_path: Path, dsp_env: None, recorder: Recorder):
    """Our connector as provider; the cardio partner's address is the recorder."""
    participants = [dict(PARTICIPANTS[0], address=recorder.url + "/partner/dsp"), *PARTICIPANTS[1:]]
    application = create_app(dsp_config(clean_database, tmp_path, DSP_PARTICIPANTS=participants))
    application.extensions["dsp_negotiation"].deliver_inline = False
    yield application
    application.extensions["connector"].engine.dispose()


@pytest.fixture
def offered(register, dsp):
    """Register a public dataset with the given offer; returns (dataset @id, DSP offer)."""

    def make(offer: dict[str, Any] = SIMPLE_OFFER, **fields: Any) -> tuple[str, dict[str, Any]]:
        dataset = register(offer, accessRights="PUBLIC", **fields)
        iri = f"urn:uuid:{dataset['id']}"
        answer = dsp.get(f"{BASE}/catalog/datasets/{iri}", headers=PARTNER)
        assert answer.status_code == 200
        return iri, answer.get_json()["hasPolicy"][0]

    return make


def request_message(target: str, offer: dict[str, Any], recorder: Recorder, **extra: Any) -> dict[str, Any]:
    return {"@context": CONTEXT, "@type": "ContractRequestMessage", "consumerPid": f"urn:uuid:{uuid.uuid4()}",
            "offer": {**offer, "target": target}, "callbackAddress": recorder.url + "/partner/dsp/callback",
            **extra}


def start(dsp, message: dict[str, Any], headers=PARTNER) -> dict[str, Any]:
    response = dsp.post(f"{BASE}/negotiations/request", json=message, headers=headers)
    assert response.status_code == 201, response.get_json()
    ack = response.get_json()
    assert message_schemas().validate(ack, expected="ContractNegotiation") == "ContractNegotiation"
    assert ack["consumerPid"] == message["consumerPid"]
    return ack


def state(dsp, provider_pid: str, headers=PARTNER) -> str:
    response = dsp.get(f"{BASE}/negotiations/{provider_pid}", headers=headers)
    assert response.status_code == 200
    assert message_schemas().validate(response.get_json(), expected="ContractNegotiation")
    return response.get_json()["state"]


def received(recorder: Recorder) -> list[dict[str, Any]]:
    """The messages the callback got, each checked against the official schema."""
    for _, body in recorder.messages:
        message_schemas().validate(body)
    return [body for _, body in recorder.messages]


def pids(ack: dict[str, Any]) -> dict[str, str]:
    return {"providerPid": ack["providerPid"], "consumerPid": ack["consumerPid"]}


def send(dsp, ack: dict[str, Any], suffix: str, message_type: str, headers=PARTNER, **fields: Any):
    body = {"@context": CONTEXT, "@type": message_type, **pids(ack), **fields}
    return dsp.post(f"{BASE}/negotiations/{ack['providerPid']}{suffix}", json=body, headers=headers)


def test_cn_01_01_request_for_our_offer_is_agreed_verified_and_finalized(app, dsp, offered, recorder,
                                                                       client, actors):
    target, offer = offered()
    message = request_message(target, offer, recorder)
    ack = start(dsp, message)
    assert ack["state"] == "REQUESTED"
    assert deliver(app) == 1
    (agreement_message,) = received(recorder)
    path, _ = recorder.messages[0]
    assert path == f"/partner/dsp/callback/negotiations/{message['consumerPid']}/agreement"
    assert recorder.authorizations == [PARTNER["Authorization"]]
    assert agreement_message["@type"] == "ContractAgreementMessage"
    agreement = agreement_message["agreement"]
    assert (agreement["target"], agreement["assigner"], agreement["assignee"]) == (target, OWN_ID, CONSUMER)
    assert agreement["permission"] == offer["permission"]
    assert state(dsp, ack["providerPid"]) == "AGREED"
    # the same Agreement row as one reached through our API
    local_id = agreement["@id"].removeprefix("urn:uuid:")
    ours = client.get(f"/api/v1/agreements/{local_id}", headers=actors.headers("steward"))
    assert ours.status_code == 200 and ours.get_json()["state"] == "active"

    response = send(dsp, ack, "/agreement/verification", "ContractAgreementVerificationMessage")
    assert response.status_code == 200
    assert state(dsp, ack["providerPid"]) == "FINALIZED"
    assert deliver(app) == 1
    assert received(recorder)[-1]["@type"] == "ContractNegotiationEventMessage"
    assert received(recorder)[-1]["eventType"] == "FINALIZED"


def test_cn_01_01_a_repeated_initial_request_answers_the_same_negotiation(dsp, offered, recorder):
    target, offer = offered()
    message = request_message(target, offer, recorder)
    assert start(dsp, message)["providerPid"] == start(dsp, message)["providerPid"]


def test_cn_01_02_a_changed_offer_is_answered_with_ours_then_accepted_and_agreed(app, dsp, offered, recorder):
    target, offer = offered()
    changed = {**offer, "permission": [{"action": "use"}]}
    ack = start(dsp, request_message(target, changed, recorder))
    deliver(app)
    (counter,) = received(recorder)
    assert counter["@type"] == "ContractOfferMessage"
    assert counter["offer"]["@id"] == offer["@id"] and counter["offer"]["permission"] == offer["permission"]
    assert counter["offer"]["target"] == target
    assert state(dsp, ack["providerPid"]) == "OFFERED"
    response = send(dsp, ack, "/events", "ContractNegotiationEventMessage", eventType="ACCEPTED")
    assert response.status_code == 200
    deliver(app)
    assert received(recorder)[-1]["@type"] == "ContractAgreementMessage"
    assert state(dsp, ack["providerPid"]) == "AGREED"


def test_cn_02_a_counter_offer_that_changes_the_target_is_terminated_with_a_reason(
        app, dsp, offered, recorder):
    target, offer = offered()
    other, _ = offered()
    ack = start(dsp, request_message(target, {**offer, "permission": [{"action": "use"}]}, recorder))
    response = send(dsp, ack, "/request", "ContractRequestMessage", offer={**offer, "target": other})
    assert response.status_code == 200 and response.get_json()["state"] == "REQUESTED"
    assert state(dsp, ack["providerPid"]) == "TERMINATED"
    deliver(app)
    termination = received(recorder)[-1]
    assert termination["@type"] == "ContractNegotiationTerminationMessage"
    assert "changes the target" in termination["reason"][0]


def test_cn_02_an_offer_the_policy_denies_is_terminated_with_the_evaluators_reasons(
        app, dsp, offered, recorder):
    target, offer = offered(PAST)
    ack = start(dsp, request_message(target, offer, recorder))
    assert state(dsp, ack["providerPid"]) == "TERMINATED"
    deliver(app)
    (termination,) = received(recorder)
    assert termination["@type"] == "ContractNegotiationTerminationMessage"
    assert termination["code"] == "policy-denied"
    assert any("2020-01-01" in reason for reason in termination["reason"]), termination["reason"]


def test_cn_02_an_unknown_offer_id_is_terminated_naming_it(app, dsp, offered, recorder):
    target, offer = offered()
    ack = start(dsp, request_message(target, {**offer, "@id": "urn:uuid:not-ours"}, recorder))
    deliver(app)
    (termination,) = received(recorder)
    assert ack["state"] == "REQUESTED" and state(dsp, ack["providerPid"]) == "TERMINATED"
    assert "urn:uuid:not-ours" in termination["reason"][0]


def _steward_request(dsp, offered, recorder, client, actors):
    target, offer = offered({**SIMPLE_OFFER, "approval": "steward"})
    ack = start(dsp, request_message(target, offer, recorder))
    (pending,) = client.get("/api/v1/access-requests?state=pending_approval",
                            headers=actors.headers("steward")).get_json()["items"]
    return ack, pending


def test_steward_approval_moves_a_waiting_negotiation_to_agreed(app, dsp, offered, recorder, client, actors):
    ack, pending = _steward_request(dsp, offered, recorder, client, actors)
    assert deliver(app) == 0 and state(dsp, ack["providerPid"]) == "REQUESTED"
    approved = client.post(f"/api/v1/access-requests/{pending['id']}/approve", json={"comment": "ok"},
                           headers=actors.headers("steward"))
    assert approved.status_code == 200
    assert deliver(app) == 1
    (agreement,) = received(recorder)
    assert agreement["@type"] == "ContractAgreementMessage"
    assert agreement["agreement"]["@id"] == f"urn:uuid:{approved.get_json()['agreement']}"
    assert state(dsp, ack["providerPid"]) == "AGREED"


def test_steward_rejection_terminates_the_negotiation_with_the_stewards_reason(
        app, dsp, offered, recorder, client, actors):
    ack, pending = _steward_request(dsp, offered, recorder, client, actors)
    rejected = client.post(f"/api/v1/access-requests/{pending['id']}/reject",
                           json={"comment": "no ethics approval on file"}, headers=actors.headers("steward"))
    assert rejected.status_code == 200
    deliver(app)
    (termination,) = received(recorder)
    assert termination["@type"] == "ContractNegotiationTerminationMessage"
    assert "no ethics approval on file" in termination["reason"]
    assert state(dsp, ack["providerPid"]) == "TERMINATED"


def test_cn_02_termination_by_the_consumer_ends_the_negotiation(app, dsp, offered, recorder):
    target, offer = offered({**SIMPLE_OFFER, "approval": "steward"})
    ack = start(dsp, request_message(target, offer, recorder))
    response = send(dsp, ack, "/termination", "ContractNegotiationTerminationMessage", code="changed-mind",
                    reason=["the project was cancelled"])
    assert response.status_code == 200
    assert state(dsp, ack["providerPid"]) == "TERMINATED"
    again = send(dsp, ack, "/events", "ContractNegotiationEventMessage", eventType="ACCEPTED")
    assert again.status_code == 400 and "TERMINATED" in again.get_json()["reason"][0]


def test_cn_02_termination_by_the_provider_steward_tells_the_consumer(app, dsp, offered, recorder, client,
                                                                       actors):
    target, offer = offered({**SIMPLE_OFFER, "approval": "steward"})
    ack = start(dsp, request_message(target, offer, recorder))
    (ours,) = client.get("/api/v1/negotiations?role=provider", headers=actors.headers("steward")).get_json()[
        "items"]
    assert ours["providerPid"] == ack["providerPid"]
    answer = client.post(f"/api/v1/negotiations/{ours['id']}/terminate", json={"reason": "dataset retired"},
                         headers=actors.headers("steward"))
    assert answer.status_code == 200 and answer.get_json()["state"] == "TERMINATED"
    deliver(app)
    (termination,) = received(recorder)
    assert termination["reason"] == ["dataset retired"] and termination["providerPid"] == ack["providerPid"]
    assert client.get(f"/api/v1/negotiations/{ours['id']}",
                      headers=actors.headers("member")).status_code == 404


def test_cn_03_verification_before_agreement_is_refused_with_a_negotiation_error(dsp, offered, recorder):
    target, offer = offered({**SIMPLE_OFFER, "approval": "steward"})
    ack = start(dsp, request_message(target, offer, recorder))
    response = send(dsp, ack, "/agreement/verification", "ContractAgreementVerificationMessage")
    assert response.status_code == 400
    error = response.get_json()
    assert error["@type"] == "ContractNegotiationError" and pids(error) == pids(ack)
    assert "REQUESTED" in error["reason"][0]
    assert state(dsp, ack["providerPid"]) == "REQUESTED"


def test_cn_03_events_after_finalized_and_finalized_from_the_consumer_are_refused(app, dsp, offered,
                                                                                  recorder):
    target, offer = offered()
    ack = start(dsp, request_message(target, offer, recorder))
    deliver(app)
    verified = send(dsp, ack, "/agreement/verification", "ContractAgreementVerificationMessage")
    assert verified.status_code == 200
    finalized = send(dsp, ack, "/events", "ContractNegotiationEventMessage", eventType="FINALIZED")
    assert finalized.status_code == 400
    accepted = send(dsp, ack, "/events", "ContractNegotiationEventMessage", eventType="ACCEPTED")
    assert accepted.status_code == 400 and "FINALIZED" in accepted.get_json()["reason"][0]
    assert state(dsp, ack["providerPid"]) == "FINALIZED"


def test_another_participants_negotiation_answers_404_as_if_unknown(dsp, offered, recorder):
    target, offer = offered()
    ack = start(dsp, request_message(target, offer, recorder))
    assert dsp.get(f"{BASE}/negotiations/{ack['providerPid']}", headers=RADAR).status_code == 404
    foreign = send(dsp, ack, "/termination", "ContractNegotiationTerminationMessage", headers=RADAR)
    assert foreign.status_code == 404
    assert dsp.get(f"{BASE}/negotiations/urn:uuid:{uuid.uuid4()}", headers=PARTNER).status_code == 404
    assert state(dsp, ack["providerPid"]) != "TERMINATED"


@pytest.mark.parametrize("drop", ["offer", "consumerPid", "@context"])
def test_a_schema_invalid_request_is_refused_and_nothing_is_stored(dsp, offered, recorder, client, actors,
                                                                    drop):
    target, offer = offered()
    message = request_message(target, offer, recorder)
    del message[drop]
    response = dsp.post(f"{BASE}/negotiations/request", json=message, headers=PARTNER)
    assert response.status_code == 400 and response.get_json()["code"] == "invalid-message"
    assert client.get("/api/v1/negotiations", headers=actors.headers("admin")).get_json()["items"] == []


def test_a_loopback_callback_address_of_no_participant_is_refused(dsp, offered, recorder, client, actors):
    target, offer = offered()
    message = request_message(target, offer, recorder, callbackAddress="http://127.0.0.1:1/internal")
    response = dsp.post(f"{BASE}/negotiations/request", json=message, headers=PARTNER)
    assert response.status_code == 400 and response.get_json()["code"] == "callback-refused"
    assert client.get("/api/v1/negotiations", headers=actors.headers("admin")).get_json()["items"] == []


def test_an_unauthenticated_negotiation_request_is_refused(dsp, offered, recorder):
    target, offer = offered()
    response = dsp.post(f"{BASE}/negotiations/request", json=request_message(target, offer, recorder))
    assert response.status_code == 401


def test_a_request_for_a_dataset_the_participant_may_not_see_answers_404(dsp, register, recorder):
    dataset = register(SIMPLE_OFFER, steward="defence-steward", accessRights="RESTRICTED")
    offer = {"@id": f"urn:uuid:{dataset['offers'][0]['id']}", "@type": "Offer",
             "permission": [{"action": "use"}]}
    response = dsp.post(f"{BASE}/negotiations/request", headers=PARTNER,
                        json=request_message(f"urn:uuid:{dataset['id']}", offer, recorder))
    assert response.status_code == 404

