"""The outbox of protocol messages: written with the state change, retried with back-off
while the peer is unreachable, and ending the negotiation locally when it stays so."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

from sqlalchemy import select

from connector.dsp.models import OutboxMessage, OutboxState
from connector.dsp.negotiation_api import deliver
from connector.dsp.outbox import MAX_ATTEMPTS
from tests.dsp.conftest import PARTICIPANTS, PARTNER, SIMPLE_OFFER

BASE = "/dsp/2025-1"
CONTEXT = ["https://w3id.org/dspace/2025/1/context.jsonld"]


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


def _outbox(uow) -> list[OutboxMessage]:
    with uow:
        return list(uow.session.scalars(select(OutboxMessage).order_by(OutboxMessage.pk)))


def test_an_unreachable_consumer_gets_the_agreement_retried_then_the_negotiation_ends(
        app, dsp, register, uow):
    """The cardio partner's configured address is a closed port on loopback."""
    clock = Clock()
    context = app.extensions["dsp_negotiation"]
    context.deliver_inline = False
    context.runtime = dataclasses.replace(context.runtime, clock=clock)
    dataset = register(SIMPLE_OFFER, accessRights="PUBLIC")
    offer = dsp.get(f"{BASE}/catalog/datasets/urn:uuid:{dataset['id']}", headers=PARTNER).get_json()[
        "hasPolicy"][0]
    message = {"@context": CONTEXT, "@type": "ContractRequestMessage",
               "consumerPid": f"urn:uuid:{uuid.uuid4()}",
               "offer": {**offer, "target": f"urn:uuid:{dataset['id']}"},
               "callbackAddress": PARTICIPANTS[0]["address"] + "/callback"}
    ack = dsp.post(f"{BASE}/negotiations/request", json=message, headers=PARTNER).get_json()
    # the agreement message was stored in the transaction that agreed
    (pending,) = _outbox(uow)
    assert pending.message["@type"] == "ContractAgreementMessage" and pending.attempts == 0

    assert deliver(app) == 0
    (pending,) = _outbox(uow)
    assert pending.state == OutboxState.PENDING and pending.attempts == 1 and pending.last_error
    assert pending.next_attempt_at > clock.now
    assert deliver(app) == 0 and _outbox(uow)[0].attempts == 1  # not due yet: back-off
    state = dsp.get(f"{BASE}/negotiations/{ack['providerPid']}", headers=PARTNER).get_json()["state"]
    assert state == "AGREED"

    for _ in range(MAX_ATTEMPTS - 1):
        clock.now = _outbox(uow)[0].next_attempt_at
        deliver(app)
    (failed,) = _outbox(uow)
    assert failed.state == OutboxState.FAILED and failed.attempts == MAX_ATTEMPTS
    state = dsp.get(f"{BASE}/negotiations/{ack['providerPid']}", headers=PARTNER).get_json()["state"]
    assert state == "TERMINATED"
