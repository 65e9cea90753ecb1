"""Contract negotiation over HTTP: the DSP 2025-1 HTTPS binding (provider and consumer
callback endpoints under ``<base>``) and the management API of our teams (``/api/v1/negotiations``).

Protocol errors are ``ContractNegotiationError`` messages (``application/json``); the
management API answers problem+json like the rest of ``/api/v1``. Our callback address is
``<base>/callback``. After a request commits, the outbox is delivered once the response is
closed, unless :attr:`NegotiationContext.deliver_inline` is off (tests drive delivery).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, request, url_for

from connector.db import utcnow
from connector.dsp import negotiation as messages
from connector.dsp import negotiation_service as service
from connector.dsp.api import BASE_PATH, context
from connector.dsp.client import DspClient
from connector.dsp.errors import MessageRejected, reasons
from connector.dsp.messages import InvalidMessage, message_schemas
from connector.dsp.models import Negotiation
from connector.dsp.outbox import deliver_pending
from connector.dsp.participants import Participant, authenticate, check_callback_address
from connector.errors import BadRequest, ConnectorError, ValidationFailed
from connector.http import json_body, json_response, principal, uow
from connector.policies.service import Site
from connector.uow import UnitOfWork

log = logging.getLogger(__name__)
CALLBACK = "/callback"

protocol = Blueprint("dsp_negotiation", __name__, url_prefix=BASE_PATH)
management = Blueprint("negotiations", __name__, url_prefix="/api/v1")


@dataclass
class NegotiationContext:
    runtime: service.Runtime
    deliver_inline: bool = True


def init_app(app: Flask) -> None:
    """Register both blueprints; call after :func:`connector.dsp.api.init_app`."""
    dsp = app.extensions["dsp"]
    runtime = service.Runtime(
        own_id=dsp.participants.self_id or "", participants=dsp.participants,
        client=DspClient(dsp.outbound),
        site=Site(location=app.config["SITE_LOCATION"], region=app.config["SITE_REGION"]), clock=utcnow)
    app.extensions["dsp_negotiation"] = NegotiationContext(runtime)
    app.register_blueprint(protocol)
    app.register_blueprint(management)


def runtime_of(app: Flask) -> service.Runtime:
    return app.extensions["dsp_negotiation"].runtime


def deliver(app: Flask) -> int:
    """Deliver the app's outbox now (what the worker does each tick)."""
    return deliver_pending(UnitOfWork(app.extensions["connector"].session_factory), runtime_of(app))


def _runtime() -> service.Runtime:
    return runtime_of(current_app)


def _answer(document: Any, status: int = 200) -> Response:
    response = json_response(document, status)
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if app.extensions["dsp_negotiation"].deliver_inline:
        def _after() -> None:
            try:
                deliver(app)
            except Exception:  # noqa: BLE001  (the outbox keeps the messages for the worker)
                log.exception("inline DSP delivery failed")
        response.call_on_close(_after)
    return response


def _callback_root() -> str:
    root = (current_app.config.get("PUBLIC_BASE_URL") or request.url_root).rstrip("/")
    return root + BASE_PATH + CALLBACK


# --- protocol endpoints -------------------------------------------------------------------

@protocol.before_request
def _authenticate() -> None:
    g.negotiation_pids = ("", "")
    ctx = context()
    g.participant = authenticate(ctx.participants, ctx.tokens, request.headers.get("Authorization"))


def _caller() -> Participant:
    return g.participant


@protocol.errorhandler(InvalidMessage)
def _invalid_message(exc: InvalidMessage):
    return _protocol_error(MessageRejected(exc))


@protocol.errorhandler(ConnectorError)
def _protocol_error(exc: ConnectorError):
    headers = {"WWW-Authenticate": 'Bearer realm="dsp"'} if exc.status == 401 else None
    provider_pid, consumer_pid = g.get("negotiation_pids", ("", ""))
    return json_response(messages.error(provider_pid, consumer_pid, exc.code, reasons(exc)), exc.status,
                         headers)


def _message(expected: str, *, provider_pid: str = "", consumer_pid: str = "") -> dict[str, Any]:
    g.negotiation_pids = (provider_pid, consumer_pid)
    body = json_body()
    if isinstance(body, dict):
        g.negotiation_pids = (provider_pid or str(body.get("providerPid", "")),
                              consumer_pid or str(body.get("consumerPid", "")))
    message_schemas().validate(body, expected=expected)
    return body


def _same_pid(message: dict[str, Any], key: str, pid: str) -> None:
    if message.get(key) != pid:
        raise BadRequest(f"the message's {key} {message.get(key)!r} is not the one in the path ({pid!r})")


@protocol.get("/negotiations/<provider_pid>")
def provider_get(provider_pid: str):
    g.negotiation_pids = (provider_pid, "")
    return json_response(service.status(uow(), _caller(), provider_pid, service.Role.PROVIDER))


@protocol.post("/negotiations/request")
def provider_request():
    message = _message("ContractRequestMessage")
    callback = check_callback_address(context().participants, message.get("callbackAddress"),
                                      caller=_caller())
    return _answer(service.provider_request(uow(), _runtime(), _caller(), message, callback), 201)


def _provider_post(provider_pid: str, expected: str) -> Response:
    message = _message(expected, provider_pid=provider_pid)
    _same_pid(message, "providerPid", provider_pid)
    return _answer(service.provider_message(uow(), _runtime(), _caller(), provider_pid, message))


@protocol.post("/negotiations/<provider_pid>/request")
def provider_counter_offer(provider_pid: str):
    return _provider_post(provider_pid, "ContractRequestMessage")


@protocol.post("/negotiations/<provider_pid>/events")
def provider_event(provider_pid: str):
    return _provider_post(provider_pid, "ContractNegotiationEventMessage")


