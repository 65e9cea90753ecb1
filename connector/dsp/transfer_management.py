"""What our teams and stewards do with transfer processes (``/api/v1/transfers``, the CLI, and
the Dataspace TCK's trigger standing in for a team).

A team asks for the data of a FINALIZED negotiation of its project (:func:`consumer_start`):
the local agreement mirroring the remote one (:mod:`connector.dsp.mirror`) is recorded first,
then ``TransferRequestMessage`` leaves, pulled (staged here) or pushed to the team's bucket.
Consumer rows are seen by members of their project, provider rows by stewards of the agreed
dataset's organisation; either side may suspend, resume or terminate, and the peer is told.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from connector.dsp import negotiation_management, process, push, transfer_consumer, transfer_provider
from connector.dsp import transfer as messages
from connector.dsp.errors import TransferRefused
from connector.dsp.mirror import mirror_agreement
from connector.dsp.models import Transfer
from connector.dsp.negotiation_steps import agreement_ended
from connector.dsp.participants import Participant
from connector.dsp.principals import requester_for
from connector.dsp.process import enqueue, move, new_pid, pids, set_state
from connector.dsp.states import NegotiationState, Role
from connector.dsp.transfer_steps import OPEN, TransferRuntime, first_state, send, terminate
from connector.errors import BadRequest, Conflict, NotFound, ValidationFailed
from connector.identity.models import Project
from connector.identity.principal import Principal
from connector.policies.models import Agreement
from connector.uow import UnitOfWork


def consumer_start(uow: UnitOfWork, runtime: TransferRuntime, principal: Principal, negotiation_id: str,
                   callback_address: str, *, target: push.S3Address | None = None) -> tuple[Transfer, bool]:
    """A team asks for the data of a FINALIZED negotiation of its project: pulled and staged
    here, or, with ``target``, pushed by the provider to that S3 address. The open transfer
    of that negotiation is returned when there is one. Returns (transfer, created)."""
    now = runtime.clock()
    with uow:
        negotiation = negotiation_management.get(uow, principal, negotiation_id)
        if negotiation.role != Role.CONSUMER:
            raise BadRequest("data is asked for on a negotiation in which we are the consumer")
        if negotiation.state != NegotiationState.FINALIZED or not negotiation.agreement:
            raise Conflict(f"the negotiation is {negotiation.state}; data follows only a FINALIZED one")
        participant = runtime.base.participants.get(negotiation.participant_id)
        if participant is None:
            raise Conflict(f"participant {negotiation.participant_id!r} is no longer configured")
        existing = uow.transfers.open_of_negotiation(negotiation.id, OPEN)
        if existing is not None:
            return existing, False
        project = uow.session.get(Project, negotiation.project_id)
        agreement = uow.session.scalar(select(Agreement).where(Agreement.id == negotiation.agreement_id)) \
            if negotiation.agreement_id else None
        if agreement is None:
            agreement = mirror_agreement(uow, principal, negotiation, project, runtime.schemas,
                                         site=runtime.base.site, now=now)
        ended = agreement_ended(agreement, now)
        if ended:
            raise Conflict(f"the local agreement {agreement.id} mirroring the remote one: {ended}")
        transfer = Transfer(
            id=str(uuid.uuid4()), pid=new_pid(), counter_pid=None, role=Role.CONSUMER,
            participant_id=participant.id, project_id=project.id, state=first_state(),
            agreement=str(negotiation.agreement["@id"]), agreement_id=agreement.id,
            negotiation_id=negotiation.id, callback_address=callback_address,
            format=push.PUSH_FORMAT if target else messages.PULL_FORMAT,
            endpoint=target.describe() if target else None,
            created_by=principal.name, created_at=now, updated_at=now)
        uow.transfers.add(transfer)
        address = push.document(target) if target else None  # credentials withheld in the outbox
        enqueue(uow, transfer, f"{participant.address}/transfers/request",
                messages.request(transfer.pid, transfer.agreement, callback_address, transfer.format,
                                 address), now)
        uow.commit()
        if target is not None:
            runtime.base.secrets.put(transfer.pid, target)
        return transfer, True


def trigger_start(uow: UnitOfWork, runtime: TransferRuntime, participant: Participant,
                  body: Mapping[str, Any], callback_address: str) -> tuple[Transfer, bool]:
    """The Dataspace TCK's transfer trigger: ``participant`` has us, as consumer, ask it for the
    data of ``agreementId``, an agreement a FINALIZED negotiation of its configured project
    reached with it (:func:`consumer_start`, as if a member of the project asked). Only
    ``HttpData-PULL``: a push needs the team's bucket and credentials, which a trigger cannot name."""
    negotiation_management.check_trigger(participant, body)
    if body["format"] != messages.PULL_FORMAT:
        raise ValidationFailed([{"path": "$.format", "message": f"a trigger asks for {messages.PULL_FORMAT} "
                                 "only; a push names its bucket through /api/v1/transfers"}])
    with uow:  # one transaction: the requesting user requester_for creates is kept with the transfer
        principal = requester_for(uow, participant)
        finalized = uow.negotiations.finalized_consumer(participant.id, principal.project_ids)
        found = [negotiation.id for negotiation in finalized
                 if (negotiation.agreement or {}).get("@id") == body["agreementId"]]
        if not found:
            raise NotFound(f"no FINALIZED negotiation with {participant.id!r} reached agreement "
                           f"{body['agreementId']!r}")
        return consumer_start(uow, runtime, principal, found[0], callback_address)



