"""Provider scenarios of the Eclipse Dataspace TCK that had no test of ours, in the TCK's own
meaning (eclipse-dataspacetck/dsp-tck, ``ContractNegotiationProvider0xTest``,
``TransferProcessProvider0xTest``): our connector served on loopback, the TCK's consumer played
over real HTTP (:mod:`tests.dsp.tck`), our answers reaching its recording callback. Where the
TCK scripts the provider's move (offer, agreement, termination, completion), the test makes
our provider take it the way it would in production: by the offer it compares, by a steward's
action, by an agreement that ended."""
# ruff: noqa: F811  (fixtures imported from the negotiation and transfer provider tests)

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from connector.app import create_app
from connector.dsp.transfer_api import deliver
from tests.dsp.conftest import PARTICIPANTS, PARTNER, SIMPLE_OFFER, dsp_config
from tests.dsp.tck import TckConsumer
from tests.dsp.test_negotiation_provider import Recorder, offered, received, recorder  # noqa: F401
from tests.dsp.test_transfer_provider import source  # noqa: F401
from tests.dsp.two_connectors import free_port, serve

BASE = "/dsp/2025-1"


@pytest.fixture
def app(clean_dsp_tables: str, clean_database: str, tmp_path: Path, dsp_env: None, recorder: Recorder,
        source: Path):
    """Our connector as provider, served on loopback; the cardio partner (the TCK) calls back to
    the recorder. Delivery is driven by the test (``deliver``), as the TCK waits for it."""
    participants = [dict(PARTICIPANTS[0], address=recorder.url + "/partner/dsp"), *PARTICIPANTS[1:]]
    application = create_app(dsp_config(clean_database, tmp_path, DSP_PARTICIPANTS=participants,
                                        PUBLIC_BASE_URL=f"http://127.0.0.1:{free_port()}",
                                        SOURCE_ROOTS={"*": [str(source.parent)]},
                                        STORAGE_URL=str(tmp_path / "tier")))
    application.extensions["dsp_negotiation"].deliver_inline = False
    application.extensions["dsp_transfer"].deliver_inline = False
    server, thread = serve(application)
    yield application
    server.shutdown()
    thread.join()
    server.server_close()
    application.extensions["connector"].engine.dispose()


@pytest.fixture
def tck(app, recorder: Recorder) -> TckConsumer:
    return TckConsumer(app.config["PUBLIC_BASE_URL"] + BASE, PARTNER["Authorization"],
                       recorder.url + "/partner/dsp/callback")


def types(recorder: Recorder) -> list[str]:
    return [body["@type"] for body in received(recorder)]


def steward_view(client, actors, kind: str, consumer_pid: str) -> dict[str, Any]:
    items = client.get(f"/api/v1/{kind}?role=provider", headers=actors.headers("steward")).get_json()["items"]
    (found,) = [item for item in items if item["consumerPid"] == consumer_pid]
    return found


def steward_acts(client, actors, kind: str, process_id: str, action: str) -> dict[str, Any]:
    answer = client.post(f"/api/v1/{kind}/{process_id}/{action}", json={"reason": f"{action} by the steward"},
                         headers=actors.headers("steward"))
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


# --- contract negotiation -------------------------------------------------------------------

def test_cn_01_01_offer_received_then_consumer_terminated(app, tck, offered, recorder):
    """Our offer constrains the purpose; the TCK asks under its id with a bare ``use``: we answer
    with our offer, then accept the consumer's termination."""
    dataset, offer = offered(SIMPLE_OFFER)
    pids = tck.contract_request(dataset, offer["@id"])
    assert tck.state("negotiations", pids["providerPid"]) == "OFFERED"  # our side moves at once
    deliver(app)
    assert types(recorder) == ["ContractOfferMessage"]
    assert recorder.messages[0][0] == f"/partner/dsp/callback/negotiations/{pids['consumerPid']}/offers"
    assert tck.state("negotiations", pids["providerPid"]) == "OFFERED"
    ended = tck.terminate_negotiation(pids)
    assert ended.status_code == 200 and ended.json()["state"] == "TERMINATED"
    assert tck.state("negotiations", pids["providerPid"]) == "TERMINATED"
    assert deliver(app) == 0  # nothing owed to a consumer that ended it


