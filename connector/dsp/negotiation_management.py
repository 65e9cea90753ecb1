"""What our teams and stewards do with contract negotiations (``/api/v1/negotiations``, the CLI,
and the Dataspace TCK's trigger standing in for a team).

A team asks a participant for one of its datasets under one of its offers (:func:`consumer_start`),
and accepts an offer a provider made; consumer rows are seen by members of their project, provider
rows by stewards of the dataset's organisation, and either side may terminate (the peer is told).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from connector.dsp import catalog as catalog_messages
from connector.dsp import negotiation as messages
from connector.dsp import negotiation_steps as steps
from connector.dsp import process
from connector.dsp.messages import InvalidMessage, message_schemas
from connector.dsp.models import Negotiation
from connector.dsp.negotiation_steps import N, Runtime, move, send
from connector.dsp.participants import Participant
from connector.dsp.principals import requester_for
from connector.dsp.process import enqueue, new_pid, pids, set_state
from connector.dsp.states import Role
from connector.errors import BadRequest, NotFound, ValidationFailed
from connector.identity.models import Project
from connector.identity.principal import Principal
from connector.uow import UnitOfWork


def _member_project(uow: UnitOfWork, principal: Principal, slug: str) -> Project:
    project = uow.projects.by_slug(slug)
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
        set_state(negotiation, move(negotiation, event, Role.CONSUMER), now)
        send(uow, negotiation, runtime, "/events", event, now)
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
        move(negotiation, probe, role)
        steps.terminate(uow, negotiation, runtime, "terminated-by-" + role,
                        [reason or f"terminated by the {role} ({principal.name})"], now)
        uow.commit()
        return negotiation
