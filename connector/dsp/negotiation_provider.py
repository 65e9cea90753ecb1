"""Use cases of contract negotiation (Dataspace Protocol 2025-1), provider and consumer.

Every inbound message moves the negotiation through :data:`connector.dsp.states.NEGOTIATION`
(an illegal move raises :class:`NegotiationRefused`, 400, and changes nothing); every message
we owe goes to the outbox in the same transaction as the state it leads to, and our side
enters that state at once (the peer's ACK is awaited by the outbox, which terminates the
negotiation locally when the peer refuses the message or stays unreachable).

Provider: the requested offer is matched by ``@id`` to an active offer of ours on the target
dataset; a changed offer is answered with ours (``OFFERED``) the first time and terminated
with the differences after a counter-offer. The decision is
:func:`connector.policies.service.request_access` under the participant's project, so the
agreement is the same row as one reached through our API. A request waiting for a steward
keeps the negotiation ``REQUESTED`` (or ``ACCEPTED``) until :func:`sync_decisions` sees the
steward's decision.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from connector.catalog.access import can_see
from connector.catalog.models import Dataset, DatasetState
from connector.dsp import catalog as catalog_messages
from connector.dsp import negotiation as messages
from connector.dsp import process
from connector.dsp.client import DspClient
from connector.dsp.errors import NegotiationRefused
from connector.dsp.messages import InvalidMessage, message_schemas
from connector.dsp.models import Negotiation
from connector.dsp.participants import Participant, ParticipantRegistry
from connector.dsp.principals import principal_for, requester_for
from connector.dsp.process import enqueue, new_pid, pids
from connector.dsp.push import SecretStore
from connector.dsp.states import (
    NEGOTIATION,
    NegotiationState,
    Role,
    negotiation_message_kind,
)
from connector.errors import BadRequest, ConnectorError, NotFound, ValidationFailed
from connector.identity.models import Project
from connector.identity.principal import Principal
from connector.policies import service as policies
from connector.policies.models import AccessRequest, Agreement, AgreementState, Offer, RequestState
from connector.uow import UnitOfWork

N = NegotiationState
#: The period of an agreement reached over DSP (a contract request names none).
AGREEMENT_DURATION = "P90D"


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


# --- shared steps -------------------------------------------------------------------------

_set_state = process.set_state


def _move(negotiation: Negotiation, message: Mapping[str, Any], sender: Role) -> str:
    return process.move(negotiation, negotiation_message_kind(dict(message)), sender)


def _send(uow: UnitOfWork, negotiation: Negotiation, runtime: Runtime, suffix: str, message: dict[str, Any],
          now: dt.datetime) -> None:
    process.send(uow, negotiation, runtime.participants, suffix, message, now)


def _terminate(uow: UnitOfWork, negotiation: Negotiation, runtime: Runtime, code: str,
               reasons: list[str], now: dt.datetime) -> None:
    """End the negotiation on our side with a reason and tell the peer (when it is still configured)."""
    process.end(negotiation, code, reasons, now)
    if runtime.participants.get(negotiation.participant_id) is not None and negotiation.counter_pid:
        _send(uow, negotiation, runtime, "/termination",
              messages.termination(*pids(negotiation), code, reasons), now)


# --- provider -----------------------------------------------------------------------------

def _our_offer_dsp(offer: Offer, own_id: str) -> dict[str, Any] | None:
    return catalog_messages.offer(catalog_messages.OfferRecord(offer.id, offer.document), own_id)


def _match_offer(uow: UnitOfWork, dataset: Dataset, requested: Mapping[str, Any],
                 own_id: str) -> tuple[Offer | None, dict[str, Any] | None, list[str]]:
    """Our active offer named by the requested ``@id`` on ``dataset``, its DSP form, and what
    the request changes in it (``[]``: the same offer)."""
    offer_id = catalog_messages.local_id(str(requested.get("@id", "")))
    offer = uow.session.scalar(select(Offer).where(Offer.id == offer_id, Offer.dataset_pk == dataset.pk,
                                                   Offer.active))
    ours = _our_offer_dsp(offer, own_id) if offer is not None else None
    if offer is None or ours is None:
        where = catalog_messages.dataset_iri(dataset.id)
        return None, None, [f"no active offer {requested.get('@id')!r} on dataset {where!r}"]
    return offer, ours, messages.offer_differences(requested, ours)


def _dataset_for(uow: UnitOfWork, principal: Principal, target: str) -> Dataset:
    dataset = uow.datasets.get(catalog_messages.local_id(target))
    if dataset is None or dataset.state != DatasetState.ACTIVE or not can_see(principal, dataset):
        raise NotFound(f"no dataset {target!r}")
    return dataset


def provider_request(uow: UnitOfWork, runtime: Runtime, participant: Participant, message: Mapping[str, Any],
                     callback_address: str) -> dict[str, Any]:
    """The initial ``ContractRequestMessage``: a new negotiation (or the existing one for a
    repeated ``consumerPid``), answered later with an agreement, our own offer or a
    termination. Returns the ``ContractNegotiation`` ACK (state ``REQUESTED`` when new)."""
    now = runtime.clock()
    if "providerPid" in message:
        raise NegotiationRefused("a request naming a providerPid is a counter-offer; send it to "
                                 "/negotiations/{providerPid}/request")
    target = message["offer"].get("target")
    if not isinstance(target, str) or not target:
        raise NegotiationRefused("the offer of an initial contract request must name its target dataset")
    with uow:
        existing = uow.negotiations.by_counter_pid(participant.id, Role.PROVIDER, message["consumerPid"])
        if existing is not None:
            return ack(existing)
        principal = principal_for(uow, participant)
        dataset = _dataset_for(uow, principal, target)
        negotiation = Negotiation(
            id=str(uuid.uuid4()), pid=new_pid(), counter_pid=message["consumerPid"], role=Role.PROVIDER,
            participant_id=participant.id, project_id=next(iter(principal.project_ids)),
            state=process.first_state(process.NEGOTIATIONS, negotiation_message_kind(dict(message)),
                                        Role.CONSUMER), dataset=target, offer=dict(message["offer"]),
            callback_address=callback_address.rstrip("/"), created_by=principal.name,
            created_at=now, updated_at=now)
        uow.negotiations.add(negotiation)
        answer = ack(negotiation)
        offer, ours, differences = _match_offer(uow, dataset, message["offer"], runtime.own_id)
        if offer is None:
            _terminate(uow, negotiation, runtime, "offer-unknown", differences, now)
        elif differences:
            negotiation.local_offer_id = offer.id
            _counter_with_ours(uow, negotiation, runtime, ours, now)
        else:
            negotiation.local_offer_id = offer.id
            _decide(uow, negotiation, runtime, participant, ours, now)
        uow.commit()
        return answer


def _counter_with_ours(uow: UnitOfWork, negotiation: Negotiation, runtime: Runtime, ours: dict[str, Any],
                       now: dt.datetime) -> None:
    offer = {**ours, "target": negotiation.dataset}
    message = messages.contract_offer(*pids(negotiation), offer)
    _set_state(negotiation, NEGOTIATION.next_state(negotiation.state, "ContractOfferMessage", Role.PROVIDER),
               now)
    negotiation.offer = offer
    _send(uow, negotiation, runtime, "/offers", message, now)


def _decide(uow: UnitOfWork, negotiation: Negotiation, runtime: Runtime, participant: Participant,
            ours: dict[str, Any], now: dt.datetime) -> None:
    """Evaluate our offer for the participant's project: agreement, termination, or a steward."""
    dataset_id = catalog_messages.local_id(negotiation.dataset)
    body = {"dataset": dataset_id, "offer": negotiation.local_offer_id, "project": participant.project,
            "purpose": messages.stated_purpose(ours) or f"Dataspace Protocol negotiation {negotiation.pid}",
            "duration": AGREEMENT_DURATION}
    try:
        request, agreement = policies.request_access(uow, requester_for(uow, participant), body,
                                                     site=runtime.site, now=now)
    except ConnectorError as exc:
        _terminate(uow, negotiation, runtime, exc.code, [exc.detail], now)
        return
    negotiation.access_request_id = request.id
    if agreement is not None:
        _agree(uow, negotiation, runtime, agreement, now)
    elif request.state == RequestState.REJECTED:
        _terminate(uow, negotiation, runtime, "policy-denied", _reasons(request), now)


