"""Our consumer's side of contract negotiation (Dataspace Protocol 2025-1): the provider's messages.

A provider may open a negotiation with an offer (:func:`consumer_offer_initial`), which waits
in ``OFFERED`` for a team; on the negotiations we started, an agreement is verified at once
when it names the dataset, the provider and us (:func:`consumer_message`). How a negotiation
starts on our side is a team's use case (:func:`connector.dsp.negotiation_management.consumer_start`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from connector.dsp import negotiation as messages
from connector.dsp import process
from connector.dsp.errors import NegotiationRefused
from connector.dsp.models import Negotiation
from connector.dsp.negotiation_steps import Runtime, move, send, terminate
from connector.dsp.participants import Participant
from connector.dsp.principals import principal_for
from connector.dsp.process import new_pid, pids, set_state
from connector.dsp.states import NEGOTIATION, Role, negotiation_message_kind
from connector.uow import UnitOfWork


def consumer_offer_initial(uow: UnitOfWork, runtime: Runtime, participant: Participant,
                           message: Mapping[str, Any], callback_address: str) -> Negotiation:
    """A provider-initiated ``ContractOfferMessage``: a new negotiation in ``OFFERED`` under the
    participant's project, for a team to accept or terminate."""
    now = runtime.clock()
    with uow:
        if uow.negotiations.by_counter_pid(participant.id, Role.CONSUMER, message["providerPid"]) is not None:
            raise NegotiationRefused(f"a negotiation with providerPid {message['providerPid']!r} exists")
        principal = principal_for(uow, participant)
        target = message["offer"]["target"]
        negotiation = Negotiation(
            id=str(uuid.uuid4()), pid=new_pid(), counter_pid=message["providerPid"], role=Role.CONSUMER,
            participant_id=participant.id, project_id=next(iter(principal.project_ids)),
            state=NEGOTIATION.next_state(None, "ContractOfferMessage", Role.PROVIDER), dataset=target,
            offer=dict(message["offer"]), callback_address=callback_address, created_by=principal.name,
            created_at=now, updated_at=now)
        uow.negotiations.add(negotiation)
        uow.commit()
        return negotiation


def consumer_message(uow: UnitOfWork, runtime: Runtime, participant: Participant, consumer_pid: str,
                     message: Mapping[str, Any]) -> dict[str, Any]:
    """A message from the provider on negotiation ``consumer_pid``: offer, agreement, FINALIZED
    or termination. An agreement is verified at once when it is the one we asked for.
    Returns the ACK (the state the message led to)."""
    now = runtime.clock()
    with uow:
        negotiation = process.own(uow, process.NEGOTIATIONS, participant, consumer_pid, Role.CONSUMER)
        process.check_pids(negotiation, message)
        state = move(negotiation, message, Role.PROVIDER)
        answer = messages.ack(*pids(negotiation), state)
        kind = negotiation_message_kind(dict(message))
        set_state(negotiation, state, now)
        if kind == "ContractNegotiationTerminationMessage":
            process.record_end(negotiation, message)
        elif kind == "ContractOfferMessage":
            if message["offer"].get("target") != negotiation.dataset:
                terminate(uow, negotiation, runtime, "target-changed",
                          [f"the offer's target {message['offer'].get('target')!r} is not "
                           f"{negotiation.dataset!r}"], now)
            else:
                negotiation.offer = dict(message["offer"])
        elif kind == "ContractAgreementMessage":
            _verify(uow, negotiation, runtime, participant, message["agreement"], now)
        uow.commit()
        return answer


def _verify(uow: UnitOfWork, negotiation: Negotiation, runtime: Runtime, participant: Participant,
            agreement: Mapping[str, Any], now: dt.datetime) -> None:
    negotiation.agreement = dict(agreement)
    problems = []
    if agreement.get("target") != negotiation.dataset:
        problems.append(f"the agreement's target {agreement.get('target')!r} is not {negotiation.dataset!r}")
    if agreement.get("assigner") != participant.id:
        problems.append(f"the agreement's assigner {agreement.get('assigner')!r} is not {participant.id!r}")
    if agreement.get("assignee") != runtime.own_id:
        problems.append(f"the agreement's assignee {agreement.get('assignee')!r} is not {runtime.own_id!r}")
    if problems:
        terminate(uow, negotiation, runtime, "agreement-mismatch", problems, now)
        return
    set_state(negotiation, NEGOTIATION.next_state(negotiation.state, "ContractAgreementVerificationMessage",
                                                  Role.CONSUMER), now)
    send(uow, negotiation, runtime, "/agreement/verification", messages.verification(*pids(negotiation)),
         now)
