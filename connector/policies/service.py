"""Use cases of usage control: offers, dry runs, access requests, approvals, agreements.

Decisions come from the pure evaluator; this module supplies the request context from what
the service knows (the caller's project and organisation, vouched-for project attributes,
the site's processing location and region) and persists the outcome. Every decision,
approval, rejection, revocation and expiry leaves an audit event.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.exc import IntegrityError

from connector.catalog.access import can_see, may_see_project_object
from connector.catalog.models import Dataset
from connector.errors import Conflict, Forbidden, NotFound, ValidationFailed
from connector.identity.models import Project
from connector.identity.principal import Principal
from connector.policies import templates
from connector.policies.evaluator import Decision, Outcome, RequestContext, evaluate
from connector.policies.models import (
    AccessRequest,
    Agreement,
    AgreementState,
    Approval,
    Offer,
    RequestState,
)
from connector.policies.odrl import Conflict as ConflictStrategy
from connector.policies.odrl import Policy, PolicyType
from connector.policies.odrl_conflicts import conflicts
from connector.policies.odrl_jsonld import PolicyInvalid, parse_policy, to_jsonld
from connector.policies.operands import parse_datetime, parse_duration
from connector.uow import UnitOfWork


@dataclasses.dataclass(frozen=True)
class Site:
    """Where this connector processes data: read by processingLocation and spatial."""

    location: str = "ai-factory"
    region: str = "EU"


# --- offers -----------------------------------------------------------------------------

def _with_duty_ids(document: dict[str, Any]) -> dict[str, Any]:
    """Give every duty and obligation an ``@id`` so its fulfilment can be recorded."""
    for rule in document.get("permission", []):
        for duty in rule.get("duty", []):
            duty.setdefault("@id", f"urn:uuid:{uuid.uuid4()}")
    for duty in document.get("obligation", []):
        duty.setdefault("@id", f"urn:uuid:{uuid.uuid4()}")
    return document


def offer_policy(body: Mapping[str, Any], schemas: Any) -> dict[str, Any]:
    """The canonical policy document of an offer body (inline policy or template)."""
    if "template" in body:
        parameters = dict(body.get("parameters") or {})
        parameters.setdefault("uid", f"urn:uuid:{uuid.uuid4()}")
        try:
            document = templates.TEMPLATES[body["template"]](**parameters)
        except TypeError as exc:
            raise ValidationFailed([{"path": "$.parameters", "message": str(exc)}]) from exc
    else:
        document = dict(body["policy"])
        if "@id" not in document and "uid" not in document:
            document["@id"] = f"urn:uuid:{uuid.uuid4()}"
    schemas.validate("odrl-policy", document)
    policy = parse_policy(document)
    if policy.type == PolicyType.AGREEMENT:
        raise PolicyInvalid([{"path": "$.@type", "message": "an offer cannot be an Agreement"}])
    _refuse_void(policy)
    return _with_duty_ids(to_jsonld(policy))


def _refuse_void(policy: Policy) -> None:
    """A policy void by its own conflicts (IM §2.10) would deny every request: refuse it."""
    if policy.conflict_strategy is not ConflictStrategy.INVALID:
        return
    clashes = conflicts(policy)
    if clashes:
        raise PolicyInvalid([{
            "path": f"$.prohibition[{clash.prohibition}]",
            "message": f"{clash.text}; with the conflict strategy invalid (the default when a "
                       "policy states none) the whole policy would be void and deny every "
                       'request: state "conflict": "perm" to let permissions win or '
                       '"conflict": "prohibit" to let prohibitions win'} for clash in clashes])


def _dataset(uow: UnitOfWork, principal: Principal, dataset_id: str) -> Dataset:
    dataset = uow.datasets.get(dataset_id)
    if dataset is None or not can_see(principal, dataset):
        raise NotFound(f"no dataset {dataset_id!r}")
    return dataset


def attach_offer(uow: UnitOfWork, principal: Principal, dataset_id: str,
                 body: Mapping[str, Any], schemas: Any) -> tuple[Offer, Dataset]:
    """Attach an ODRL offer to a dataset (stewards of its organisation)."""
    document = offer_policy(body, schemas)
    with uow:
        dataset = _dataset(uow, principal, dataset_id)
        if not principal.stewards(dataset.organisation_id):
            raise Forbidden("only a steward of the owning organisation may attach offers")
        offer = Offer(id=str(uuid.uuid4()), dataset=dataset, policy_uid=document["@id"],
                      document=document, approval=body.get("approval", Approval.AUTOMATIC),
                      active=True, created_by=principal.name)
        uow.offers.add(offer)
        uow.audit.record(principal, "offer.attach", "dataset", dataset.id,
                     detail={"offer": offer.id, "policy": document["@id"],
                             "approval": offer.approval})
        uow.commit()
        return offer, dataset


def list_offers(uow: UnitOfWork, principal: Principal, dataset_id: str) -> list[tuple[Offer, Dataset]]:
    """The active offers of a dataset the caller may see."""
    with uow:
        dataset = _dataset(uow, principal, dataset_id)
        return [(offer, dataset) for offer in uow.offers.active_of(dataset)]


def withdraw_offer(uow: UnitOfWork, principal: Principal, dataset_id: str, offer_id: str) -> None:
    """Stop offering a policy: new requests cannot use it; agreements keep their snapshot."""
    with uow:
        dataset = _dataset(uow, principal, dataset_id)
        if not principal.stewards(dataset.organisation_id):
            raise Forbidden("only a steward of the owning organisation may withdraw offers")
        offer = uow.offers.get(offer_id, dataset=dataset)
        if offer is None:
            raise NotFound(f"no offer {offer_id!r} on dataset {dataset_id!r}")
        if offer.active:
            offer.active = False
            uow.audit.record(principal, "offer.withdraw", "dataset", dataset.id,
                         detail={"offer": offer.id})
        uow.commit()


# --- request context --------------------------------------------------------------------

def _instant(raw: str, path: str) -> dt.datetime:
    try:
        return parse_datetime(raw)
    except ValueError as exc:
        raise ValidationFailed([{"path": path, "message": str(exc)}]) from exc


def _context(
    principal: Principal, project: Project, dataset: Dataset, body: Mapping[str, Any],
    *, site: Site, now: dt.datetime, count: int | None,
) -> RequestContext:
    start = _instant(body["start"], "$.start") if "start" in body else now
    if "end" in body:
        end = _instant(body["end"], "$.end")
    else:
        end = parse_duration(body["duration"]).after(start) if "duration" in body else None
    if end is not None and end <= start:
        raise ValidationFailed([{"path": "$.end", "message": "the period must end after it starts"}])
    if end is not None and end <= now:
        raise ValidationFailed([{"path": "$.end", "message": "the requested period has already ended"}])
    attributes = dict(project.attributes or {})
    attributes.update(body.get("attributes") or {})
    return RequestContext(
        now=now, action="use", assignee=principal.name, project=project.slug,
        organisation=project.organisation.slug,
        memberships=frozenset({project.slug, project.organisation.slug}),
        target=dataset.identifier, purpose=body.get("purpose"), start=start, end=end,
        processing_location=body.get("location", site.location), region=site.region,
        count=count, attributes=attributes)


def _member_project(uow: UnitOfWork, principal: Principal, slug: str) -> Project:
    project = uow.projects.by_slug(slug)
    if project is None or (project.id not in principal.project_ids and not principal.is_admin):
        raise NotFound(f"no project {slug!r} among the caller's projects")
    return project


def dry_run(uow: UnitOfWork, principal: Principal, body: Mapping[str, Any], schemas: Any, *,
            site: Site, now: dt.datetime) -> Decision:
    """Would this request be permitted? Nothing is stored."""
    at = _instant(body["at"], "$.at") if "at" in body else now
    request = dict(body["request"])
    with uow:
        if isinstance(body["policy"], str):
            offer = uow.offers.get(body["policy"], active=True)
            dataset = offer and offer.dataset
            if offer is None or dataset is None or not can_see(principal, dataset):
                raise NotFound(f"no offer {body['policy']!r}")
            document = offer.document
        else:
            document = body["policy"]
        policy = parse_policy(document)
        start = _instant(request["start"], "$.request.start") if "start" in request else None
        end = _instant(request["end"], "$.request.end") if "end" in request else None
        context = RequestContext(
            now=at, action=request.get("action", "use"),
            assignee=request.get("assignee", principal.name), project=request.get("project"),
            organisation=request.get("organisation"),
            memberships=frozenset(filter(None, (request.get("project"), request.get("organisation")))),
            purpose=request.get("purpose"), start=start, end=end,
            processing_location=request.get("location", site.location),
            region=request.get("region", site.region), count=request.get("count"),
            attributes=request.get("attributes", {}))
        return evaluate(policy, context)


# --- access requests --------------------------------------------------------------------

def _agreement_policy(offer: Offer, dataset: Dataset, project: Project, agreement_id: str,
                      now: dt.datetime) -> dict[str, Any]:
    policy = dataclasses.replace(
        parse_policy(offer.document), uid=f"urn:uuid:{agreement_id}", type=PolicyType.AGREEMENT,
        assigner=dataset.organisation.slug, assignee=project.slug, target=dataset.identifier,
        timestamp=now.isoformat().replace("+00:00", "Z"))
    return to_jsonld(policy)


def _make_agreement(uow: UnitOfWork, request: AccessRequest, dataset: Dataset,
                    decision: Mapping[str, Any], now: dt.datetime) -> Agreement:
    agreement_id = str(uuid.uuid4())
    context = request.context
    agreement = Agreement(
        id=agreement_id, request=request, dataset=dataset,
        dataset_version=request.dataset_version, offer=request.offer, project=request.project,
        policy=_agreement_policy(request.offer, dataset, request.project, agreement_id, now),
        purpose=request.purpose,
        start=parse_datetime(context["start"]), end=parse_datetime(context["end"]),
        obligations=decision["obligations"], state=AgreementState.ACTIVE, created_at=now)
    uow.agreements.add(agreement)
    return agreement


def request_access(uow: UnitOfWork, principal: Principal, body: Mapping[str, Any], *,
                   site: Site, now: dt.datetime) -> tuple[AccessRequest, Agreement | None]:
    """Ask for one dataset version under one offer; decided at once or queued for a steward."""
    with uow:
        dataset = _dataset(uow, principal, body["dataset"])
        project = _member_project(uow, principal, body["project"])
        version = body.get("version", dataset.version)
        if uow.datasets.version(dataset, version) is None:
            raise NotFound(f"dataset {dataset.id!r} has no version {version}")
        offer = uow.offers.get(body["offer"], dataset=dataset, active=True)
        if offer is None:
            raise NotFound(f"no active offer {body['offer']!r} on dataset {dataset.id!r}")
        used = uow.agreements.count_for(offer, project.id)
        context = _context(principal, project, dataset, body, site=site, now=now, count=used + 1)
        decision = evaluate(parse_policy(offer.document), context)
        state = {Outcome.PERMIT: RequestState.AGREED, Outcome.DENY: RequestState.REJECTED,
                 Outcome.NEEDS_APPROVAL: RequestState.PENDING_APPROVAL}[decision.outcome]
        if state == RequestState.AGREED and offer.approval == Approval.STEWARD:
            state = RequestState.PENDING_APPROVAL
        if context.end is None and state == RequestState.AGREED:
            state = RequestState.PENDING_APPROVAL
        request = AccessRequest(
            id=str(uuid.uuid4()), dataset=dataset, dataset_version=version, offer=offer,
            requester_id=principal.user_id, project=project, purpose=body["purpose"], state=state,
            created_at=now,
            context=_context_record(context), decision=decision.to_dict(),
            decided_at=now if state != RequestState.PENDING_APPROVAL else None,
            decided_by="evaluator" if state != RequestState.PENDING_APPROVAL else None)
        uow.requests.add(request)
        agreement = None
        if state == RequestState.AGREED:
            agreement = _make_agreement(uow, request, dataset, request.decision, now)
        uow.audit.record(principal, "access_request.decide", "access_request", request.id,
                     detail={"dataset": dataset.id, "version": version, "offer": offer.id,
                             "project": project.slug, "decision": str(decision.outcome),
                             "state": state, "reasons": list(decision.reasons),
                             "agreement": agreement.id if agreement else None})
        uow.commit()
        uow.requests.reload(request)
        return request, agreement


def _context_record(context: RequestContext) -> dict[str, Any]:
    def iso(value: dt.datetime | None) -> str | None:
        return value.isoformat().replace("+00:00", "Z") if value else None

    return {"assignee": context.assignee, "project": context.project,
            "organisation": context.organisation, "purpose": context.purpose,
            "start": iso(context.start), "end": iso(context.end),
            "location": context.processing_location, "region": context.region,
            "count": context.count, "attributes": dict(context.attributes)}


def _request(uow: UnitOfWork, principal: Principal, request_id: str) -> tuple[AccessRequest, Dataset]:
    request = uow.requests.get(request_id)
    dataset = request and request.dataset
    if request is None or dataset is None or not may_see_project_object(
            principal, request.project_id, dataset):
        raise NotFound(f"no access request {request_id!r}")
    return request, dataset


def approve_request(uow: UnitOfWork, principal: Principal, request_id: str, comment: str | None,
                    *, site: Site, now: dt.datetime) -> tuple[AccessRequest, Agreement]:
    """A steward approves a pending request: the policy is evaluated again, and unless it now
    denies, exactly one agreement is recorded however many approvals race."""
    with uow:
        request, dataset = _request(uow, principal, request_id)
        if not principal.stewards(dataset.organisation_id):
            raise Forbidden("only a steward of the dataset's organisation may approve")
        if principal.user_id == request.requester_id:
            raise Forbidden("nobody approves their own request")
        if request.state != RequestState.PENDING_APPROVAL:
            raise Conflict(f"the request is {request.state}, not pending approval")
        context = RequestContext(
            now=now, action="use", assignee=request.context["assignee"],
            project=request.context["project"], organisation=request.context["organisation"],
            memberships=frozenset({request.context["project"], request.context["organisation"]}),
            target=dataset.identifier, purpose=request.context["purpose"],
            start=parse_datetime(request.context["start"]),
            end=parse_datetime(request.context["end"]) if request.context["end"] else None,
            processing_location=request.context["location"], region=request.context["region"],
            count=request.context["count"], attributes=request.context["attributes"])
        if context.end is None:
            raise Conflict("the request names no end; reject it and ask for a period")
        if context.end <= now:
            raise Conflict("the requested period has ended; the request has expired")
        decision = evaluate(parse_policy(request.offer.document), context)
        if decision.outcome == Outcome.DENY:
            raise Conflict("the policy now denies this request: " + "; ".join(decision.reasons))
        if not uow.requests.decide_pending(
                request, state=RequestState.AGREED, decided_at=now, decided_by=principal.name,
                comment=comment, decision=decision.to_dict()):
            raise Conflict("the request was decided by someone else meanwhile")
        agreement = _make_agreement(uow, request, dataset, decision.to_dict(), now)
        uow.audit.record(principal, "access_request.approve", "access_request", request.id,
                     detail={"agreement": agreement.id, "comment": comment})
        try:
            uow.commit()
        except IntegrityError as exc:
            raise Conflict("the request was decided by someone else meanwhile") from exc
        return request, agreement


def reject_request(uow: UnitOfWork, principal: Principal, request_id: str, comment: str | None,
                   *, now: dt.datetime) -> AccessRequest:
    """A steward rejects a pending request, with a comment."""
    with uow:
        request, dataset = _request(uow, principal, request_id)
        if not principal.stewards(dataset.organisation_id):
            raise Forbidden("only a steward of the dataset's organisation may reject")
        if request.state != RequestState.PENDING_APPROVAL:
            raise Conflict(f"the request is {request.state}, not pending approval")
        if not uow.requests.decide_pending(
                request, state=RequestState.REJECTED, decided_at=now, decided_by=principal.name,
                comment=comment):
            raise Conflict("the request was decided by someone else meanwhile")
        uow.audit.record(principal, "access_request.reject", "access_request", request.id,
                         detail={"comment": comment})
        uow.commit()
        return request


def get_request(uow: UnitOfWork, principal: Principal, request_id: str) -> AccessRequest:
    with uow:
        return _request(uow, principal, request_id)[0]


def list_requests(uow: UnitOfWork, principal: Principal, state: str | None = None) -> list[AccessRequest]:
    """Requests of the caller's projects, and those on datasets the caller stewards."""
    with uow:
        return uow.requests.visible(principal, state=state)