@protocol.post("/negotiations/<provider_pid>/agreement/verification")
def provider_verification(provider_pid: str):
    return _provider_post(provider_pid, "ContractAgreementVerificationMessage")


@protocol.post("/negotiations/<provider_pid>/termination")
def provider_termination(provider_pid: str):
    return _provider_post(provider_pid, "ContractNegotiationTerminationMessage")


@protocol.post("/negotiations/offers")
def consumer_offer_initial():
    message = _message("ContractOfferMessage")
    if "consumerPid" in message:
        raise BadRequest("an offer naming a consumerPid belongs to "
                         "<callback>/negotiations/{consumerPid}/offers")
    callback = check_callback_address(context().participants, message.get("callbackAddress"),
                                      caller=_caller())
    negotiation = service.consumer_offer_initial(uow(), _runtime(), _caller(), message, callback)
    return _answer(service.ack(negotiation), 201)


@protocol.get(f"{CALLBACK}/negotiations/<consumer_pid>")
def consumer_get(consumer_pid: str):
    g.negotiation_pids = ("", consumer_pid)
    return json_response(service.status(uow(), _caller(), consumer_pid, service.Role.CONSUMER))


def _consumer_post(consumer_pid: str, expected: str) -> Response:
    message = _message(expected, consumer_pid=consumer_pid)
    _same_pid(message, "consumerPid", consumer_pid)
    return _answer(service.consumer_message(uow(), _runtime(), _caller(), consumer_pid, message))


@protocol.post(f"{CALLBACK}/negotiations/<consumer_pid>/offers")
def consumer_offer(consumer_pid: str):
    return _consumer_post(consumer_pid, "ContractOfferMessage")


@protocol.post(f"{CALLBACK}/negotiations/<consumer_pid>/agreement")
def consumer_agreement(consumer_pid: str):
    return _consumer_post(consumer_pid, "ContractAgreementMessage")


@protocol.post(f"{CALLBACK}/negotiations/<consumer_pid>/events")
def consumer_event(consumer_pid: str):
    return _consumer_post(consumer_pid, "ContractNegotiationEventMessage")


@protocol.post(f"{CALLBACK}/negotiations/<consumer_pid>/termination")
def consumer_termination(consumer_pid: str):
    return _consumer_post(consumer_pid, "ContractNegotiationTerminationMessage")


# --- management API -----------------------------------------------------------------------

def serialize(negotiation: Negotiation) -> dict[str, Any]:
    provider_pid, consumer_pid = service.pids(negotiation)
    body: dict[str, Any] = {
        "id": negotiation.id, "role": negotiation.role, "state": negotiation.state,
        "participant": negotiation.participant_id, "providerPid": provider_pid or None,
        "consumerPid": consumer_pid or None, "dataset": negotiation.dataset, "offer": negotiation.offer,
        "agreement": negotiation.agreement, "localAgreement": negotiation.agreement_id,
        "accessRequest": negotiation.access_request_id,
        "createdAt": negotiation.created_at.isoformat(), "updatedAt": negotiation.updated_at.isoformat()}
    if negotiation.state == service.N.TERMINATED:
        body["termination"] = {"code": negotiation.termination_code, "reason": negotiation.termination_reason}
    return body


def _start_body() -> dict[str, Any]:
    body = json_body()
    errors = []
    if not isinstance(body, dict):
        raise ValidationFailed([{"path": "$", "message": "expected an object"}])
    for key in sorted(set(body) - {"participant", "dataset", "offer", "project"}):
        errors.append({"path": f"$.{key}", "message": "unknown property"})
    for key in ("participant", "dataset", "project"):
        if not isinstance(body.get(key), str) or not body.get(key):
            errors.append({"path": f"$.{key}", "message": "required, a non-empty string"})
    offer = body.get("offer")
    if not (isinstance(offer, str) and offer) and not (isinstance(offer, dict) and offer.get("@id")):
        errors.append({"path": "$.offer", "message": "required: the remote Offer (with @id) or its @id"})
    if errors:
        raise ValidationFailed(errors)
    return body


@management.post("/negotiations")
def start_negotiation():
    caller = principal()
    body = _start_body()
    negotiation = service.consumer_start(uow(), _runtime(), caller, body, _callback_root())
    response = _answer(serialize(negotiation), 201)
    response.headers["Location"] = url_for("negotiations.get_negotiation", negotiation_id=negotiation.id)
    return response


@management.get("/negotiations")
def list_negotiations():
    role = request.args.get("role")
    if role not in (None, "provider", "consumer"):
        raise ValidationFailed([{"path": "$.role", "message": "role must be provider or consumer"}])
    items = service.list_negotiations(uow(), principal(), role=role)
    return json_response({"items": [serialize(item) for item in items]})


@management.get("/negotiations/<negotiation_id>")
def get_negotiation(negotiation_id: str):
    return json_response(serialize(service.get(uow(), principal(), negotiation_id)))


@management.post("/negotiations/<negotiation_id>/accept")
def accept_offer(negotiation_id: str):
    negotiation = service.accept(uow(), _runtime(), principal(), negotiation_id)
    return _answer(serialize(negotiation))


@management.post("/negotiations/<negotiation_id>/terminate")
def terminate_negotiation(negotiation_id: str):
    caller = principal()
    body = json_body() if request.content_length else {}
    reason = body.get("reason") if isinstance(body, dict) else None
    if reason is not None and (not isinstance(reason, str) or not reason.strip()):
        raise ValidationFailed([{"path": "$.reason", "message": "a non-empty string"}])
    negotiation = service.terminate(uow(), _runtime(), caller, negotiation_id, reason)
    return _answer(serialize(negotiation))
