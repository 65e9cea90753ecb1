"""Contract negotiation between two instances of the connector (DSP 2025-1), each with its own
database, served on loopback by werkzeug in threads and configured as each other's
participant. Our team starts on the consumer's management API; every message that crosses
is checked against the official schemas, as sent and as answered."""
# ruff: noqa: F811  (the pair fixtures are imported and used by name)

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connector.identity import service as identity
from connector.uow import UnitOfWork
from tests.dsp.conftest import OWN_ID, SIMPLE_OFFER
from tests.dsp.conftest import DspClient as CheckingClient
from tests.dsp.test_negotiation_provider import PAST
from tests.dsp.two_connectors import (  # noqa: F401  (fixtures)
    BASE,
    CONSUMER_ID,
    CONTEXT,
    PAIR_TOKEN,
    Pair,
    consumer_database,
    pair,
    provider_process,
    two_connectors,
)


@pytest.fixture
def app(clean_dsp_tables: str, clean_database: str, consumer_database: str, tmp_path: Path, dsp_env: None,
        monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The provider (the root fixtures' database); ``pair`` adds the consumer."""
    with two_connectors(clean_database, consumer_database, tmp_path, monkeypatch) as provider:
        yield provider


def _team(pair: Pair) -> dict[str, str]:
    return pair.team_headers()


def _negotiate(pair: Pair, register, offer_body: dict[str, Any], *, by_id: bool = True) -> dict[str, Any]:
    dataset = register(offer_body, accessRights="PUBLIC")
    target = f"urn:uuid:{dataset['id']}"
    offer: Any = f"urn:uuid:{dataset['offers'][0]['id']}"
    if not by_id:
        remote = pair.consumer.extensions["dsp_negotiation"].runtime.client.dataset(
            pair.consumer.extensions["dsp"].participants.get(OWN_ID), target)
        offer = remote["hasPolicy"][0]
    response = pair.consumer.test_client().post(
        "/api/v1/negotiations", headers=_team(pair),
        json={"participant": OWN_ID, "dataset": target, "offer": offer, "project": "ai-team"})
    assert response.status_code == 201, response.get_json()
    started = response.get_json()
    assert started["state"] == "REQUESTED" and started["role"] == "consumer"
    return started


def _consumer_view(pair: Pair, negotiation_id: str) -> dict[str, Any]:
    return pair.consumer_process("negotiations", negotiation_id)


def _provider_view(client, actors, consumer_pid: str) -> dict[str, Any]:
    return provider_process(client, actors, "negotiations", consumer_pid)


def test_cn_c_01_negotiation_from_our_team_reaches_finalized_on_both_sides(pair, register, client, actors):
    started = _negotiate(pair, register, SIMPLE_OFFER)
    pair.pump()
    ours = _consumer_view(pair, started["id"])
    assert ours["state"] == "FINALIZED"
    theirs = _provider_view(client, actors, ours["consumerPid"])
    assert theirs["state"] == "FINALIZED" and theirs["providerPid"] == ours["providerPid"]
    assert ours["agreement"]["@id"] == f"urn:uuid:{theirs['localAgreement']}"
    assert ours["agreement"]["assignee"] == CONSUMER_ID and ours["agreement"]["assigner"] == OWN_ID
    assert pair.types() == ["ContractRequestMessage", "ContractAgreementMessage",
                            "ContractAgreementVerificationMessage",
                            "ContractNegotiationEventMessage:FINALIZED"]
    initial_ack = pair.exchanged[0][1]
    assert initial_ack["@type"] == "ContractNegotiation" and initial_ack["state"] == "REQUESTED"
    agreement = client.get(f"/api/v1/agreements/{theirs['localAgreement']}",
                           headers=actors.headers("steward"))
    assert agreement.status_code == 200 and agreement.get_json()["project"] == "cardio"


def test_cn_c_01_the_full_remote_offer_is_accepted_as_the_catalog_returned_it(pair, register):
    started = _negotiate(pair, register, SIMPLE_OFFER, by_id=False)
    pair.pump()
    assert _consumer_view(pair, started["id"])["state"] == "FINALIZED"


def test_cn_c_02_a_denied_negotiation_ends_terminated_with_the_evaluators_reason(pair, register):
    started = _negotiate(pair, register, PAST)
    pair.pump()
    ours = _consumer_view(pair, started["id"])
    assert ours["state"] == "TERMINATED"
    assert ours["termination"]["code"] == "policy-denied"
    assert any("2020-01-01" in reason for reason in ours["termination"]["reason"])
    assert pair.types() == ["ContractRequestMessage", "ContractNegotiationTerminationMessage"]


def test_cn_c_02_termination_by_the_consumer_team_reaches_the_provider(pair, register, client, actors):
    started = _negotiate(pair, register, {**SIMPLE_OFFER, "approval": "steward"})
    pair.pump()
    assert _consumer_view(pair, started["id"])["state"] == "REQUESTED"
    answer = pair.consumer.test_client().post(f"/api/v1/negotiations/{started['id']}/terminate",
                                              json={"reason": "found the data elsewhere"},
                                              headers=_team(pair))
    assert answer.status_code == 200 and answer.get_json()["state"] == "TERMINATED"
    pair.pump()
    theirs = _provider_view(client, actors, started["consumerPid"])
    assert theirs["state"] == "TERMINATED" and theirs["termination"]["reason"] == ["found the data elsewhere"]


def test_cn_c_03_finalized_before_the_agreement_is_refused_by_the_consumer(pair, register):
    started = _negotiate(pair, register, {**SIMPLE_OFFER, "approval": "steward"})
    pair.pump()
    ours = _consumer_view(pair, started["id"])
    checked = CheckingClient(pair.consumer.test_client())
    body = {"@context": CONTEXT, "@type": "ContractNegotiationEventMessage", "eventType": "FINALIZED",
            "providerPid": ours["providerPid"], "consumerPid": ours["consumerPid"]}
    response = checked.post(f"{BASE}/callback/negotiations/{ours['consumerPid']}/events", json=body,
                            headers={"Authorization": f"Bearer {PAIR_TOKEN}"})
    assert response.status_code == 400
    assert response.get_json()["consumerPid"] == ours["consumerPid"]
    assert _consumer_view(pair, started["id"])["state"] == "REQUESTED"


def test_another_team_does_not_see_our_negotiation(pair, register):
    started = _negotiate(pair, register, SIMPLE_OFFER)
    unit = UnitOfWork(pair.consumer.extensions["connector"].session_factory)
    identity.create_project(unit, "other-team", "lab")
    _, carol = identity.create_user(unit, "carol", "member", projects=("other-team",))
    response = pair.consumer.test_client().get(f"/api/v1/negotiations/{started['id']}",
                                               headers={"Authorization": f"Bearer {carol}"})
    assert response.status_code == 404 and response.mimetype == "application/problem+json"


def test_cn_c_01_with_inline_delivery_the_negotiation_finalizes_without_a_worker(pair, register):
    for application in (pair.provider, pair.consumer):
        application.extensions["dsp_negotiation"].deliver_inline = True
    dataset = register(SIMPLE_OFFER, accessRights="PUBLIC")
    body = json.dumps({"participant": OWN_ID, "dataset": f"urn:uuid:{dataset['id']}",
                       "offer": f"urn:uuid:{dataset['offers'][0]['id']}", "project": "ai-team"}).encode()
    url = pair.consumer.config["PUBLIC_BASE_URL"] + "/api/v1/negotiations"
    headers = {**_team(pair), "Content-Type": "application/json"}
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310  (loopback)
        assert response.status == 201
        started = json.loads(response.read())
    deadline = time.monotonic() + 20
    while _consumer_view(pair, started["id"])["state"] != "FINALIZED":
        assert time.monotonic() < deadline, _consumer_view(pair, started["id"])
        time.sleep(0.1)
    # The recording client logs a message when its answer returns: with inline delivery the
    # provider sends FINALIZED while the consumer's verification is still being answered, so
    # the two may be logged in either order.
    assert pair.types()[-2:] in (
        ["ContractAgreementVerificationMessage", "ContractNegotiationEventMessage:FINALIZED"],
        ["ContractNegotiationEventMessage:FINALIZED", "ContractAgreementVerificationMessage"])