def _reasons(request: AccessRequest) -> list[str]:
    found = [str(r) for r in (request.decision or {}).get("reasons", [])]
    if request.comment:
        found.insert(0, request.comment)
    return found or [f"the request was {request.state}"]


def _agree(uow: UnitOfWork, negotiation: Negotiation, runtime: Runtime, agreement: Agreement,
           now: dt.datetime) -> None:
    offer = uow.session.scalar(select(Offer).where(Offer.id == negotiation.local_offer_id))
    ours = _our_offer_dsp(offer, runtime.own_id) or {}
    body = messages.agreement(ours, agreement_iri=f"urn:uuid:{agreement.id}", target=negotiation.dataset,
                              assigner=runtime.own_id, assignee=negotiation.participant_id,
                              timestamp=process.iso(agreement.created_at))
    _set_state(negotiation, NEGOTIATION.next_state(negotiation.state, "ContractAgreementMessage",
                                                   Role.PROVIDER), now)
    negotiation.agreement_id = agreement.id
    negotiation.agreement = body
    _send(uow, negotiation, runtime, "/agreement", messages.agreement_message(*pids(negotiation), body), now)


def provider_message(uow: UnitOfWork, runtime: Runtime, participant: Participant, provider_pid: str,
                     message: Mapping[str, Any]) -> dict[str, Any]:
    """A message from the consumer on negotiation ``provider_pid``: counter-offer, ACCEPTED,
    verification or termination. Returns the ACK (the state the message led to)."""
    now = runtime.clock()
    with uow:
        negotiation = process.own(uow, process.NEGOTIATIONS, participant, provider_pid, Role.PROVIDER)
        process.check_pids(negotiation, message)
        state = _move(negotiation, message, Role.CONSUMER)
        answer = messages.ack(*pids(negotiation), state)
        kind = negotiation_message_kind(dict(message))
        if kind == "ContractNegotiationTerminationMessage":
            _set_state(negotiation, state, now)
            process.record_end(negotiation, message)
        elif kind == "ContractRequestMessage":
            _set_state(negotiation, state, now)
            _counter_offer(uow, negotiation, runtime, participant, message["offer"], now)
        elif kind == "ContractNegotiationEventMessage:ACCEPTED":
            _set_state(negotiation, state, now)
            offer = uow.session.scalar(select(Offer).where(Offer.id == negotiation.local_offer_id,
                                                           Offer.active))
            ours = offer and _our_offer_dsp(offer, runtime.own_id)
            if ours is None:
                _terminate(uow, negotiation, runtime, "offer-withdrawn",
                           ["the offer was withdrawn meanwhile"], now)
            else:
                _decide(uow, negotiation, runtime, participant, ours, now)
        elif kind == "ContractAgreementVerificationMessage":
            _set_state(negotiation, state, now)
            _finalize(uow, negotiation, runtime, now)
        uow.commit()
        return answer


