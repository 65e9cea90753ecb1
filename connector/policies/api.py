"""HTTP routes of usage control: offers, dry runs, access requests and agreements."""

from __future__ import annotations

from flask import Blueprint, current_app, request, url_for

from connector.db import utcnow
from connector.errors import ValidationFailed
from connector.http import extension, json_body, json_response, principal, uow, validate
from connector.policies import serialize, service
from connector.policies.models import AgreementState, RequestState

bp = Blueprint("policies", __name__, url_prefix="/api/v1")


def _site() -> service.Site:
    return service.Site(location=current_app.config["SITE_LOCATION"],
                        region=current_app.config["SITE_REGION"])


def _state_arg(allowed: type) -> str | None:
    state = request.args.get("state")
    if state is not None and state not in {str(s) for s in allowed}:
        raise ValidationFailed([{"path": "$.state", "message": "state must be one of "
                                 + ", ".join(str(s) for s in allowed)}])
    return state


def _decision_body() -> dict:
    body = json_body() if request.content_length else {}
    validate("decide-request", body)
    return body


@bp.post("/datasets/<dataset_id>/offers")
def attach_offer(dataset_id: str):
    caller = principal()
    body = json_body()
    validate("offer-request", body)
    offer, _ = service.attach_offer(uow(), caller, dataset_id, body, extension().schemas)
    return json_response(serialize.offer(offer), 201, {
        "Location": url_for("policies.list_offers", dataset_id=dataset_id) + "/" + offer.id})


@bp.get("/datasets/<dataset_id>/offers")
def list_offers(dataset_id: str):
    offers = service.list_offers(uow(), principal(), dataset_id)
    return json_response({"items": [serialize.offer(offer) for offer, _ in offers]})


@bp.delete("/datasets/<dataset_id>/offers/<offer_id>")
def withdraw_offer(dataset_id: str, offer_id: str):
    service.withdraw_offer(uow(), principal(), dataset_id, offer_id)
    return "", 204


@bp.post("/policies/evaluate")
def evaluate_policy():
    caller = principal()
    body = json_body()
    validate("evaluate-request", body)
    decision = service.dry_run(uow(), caller, body, extension().schemas, site=_site(), now=utcnow())
    return json_response(decision.to_dict())


@bp.post("/access-requests")
def request_access():
    caller = principal()
    body = json_body()
    validate("access-request", body)
    item, _ = service.request_access(uow(), caller, body, site=_site(), now=utcnow())
    return json_response(serialize.access_request(item), 201,
                         {"Location": url_for("policies.get_request", request_id=item.id)})


@bp.get("/access-requests")
def list_requests():
    items = service.list_requests(uow(), principal(), _state_arg(RequestState))
    return json_response({"items": [serialize.access_request(item) for item in items]})


@bp.get("/access-requests/<request_id>")
def get_request(request_id: str):
    return json_response(serialize.access_request(service.get_request(uow(), principal(), request_id)))


@bp.post("/access-requests/<request_id>/approve")
def approve_request(request_id: str):
    caller = principal()
    body = _decision_body()
    item, _ = service.approve_request(uow(), caller, request_id, body.get("comment"),
                                      site=_site(), now=utcnow())
    return json_response(serialize.access_request(service.get_request(uow(), caller, item.id)))


@bp.post("/access-requests/<request_id>/reject")
def reject_request(request_id: str):
    caller = principal()
    body = _decision_body()
    service.reject_request(uow(), caller, request_id, body.get("comment"), now=utcnow())
    return json_response(serialize.access_request(service.get_request(uow(), caller, request_id)))


@bp.get("/agreements")
def list_agreements():
    items = service.list_agreements(uow(), principal(), now=utcnow(),
                                    state=_state_arg(AgreementState),
                                    dataset_id=request.args.get("dataset"))
    return json_response({"items": [serialize.agreement(item) for item in items]})


@bp.get("/agreements/<agreement_id>")
def get_agreement(agreement_id: str):
    item = service.get_agreement(uow(), principal(), agreement_id, now=utcnow())
    return json_response(serialize.agreement(item))


@bp.post("/agreements/<agreement_id>/revoke")
def revoke_agreement(agreement_id: str):
    caller = principal()
    body = _decision_body()
    service.revoke_agreement(uow(), caller, agreement_id, body.get("comment"), now=utcnow())
    return json_response(serialize.agreement(service.get_agreement(uow(), caller, agreement_id,
                                                                   now=utcnow())))