def _may_see(uow: UnitOfWork, principal: Principal, transfer: Transfer) -> bool:
    if principal.is_admin or transfer.project_id in principal.project_ids:
        return transfer.role == Role.CONSUMER or principal.is_admin
    if transfer.role == Role.PROVIDER:
        agreement = uow.session.scalar(select(Agreement).where(Agreement.id == transfer.agreement_id))
        return agreement is not None and principal.stewards(agreement.dataset.organisation_id)
    return False


def get(uow: UnitOfWork, principal: Principal, transfer_id: str) -> Transfer:
    with uow:
        return process.visible(uow, process.TRANSFERS, principal, transfer_id, _may_see)


def list_transfers(uow: UnitOfWork, principal: Principal, *, role: str | None = None) -> list[Transfer]:
    with uow:
        return process.all_visible(uow, process.TRANSFERS, principal, _may_see, role=role)


def act(uow: UnitOfWork, runtime: TransferRuntime, principal: Principal, transfer_id: str, action: str,
        reason: str | None) -> Transfer:
    """Our side suspends, resumes, completes or terminates a transfer; the peer is told. A
    provider that resumes sends a fresh data address; a consumer that resumes keeps the one it
    has. Only the provider completes by hand (a pull it has served; the data token ends): our
    consumer side completes on its own once the data is staged."""
    now = runtime.clock()
    kinds = {"suspend": "TransferSuspensionMessage", "resume": "TransferStartMessage",
             "complete": "TransferCompletionMessage", "terminate": "TransferTerminationMessage"}
    with uow:
        transfer = get(uow, principal, transfer_id)
        role = Role(transfer.role)
        if not transfer.counter_pid:
            raise Conflict("the provider has not acknowledged the request yet; try again shortly")
        if transfer.format == push.PUSH_FORMAT and action != "terminate":
            raise TransferRefused("a push transfer runs to its end; it can only be terminated")
        if action == "complete" and role != Role.PROVIDER:
            raise TransferRefused("our consumer side completes a transfer itself once the data is staged")
        reasons = [reason or f"{action} by the {role} ({principal.name})"]
        state = move(transfer, kinds[action], role)
        if action == "terminate":
            terminate(uow, transfer, runtime, f"terminated-by-{role}", reasons, now)
        elif action == "complete":
            set_state(transfer, state, now)
            transfer.token_hash = None
            send(uow, transfer, runtime, "/completion", messages.completion(*pids(transfer)), now)
        elif action == "suspend":
            set_state(transfer, state, now)
            transfer.termination_code, transfer.termination_reason = f"suspended-by-{role}", reasons
            send(uow, transfer, runtime, "/suspension",
                  messages.suspension(*pids(transfer), f"suspended-by-{role}", reasons), now)
        elif role == Role.PROVIDER:
            transfer_provider.start(uow, transfer, runtime, now)
        else:
            set_state(transfer, state, now)
            send(uow, transfer, runtime, "/start", messages.start(*pids(transfer)), now)
        uow.commit()
        if action == "resume" and role == Role.CONSUMER:
            transfer_consumer.queue_staging(uow, runtime, transfer.pk, now)
        return transfer