def _finalize(uow: UnitOfWork, negotiation: Negotiation, runtime: Runtime, now: dt.datetime) -> None:
    """After the consumer's verification: FINALIZED, unless the agreement ended meanwhile (a
    steward revoked it, it expired): then the negotiation is terminated, never finalized on a
    contract we no longer honour."""
    agreement = uow.session.scalar(select(Agreement).where(Agreement.id == negotiation.agreement_id))
    ended = agreement_ended(agreement, now)
    if ended:
        _terminate(uow, negotiation, runtime, "agreement-ended",
                   [f"{ended}; the negotiation cannot be finalized"], now)
        return
    finalized = "ContractNegotiationEventMessage:FINALIZED"
    _set_state(negotiation, NEGOTIATION.next_state(negotiation.state, finalized, Role.PROVIDER), now)
    _send(uow, negotiation, runtime, "/events", messages.event(*pids(negotiation), "FINALIZED"), now)


def _counter_offer(uow: UnitOfWork, negotiation: Negotiation, runtime: Runtime, participant: Participant,
                   requested: Mapping[str, Any], now: dt.datetime) -> None:
    negotiation.offer = dict(requested)
    if requested.get("target") not in (None, negotiation.dataset):
        _terminate(uow, negotiation, runtime, "target-changed",
                   [f"the counter-offer changes the target from {negotiation.dataset!r} to "
                    f"{requested.get('target')!r}; start a new negotiation for another dataset"], now)
        return
    dataset = _dataset_for(uow, principal_for(uow, participant), negotiation.dataset)
    offer, ours, differences = _match_offer(uow, dataset, requested, runtime.own_id)
    if offer is None or differences:
        _terminate(uow, negotiation, runtime, "offer-changed",
                   ["we accept our offers as published: " + "; ".join(differences)], now)
        return
    negotiation.local_offer_id = offer.id
    _decide(uow, negotiation, runtime, participant, ours, now)


