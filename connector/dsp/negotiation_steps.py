"""What every use case of contract negotiation (Dataspace Protocol 2025-1) shares.

The runtime (:class:`Runtime`, which transfers extend), the ACK and status of a negotiation,
whether an agreement still holds, and the steps either side takes: a move by an inbound message
(:func:`move`), owing the peer a message (:func:`send`, to the outbox in the same transaction as
the state it leads to; our side enters that state at once, and the outbox, awaiting the peer's
ACK, terminates the negotiation locally when the peer refuses the message or stays unreachable)
and ending the negotiation on our side (:func:`terminate`). The use cases live beside this
module: the provider's side (:mod:`~connector.dsp.negotiation_provider`), the consumer's
(:mod:`~connector.dsp.negotiation_consumer`) and what our teams and stewards do
(:mod:`~connector.dsp.negotiation_management`). Every inbound message moves a negotiation
through :data:`connector.dsp.states.NEGOTIATION`; an illegal move raises
:class:`~connector.dsp.errors.NegotiationRefused` (400) and changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from connector.dsp import negotiation as messages
from connector.dsp import process
from connector.dsp.client import DspClient
from connector.dsp.models import Negotiation
from connector.dsp.participants import Participant, ParticipantRegistry
from connector.dsp.process import pids
from connector.dsp.push import SecretStore
from connector.dsp.states import NegotiationState, Role, negotiation_message_kind
from connector.policies import service as policies
from connector.policies.models import Agreement, AgreementState
from connector.uow import UnitOfWork

N = NegotiationState


@dataclass(frozen=True)
class Runtime:
    """What the use cases need beyond the unit of work: who we are, whom we know, how to call."""

    own_id: str
    participants: ParticipantRegistry
    client: DspClient
    site: policies.Site
    clock: Callable[[], dt.datetime]
    #: Push credentials, sealed in the database (shared by every process).
    secrets: SecretStore


def agreement_ended(agreement: Agreement | None, now: dt.datetime) -> str | None:
    """Why ``agreement`` no longer holds (gone, revoked, expired), or None while it does."""
    if agreement is None:
        return "the agreement no longer exists"
    if agreement.state != AgreementState.ACTIVE:
        return f"the agreement is {agreement.state}" + (f": {agreement.end_reason}" if agreement.end_reason
                                                        else "")
    if agreement.end <= now:
        return "the agreement expired"
    return None


def ack(negotiation: Negotiation) -> dict[str, Any]:
    return messages.ack(*pids(negotiation), negotiation.state)


def status(uow: UnitOfWork, participant: Participant, pid: str, role: Role) -> dict[str, Any]:
    """The ``ContractNegotiation`` of our negotiation ``pid`` for ``participant`` (404 otherwise)."""
    with uow:
        return ack(process.own(uow, process.NEGOTIATIONS, participant, pid, role))


def move(negotiation: Negotiation, message: Mapping[str, Any], sender: Role) -> str:
    return process.move(negotiation, negotiation_message_kind(dict(message)), sender)


def send(uow: UnitOfWork, negotiation: Negotiation, runtime: Runtime, suffix: str, message: dict[str, Any],
         now: dt.datetime) -> None:
    process.send(uow, negotiation, runtime.participants, suffix, message, now)


def terminate(uow: UnitOfWork, negotiation: Negotiation, runtime: Runtime, code: str,
              reasons: list[str], now: dt.datetime) -> None:
    """End the negotiation on our side with a reason and tell the peer (when it is still configured)."""
    process.end(negotiation, code, reasons, now)
    if runtime.participants.get(negotiation.participant_id) is not None and negotiation.counter_pid:
        send(uow, negotiation, runtime, "/termination",
             messages.termination(*pids(negotiation), code, reasons), now)
