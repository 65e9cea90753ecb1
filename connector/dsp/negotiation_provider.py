"""The provider's side of contract negotiation (Dataspace Protocol 2025-1): the consumer's messages.

The requested offer is matched by ``@id`` to an active offer of ours on the target dataset; a
changed offer is answered with ours (``OFFERED``) the first time and terminated with the
differences after a counter-offer. The decision is
:func:`connector.policies.service.request_access` under the participant's project, so the
agreement is the same row as one reached through our API. A request waiting for a steward
keeps the negotiation ``REQUESTED`` (or ``ACCEPTED``) until :func:`sync_decisions` sees the
steward's decision. The steps both sides share are :mod:`connector.dsp.negotiation_steps`'.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from connector.catalog.access import can_see
from connector.catalog.models import Dataset, DatasetState
from connector.dsp import catalog as catalog_messages
from connector.dsp import negotiation as messages
from connector.dsp import process
from connector.dsp.errors import NegotiationRefused
from connector.dsp.models import Negotiation
from connector.dsp.negotiation_steps import Runtime, ack, agreement_ended, move, send, terminate
from connector.dsp.participants import Participant
from connector.dsp.principals import principal_for, requester_for
from connector.dsp.process import new_pid, pids, set_state
from connector.dsp.states import NEGOTIATION, Role, negotiation_message_kind
from connector.errors import ConnectorError, NotFound
from connector.identity.principal import Principal
from connector.policies import service as policies
from connector.policies.models import AccessRequest, Agreement, Offer, RequestState
from connector.uow import UnitOfWork

#: The period of an agreement reached over DSP (a contract request names none).
AGREEMENT_DURATION = "P90D"


def _our_offer_dsp(offer: Offer, own_id: str) -> dict[str, Any] | None:
    return catalog_messages.offer(catalog_messages.OfferRecord(offer.id, offer.document), own_id)


def _match_offer(uow: UnitOfWork, dataset: Dataset, requested: Mapping[str, Any],
                 own_id: str) -> tuple[Offer | None, dict[str, Any] | None, list[str]]:
    """Our active offer named by the requested ``@id`` on ``dataset``, its DSP form, and what
    the request changes in it (``[]``: the same offer)."""
    offer_id = catalog_messages.local_id(str(requested.get("@id", "")))
    offer = uow.offers.get(offer_id, dataset=dataset, active=True)
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
            terminate(uow, negotiation, runtime, "offer-unknown", differences, now)
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
    set_state(negotiation, NEGOTIATION.next_state(negotiation.state, "ContractOfferMessage", Role.PROVIDER),
              now)
    negotiation.offer = offer
    send(uow, negotiation, runtime, "/offers", message, now)


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
        terminate(uow, negotiation, runtime, exc.code, [exc.detail], now)
        return
    negotiation.access_request_id = request.id
    if agreement is not None:
        _agree(uow, negotiation, runtime, agreement, now)
    elif request.state == RequestState.REJECTED:
        terminate(uow, negotiation, runtime, "policy-denied", _reasons(request), now)


def _reasons(request: AccessRequest) -> list[str]:
    found = [str(r) for r in (request.decision or {}).get("reasons", [])]
    if request.comment:
        found.insert(0, request.comment)
    return found or [f"the request was {request.state}"]


def _agree(uow: UnitOfWork, negotiation: Negotiation, runtime: Runtime, agreement: Agreement,
           now: dt.datetime) -> None:
    offer = uow.offers.get(negotiation.local_offer_id)
    ours = _our_offer_dsp(offer, runtime.own_id) or {}
    body = messages.agreement(ours, agreement_iri=f"urn:uuid:{agreement.id}", target=negotiation.dataset,
                              assigner=runtime.own_id, assignee=negotiation.participant_id,
                              timestamp=process.iso(agreement.created_at))
    set_state(negotiation, NEGOTIATION.next_state(negotiation.state, "ContractAgreementMessage",
                                                  Role.PROVIDER), now)
    negotiation.agreement_id = agreement.id
    negotiation.agreement = body
    send(uow, negotiation, runtime, "/agreement", messages.agreement_message(*pids(negotiation), body), now)


def provider_message(uow: UnitOfWork, runtime: Runtime, participant: Participant, provider_pid: str,
                     message: Mapping[str, Any]) -> dict[str, Any]:
    """A message from the consumer on negotiation ``provider_pid``: counter-offer, ACCEPTED,
    verification or termination. Returns the ACK (the state the message led to)."""
    now = runtime.clock()
    with uow:
        negotiation = process.own(uow, process.NEGOTIATIONS, participant, provider_pid, Role.PROVIDER)
        process.check_pids(negotiation, message)
        state = move(negotiation, message, Role.CONSUMER)
        answer = messages.ack(*pids(negotiation), state)
        kind = negotiation_message_kind(dict(message))
        if kind == "ContractNegotiationTerminationMessage":
            set_state(negotiation, state, now)
            process.record_end(negotiation, message)
        elif kind == "ContractRequestMessage":
            set_state(negotiation, state, now)
            _counter_offer(uow, negotiation, runtime, participant, message["offer"], now)
        elif kind == "ContractNegotiationEventMessage:ACCEPTED":
            set_state(negotiation, state, now)
            offer = uow.offers.get(negotiation.local_offer_id, active=True)
            ours = offer and _our_offer_dsp(offer, runtime.own_id)
            if ours is None:
                terminate(uow, negotiation, runtime, "offer-withdrawn",
                          ["the offer was withdrawn meanwhile"], now)
            else:
                _decide(uow, negotiation, runtime, participant, ours, now)
        elif kind == "ContractAgreementVerificationMessage":
            set_state(negotiation, state, now)
            _finalize(uow, negotiation, runtime, now)
        uow.commit()
        return answer


def _finalize(uow: UnitOfWork, negotiation: Negotiation, runtime: Runtime, now: dt.datetime) -> None:
    """After the consumer's verification: FINALIZED, unless the agreement ended meanwhile (a
    steward revoked it, it expired): then the negotiation is terminated, never finalized on a
    contract we no longer honour."""
    agreement = uow.agreements.get(negotiation.agreement_id)
    ended = agreement_ended(agreement, now)
    if ended:
        terminate(uow, negotiation, runtime, "agreement-ended",
                  [f"{ended}; the negotiation cannot be finalized"], now)
        return
    finalized = "ContractNegotiationEventMessage:FINALIZED"
    set_state(negotiation, NEGOTIATION.next_state(negotiation.state, finalized, Role.PROVIDER), now)
    send(uow, negotiation, runtime, "/events", messages.event(*pids(negotiation), "FINALIZED"), now)


def _counter_offer(uow: UnitOfWork, negotiation: Negotiation, runtime: Runtime, participant: Participant,
                   requested: Mapping[str, Any], now: dt.datetime) -> None:
    negotiation.offer = dict(requested)
    if requested.get("target") not in (None, negotiation.dataset):
        terminate(uow, negotiation, runtime, "target-changed",
                  [f"the counter-offer changes the target from {negotiation.dataset!r} to "
                   f"{requested.get('target')!r}; start a new negotiation for another dataset"], now)
        return
    dataset = _dataset_for(uow, principal_for(uow, participant), negotiation.dataset)
    offer, ours, differences = _match_offer(uow, dataset, requested, runtime.own_id)
    if offer is None or differences:
        terminate(uow, negotiation, runtime, "offer-changed",
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
                terminate(uow, negotiation, runtime, "request-rejected",
                          ["a data steward rejected the request", *_reasons(request)], now)
            moved += 1
        uow.commit()
    return moved