def test_cn_01_02_offer_received_then_counter_offer_is_terminated_by_the_provider(app, tck, offered,
                                                                                 recorder):
    dataset, offer = offered(SIMPLE_OFFER)
    pids = tck.contract_request(dataset, offer["@id"])
    deliver(app)
    assert tck.state("negotiations", pids["providerPid"]) == "OFFERED"
    countered = tck.counter_offer(pids, dataset, "CD123:ACN0102:456")
    assert countered.status_code == 200 and countered.json()["state"] == "REQUESTED"
    deliver(app)
    assert types(recorder) == ["ContractOfferMessage", "ContractNegotiationTerminationMessage"]
    assert "CD123:ACN0102:456" in received(recorder)[-1]["reason"][0]
    assert tck.state("negotiations", pids["providerPid"]) == "TERMINATED"


def test_cn_02_07_an_agreement_revoked_before_verification_is_terminated_not_finalized(
        app, tck, offered, recorder, client, actors):
    dataset, offer = offered(SIMPLE_OFFER)
    pids = tck.contract_request(dataset, offer["@id"], offer["permission"])
    deliver(app)
    (agreement,) = received(recorder)
    assert agreement["@type"] == "ContractAgreementMessage"
    local = agreement["agreement"]["@id"].removeprefix("urn:uuid:")
    revoked = client.post(f"/api/v1/agreements/{local}/revoke", json={"comment": "ethics approval withdrawn"},
                          headers=actors.headers("steward"))
    assert revoked.status_code == 200, revoked.get_json()
    verified = tck.verify(pids)
    assert verified.status_code == 200 and verified.json()["state"] == "VERIFIED"
    deliver(app)
    assert types(recorder) == ["ContractAgreementMessage", "ContractNegotiationTerminationMessage"]
    termination = received(recorder)[-1]
    assert termination["code"] == "agreement-ended"
    assert "revoked" in termination["reason"][0] and "ethics approval withdrawn" in termination["reason"][0]
    assert tck.state("negotiations", pids["providerPid"]) == "TERMINATED"


# --- transfer process -----------------------------------------------------------------------

@pytest.fixture
def agreement(app, tck, offered, recorder, source) -> str:
    """A FINALIZED negotiation of the TCK for a staged-able dataset; the agreement's @id."""
    distribution = {"accessURL": source.as_uri(), "downloadURL": source.as_uri(), "format": "CSV"}
    dataset, offer = offered(SIMPLE_OFFER, distribution=[distribution])
    pids = tck.contract_request(dataset, offer["@id"], offer["permission"])
    deliver(app)
    assert tck.verify(pids).status_code == 200
    deliver(app)
    assert tck.state("negotiations", pids["providerPid"]) == "FINALIZED"
    found = received(recorder)[0]["agreement"]["@id"]
    recorder.messages.clear()
    return found


def data_token(start: dict[str, Any]) -> tuple[str, str]:
    properties = {p["name"]: p["value"] for p in start["dataAddress"]["endpointProperties"]}
    return start["dataAddress"]["endpoint"], properties["authorization"]