def sync_decisions(uow: UnitOfWork, runtime: Runtime) -> int:
    """Move negotiations waiting for a steward once the access request is decided. Returns how many."""
    now = runtime.clock()
    moved = 0
    with uow:
        for negotiation, request in uow.negotiations.decided_by_steward():
            if request.state == RequestState.AGREED and request.agreement is not None:
                _agree(uow, negotiation, runtime, request.agreement, now)
            else:
                _terminate(uow, negotiation, runtime, "request-rejected",
                           ["a data steward rejected the request", *_reasons(request)], now)
            moved += 1
        uow.commit()
    return moved


# --- consumer -----------------------------------------------------------------------------

def _member_project(uow: UnitOfWork, principal: Principal, slug: str) -> Project:
    project = uow.session.scalar(select(Project).where(Project.slug == slug))
    if project is None or (project.id not in principal.project_ids and not principal.is_admin):
        raise NotFound(f"no project {slug!r} among the caller's projects")
    return project


def _remote_offer(runtime: Runtime, participant: Participant, dataset: str, offer: Any) -> dict[str, Any]:
    if isinstance(offer, str):
        remote = runtime.client.dataset(participant, dataset)
        found = [item for item in remote.get("hasPolicy", []) if item.get("@id") == offer]
        if not found:
            raise ValidationFailed([{"path": "$.offer", "message": f"dataset {dataset!r} of "
                                     f"{participant.id!r} has no offer {offer!r}"}])
        offer = found[0]
    if offer.get("target") not in (None, dataset):
        raise ValidationFailed([{"path": "$.offer.target",
                                 "message": "the offer's target is not the dataset"}])
    return {**offer, "target": dataset}


def consumer_start(uow: UnitOfWork, runtime: Runtime, principal: Principal, body: Mapping[str, Any],
                   callback_address: str) -> Negotiation:
    """A project team asks a participant for one of its datasets under one of its offers."""
    now = runtime.clock()
    participant = runtime.participants.get(body["participant"])
    if participant is None:
        raise ValidationFailed([{"path": "$.participant",
                                 "message": f"no configured participant {body['participant']!r}"}])
    with uow:
        project = _member_project(uow, principal, body["project"])
        offer = _remote_offer(runtime, participant, body["dataset"], body["offer"])
        negotiation = Negotiation(
            id=str(uuid.uuid4()), pid=new_pid(), counter_pid=None, role=Role.CONSUMER,
            participant_id=participant.id, project_id=project.id, state=N.REQUESTED, dataset=body["dataset"],
            offer=offer, callback_address=callback_address, created_by=principal.name,
            created_at=now, updated_at=now)
        message = messages.contract_request(negotiation.pid, offer, callback_address=callback_address)
        try:
            message_schemas().validate(message)
        except InvalidMessage as exc:
            raise ValidationFailed([{"path": "$.offer", "message": str(exc)}]) from exc
        uow.negotiations.add(negotiation)
        enqueue(uow, negotiation, f"{participant.address}/negotiations/request", message, now)
        uow.commit()
        return negotiation


def check_trigger(participant: Participant, body: Mapping[str, Any]) -> None:
    """A trigger names the calling participant (``providerId``) at its configured address
    (``connectorAddress``): a participant starts processes with itself only, and we never send to
    an address a request body chose."""
    errors = []
    if body["providerId"] != participant.id:
        errors.append({"path": "$.providerId", "message": f"the caller is {participant.id!r}; a participant "
                       "triggers negotiations and transfers with itself only"})
    if body["connectorAddress"].rstrip("/") != participant.address.rstrip("/"):
        errors.append({"path": "$.connectorAddress", "message": "not the participant's configured address "
                       f"{participant.address!r}"})
    if errors:
        raise ValidationFailed(errors)