# --- agreements -------------------------------------------------------------------------

def expire_due(uow: UnitOfWork, now: dt.datetime) -> list[Agreement]:
    """Mark every active agreement whose end has passed as expired (with an audit event)."""
    with uow:
        due = uow.agreements.due(now)
        for agreement in due:
            agreement.state = AgreementState.EXPIRED
            agreement.ended_at, agreement.ended_by = now, "expiry"
            agreement.end_reason = "the agreed period ended"
            uow.audit.record(None, "agreement.expire", "agreement", agreement.id,
                         detail={"end": agreement.end.isoformat()})
        uow.commit()
        return due


def _agreement(uow: UnitOfWork, principal: Principal, agreement_id: str) -> tuple[Agreement, Dataset]:
    agreement = uow.agreements.get(agreement_id)
    dataset = agreement and agreement.dataset
    if agreement is None or dataset is None or not may_see_project_object(
            principal, agreement.project_id, dataset):
        raise NotFound(f"no agreement {agreement_id!r}")
    return agreement, dataset


def get_agreement(uow: UnitOfWork, principal: Principal, agreement_id: str, *,
                  now: dt.datetime) -> Agreement:
    expire_due(uow, now)
    with uow:
        return _agreement(uow, principal, agreement_id)[0]


def list_agreements(uow: UnitOfWork, principal: Principal, *, now: dt.datetime,
                    state: str | None = None, dataset_id: str | None = None) -> list[Agreement]:
    """Agreements of the caller's projects and on datasets the caller stewards."""
    expire_due(uow, now)
    with uow:
        return uow.agreements.visible(principal, state=state, dataset_id=dataset_id)


def revoke_agreement(uow: UnitOfWork, principal: Principal, agreement_id: str, reason: str | None,
                     *, now: dt.datetime) -> Agreement:
    """A steward ends an agreement before its time; staged data is removed by the monitor."""
    expire_due(uow, now)
    with uow:
        agreement, dataset = _agreement(uow, principal, agreement_id)
        if not principal.stewards(dataset.organisation_id):
            raise Forbidden("only a steward of the dataset's organisation may revoke")
        if agreement.state != AgreementState.ACTIVE:
            raise Conflict(f"the agreement is {agreement.state} already")
        agreement.state = AgreementState.REVOKED
        agreement.ended_at, agreement.ended_by, agreement.end_reason = now, principal.name, reason
        uow.audit.record(principal, "agreement.revoke", "agreement", agreement.id,
                     detail={"reason": reason})
        uow.commit()
        return agreement