def manifest(start: dict[str, Any]) -> int:
    endpoint, token = data_token(start)
    return requests.get(endpoint, headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code


def test_tp_01_02_provider_started_then_provider_completed(app, tck, agreement, recorder, client, actors):
    pids = tck.transfer_request(agreement)
    deliver(app)
    assert types(recorder) == ["TransferStartMessage"]
    assert tck.state("transfers", pids["providerPid"]) == "STARTED"
    start = received(recorder)[0]
    assert manifest(start) == 200
    ours = steward_view(client, actors, "transfers", pids["consumerPid"])
    assert steward_acts(client, actors, "transfers", ours["id"], "complete")["state"] == "COMPLETED"
    deliver(app)
    assert types(recorder) == ["TransferStartMessage", "TransferCompletionMessage"]
    assert recorder.messages[-1][0] == f"/partner/dsp/callback/transfers/{pids['consumerPid']}/completion"
    assert tck.state("transfers", pids["providerPid"]) == "COMPLETED"
    assert manifest(start) == 401


def test_tp_01_04_provider_started_suspended_started_completed(app, tck, agreement, recorder, client, actors):
    pids = tck.transfer_request(agreement)
    deliver(app)
    ours = steward_view(client, actors, "transfers", pids["consumerPid"])
    assert steward_acts(client, actors, "transfers", ours["id"], "suspend")["state"] == "SUSPENDED"
    deliver(app)
    assert tck.state("transfers", pids["providerPid"]) == "SUSPENDED"
    assert steward_acts(client, actors, "transfers", ours["id"], "resume")["state"] == "STARTED"
    deliver(app)
    assert tck.state("transfers", pids["providerPid"]) == "STARTED"
    assert steward_acts(client, actors, "transfers", ours["id"], "complete")["state"] == "COMPLETED"
    deliver(app)
    assert types(recorder) == ["TransferStartMessage", "TransferSuspensionMessage", "TransferStartMessage",
                               "TransferCompletionMessage"]
    first, second = (body for body in received(recorder) if body["@type"] == "TransferStartMessage")
    assert data_token(first)[1] != data_token(second)[1]
    assert tck.state("transfers", pids["providerPid"]) == "COMPLETED"
    assert manifest(second) == 401


def test_tp_01_05_a_requested_transfer_terminated_by_the_provider(app, tck, agreement, recorder, client,
                                                                  actors):
    pids = tck.transfer_request(agreement)
    assert tck.state("transfers", pids["providerPid"]) == "REQUESTED"
    ours = steward_view(client, actors, "transfers", pids["consumerPid"])
    assert steward_acts(client, actors, "transfers", ours["id"], "terminate")["state"] == "TERMINATED"
    deliver(app)
    assert types(recorder) == ["TransferTerminationMessage"]
    assert received(recorder)[0]["reason"] == ["terminate by the steward"]
    assert tck.state("transfers", pids["providerPid"]) == "TERMINATED"


def test_tp_02_04_consumer_suspended_started_then_completed(app, tck, agreement, recorder):
    """Disabled in the TCK itself (``@Disabled`` on ``tp_02_04``); we run it anyway."""
    pids = tck.transfer_request(agreement)
    deliver(app)
    start = received(recorder)[0]
    suspended = tck.transfer_message(pids, "suspension", "TransferSuspensionMessage", code="pause")
    assert suspended.status_code == 200 and suspended.json()["state"] == "SUSPENDED"
    assert manifest(start) == 401
    resumed = tck.transfer_message(pids, "start", "TransferStartMessage")
    assert resumed.status_code == 200 and resumed.json()["state"] == "STARTED"
    assert manifest(start) == 200  # a consumer that resumes keeps its token
    completed = tck.transfer_message(pids, "completion", "TransferCompletionMessage")
    assert completed.status_code == 200 and completed.json()["state"] == "COMPLETED"
    assert tck.state("transfers", pids["providerPid"]) == "COMPLETED"
    deliver(app)
    assert types(recorder) == ["TransferStartMessage"]  # the consumer's moves need no answer


def test_tp_03_02_suspension_of_a_requested_transfer_is_refused_and_changes_nothing(app, tck, agreement):
    pids = tck.transfer_request(agreement)
    refused = tck.transfer_message(pids, "suspension", "TransferSuspensionMessage")
    assert refused.status_code == 400
    error = refused.json()
    assert error["@type"] == "TransferError" and error["providerPid"] == pids["providerPid"]
    assert "REQUESTED" in error["reason"][0]
    assert tck.state("transfers", pids["providerPid"]) == "REQUESTED"