def trigger_start(uow: UnitOfWork, runtime: Runtime, participant: Participant, body: Mapping[str, Any],
                  callback_address: str) -> Negotiation:
    """The Dataspace TCK's negotiation trigger: ``participant`` has us, as consumer, request its
    ``datasetId`` under ``offerId`` for its configured project, as if a member of it asked
    (:func:`consumer_start`). The offer goes by its id with a bare ``use`` permission, as the
    TCK's own consumer sends it: the trigger names no terms, and a provider that compares them
    (ours does) answers with its own offer."""
    check_trigger(participant, body)
    offer = {"@id": body["offerId"], "@type": "Offer", "assigner": participant.id,
             "permission": [{"action": "use"}]}
    request = {"participant": participant.id, "project": participant.project, "dataset": body["datasetId"],
               "offer": offer}
    with uow:  # one transaction: the requesting user requester_for creates is kept with the negotiation
        return consumer_start(uow, runtime, requester_for(uow, participant), request, callback_address)


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
        state = _move(negotiation, message, Role.PROVIDER)
        answer = messages.ack(*pids(negotiation), state)
        kind = negotiation_message_kind(dict(message))
        _set_state(negotiation, state, now)
        if kind == "ContractNegotiationTerminationMessage":
            process.record_end(negotiation, message)
        elif kind == "ContractOfferMessage":
            if message["offer"].get("target") != negotiation.dataset:
                _terminate(uow, negotiation, runtime, "target-changed",
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
        _terminate(uow, negotiation, runtime, "agreement-mismatch", problems, now)
        return
    _set_state(negotiation, NEGOTIATION.next_state(negotiation.state, "ContractAgreementVerificationMessage",
                                                   Role.CONSUMER), now)
    _send(uow, negotiation, runtime, "/agreement/verification", messages.verification(*pids(negotiation)),
          now)


# --- management (our teams and stewards) ----------------------------------------------------

def _may_see(uow: UnitOfWork, principal: Principal, negotiation: Negotiation) -> bool:
    """Consumer rows: members of the project; provider rows: stewards of the dataset's organisation."""
    if principal.is_admin:
        return True
    if negotiation.role == Role.CONSUMER:
        return negotiation.project_id in principal.project_ids
    dataset = uow.datasets.get(catalog_messages.local_id(negotiation.dataset))
    return dataset is not None and principal.stewards(dataset.organisation_id)


def get(uow: UnitOfWork, principal: Principal, negotiation_id: str) -> Negotiation:
    with uow:
        return process.visible(uow, process.NEGOTIATIONS, principal, negotiation_id, _may_see)


def list_negotiations(uow: UnitOfWork, principal: Principal, *, role: str | None = None) -> list[Negotiation]:
    with uow:
        return process.all_visible(uow, process.NEGOTIATIONS, principal, _may_see, role=role)


def accept(uow: UnitOfWork, runtime: Runtime, principal: Principal, negotiation_id: str) -> Negotiation:
    """A team accepts the provider's offer (consumer, ``OFFERED``): the ACCEPTED event is sent."""
    now = runtime.clock()
    with uow:
        negotiation = get(uow, principal, negotiation_id)
        if negotiation.role != Role.CONSUMER:
            raise BadRequest("only the consumer accepts an offer")
        event = messages.event(*pids(negotiation), "ACCEPTED")
        _set_state(negotiation, _move(negotiation, event, Role.CONSUMER), now)
        _send(uow, negotiation, runtime, "/events", event, now)
        uow.commit()
        return negotiation


def terminate(uow: UnitOfWork, runtime: Runtime, principal: Principal, negotiation_id: str,
              reason: str | None) -> Negotiation:
    """Our side ends a negotiation (a team as consumer, a steward as provider); the peer is told."""
    now = runtime.clock()
    with uow:
        negotiation = get(uow, principal, negotiation_id)
        role = Role(negotiation.role)
        probe = messages.termination(*pids(negotiation), "terminated", [reason or "terminated"])
        _move(negotiation, probe, role)
        _terminate(uow, negotiation, runtime, "terminated-by-" + role,
                   [reason or f"terminated by the {role} ({principal.name})"], now)
        uow.commit()
        return negotiation
