"""Contract negotiation over HTTP: the DSP 2025-1 HTTPS binding (provider and consumer
callback endpoints under ``<base>``) and the management API of our teams (``/api/v1/negotiations``).

Protocol errors are ``ContractNegotiationError`` messages (``application/json``); the
management API answers problem+json like the rest of ``/api/v1``. Our callback address is
``<base>/callback``. After a request commits, the outbox is delivered once the response is
closed, unless :attr:`NegotiationContext.deliver_inline` is off (tests drive delivery).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, Response, current_app, url_for

from connector.db import utcnow
from connector.dsp import negotiation as messages
from connector.dsp import negotiation_consumer, negotiation_management, negotiation_provider
from connector.dsp.client import DspClient
from connector.dsp.management import reason_arg, role_arg, trigger_body
from connector.dsp.models import Negotiation
from connector.dsp.negotiation_steps import N, Runtime, ack, status
from connector.dsp.outbox import deliver_pending
from connector.dsp.participants import check_callback_address
from connector.dsp.process import pids
from connector.dsp.protocol import (
    BASE_PATH,
    CALLBACK,
    bind,
    callback_root,
    caller,
    concerning,
    context,
    read_message,
)
from connector.dsp.protocol import answer as protocol_answer
from connector.dsp.push import SecretStore
from connector.dsp.states import Role
from connector.errors import BadRequest, ValidationFailed
from connector.http import json_body, json_response, principal, uow
from connector.policies.service import Site
from connector.uow import UnitOfWork

__all__ = ["CALLBACK", "deliver", "init_app", "runtime_of", "serialize"]

protocol = Blueprint("dsp_negotiation", __name__, url_prefix=BASE_PATH)
bind(protocol, messages.error)
management = Blueprint("negotiations", __name__, url_prefix="/api/v1")


@dataclass
class NegotiationContext:
    runtime: Runtime
    deliver_inline: bool = True


def init_app(app: Flask) -> None:
    """Register both blueprints; call after :func:`connector.dsp.api.init_app`."""
    dsp = app.extensions["dsp"]
    runtime = Runtime(
        own_id=dsp.participants.self_id or "", participants=dsp.participants,
        client=DspClient(dsp.outbound),
        site=Site(location=app.config["SITE_LOCATION"], region=app.config["SITE_REGION"]), clock=utcnow,
        secrets=SecretStore(dsp.trust))
    app.extensions["dsp_negotiation"] = NegotiationContext(runtime)
    app.register_blueprint(protocol)
    app.register_blueprint(management)


def runtime_of(app: Flask) -> Runtime:
    return app.extensions["dsp_negotiation"].runtime


def deliver(app: Flask) -> int:
    """Deliver the app's outbox now (what the worker does each tick)."""
    return deliver_pending(UnitOfWork(app.extensions["connector"].session_factory), runtime_of(app))


def _runtime() -> Runtime:
    return runtime_of(current_app)


def _answer(document: Any, status: int = 200) -> Response:
    inline = current_app.extensions["dsp_negotiation"].deliver_inline
    return protocol_answer(document, status, inline=inline, deliver=deliver)


# --- protocol endpoints -------------------------------------------------------------------

def _same_pid(message: dict[str, Any], key: str, pid: str) -> None:
    if message.get(key) != pid:
        raise BadRequest(f"the message's {key} {message.get(key)!r} is not the one in the path ({pid!r})")


@protocol.get("/negotiations/<provider_pid>")
def provider_get(provider_pid: str):
    concerning(provider_pid=provider_pid)
    return json_response(status(uow(), caller(), provider_pid, Role.PROVIDER))


@protocol.post("/negotiations/request")
def provider_request():
    message = read_message("ContractRequestMessage")
    callback = check_callback_address(context().participants, message.get("callbackAddress"), caller=caller())
    return _answer(negotiation_provider.provider_request(uow(), _runtime(), caller(), message, callback), 201)


def _provider_post(provider_pid: str, expected: str) -> Response:
    message = read_message(expected, provider_pid=provider_pid)
    _same_pid(message, "providerPid", provider_pid)
    return _answer(negotiation_provider.provider_message(uow(), _runtime(), caller(), provider_pid, message))


@protocol.post("/negotiations/offers")
def consumer_offer_initial():
    message = read_message("ContractOfferMessage")
    if "consumerPid" in message:
        raise BadRequest("an offer naming a consumerPid belongs to "
                         "<callback>/negotiations/{consumerPid}/offers")
    callback = check_callback_address(context().participants, message.get("callbackAddress"), caller=caller())
    negotiation = negotiation_consumer.consumer_offer_initial(uow(), _runtime(), caller(), message, callback)
    return _answer(ack(negotiation), 201)


@protocol.get(f"{CALLBACK}/negotiations/<consumer_pid>")
def consumer_get(consumer_pid: str):
    concerning(consumer_pid=consumer_pid)
    return json_response(status(uow(), caller(), consumer_pid, Role.CONSUMER))


def _consumer_post(consumer_pid: str, expected: str) -> Response:
    message = read_message(expected, consumer_pid=consumer_pid)
    _same_pid(message, "consumerPid", consumer_pid)
    return _answer(negotiation_consumer.consumer_message(uow(), _runtime(), caller(), consumer_pid, message))


#: (endpoint, path, message type) of the messages on an existing negotiation, as provider and consumer.
for _endpoint, _path, _expected in (
        ("provider_counter_offer", "/negotiations/<provider_pid>/request", "ContractRequestMessage"),
        ("provider_event", "/negotiations/<provider_pid>/events", "ContractNegotiationEventMessage"),
        ("provider_verification", "/negotiations/<provider_pid>/agreement/verification",
         "ContractAgreementVerificationMessage"),
        ("provider_termination", "/negotiations/<provider_pid>/termination",
         "ContractNegotiationTerminationMessage")):
    protocol.add_url_rule(_path, _endpoint, lambda provider_pid, _expected=_expected:
                          _provider_post(provider_pid, _expected), methods=["POST"])
for _endpoint, _path, _expected in (
        ("consumer_offer", "/negotiations/<consumer_pid>/offers", "ContractOfferMessage"),
        ("consumer_agreement", "/negotiations/<consumer_pid>/agreement", "ContractAgreementMessage"),
        ("consumer_event", "/negotiations/<consumer_pid>/events", "ContractNegotiationEventMessage"),
        ("consumer_termination", "/negotiations/<consumer_pid>/termination",
         "ContractNegotiationTerminationMessage")):
    protocol.add_url_rule(CALLBACK + _path, _endpoint, lambda consumer_pid, _expected=_expected:
                          _consumer_post(consumer_pid, _expected), methods=["POST"])


@protocol.post("/triggers/negotiations")
def trigger_negotiation():
    """The Dataspace TCK's ``negotiation.initiate.url``: the calling participant has us request
    one of its datasets as consumer (``DSP_TRIGGERS``; docs/dsp.md)."""
    body = trigger_body("providerId", "datasetId", "offerId", "connectorAddress")
    negotiation = negotiation_management.trigger_start(uow(), _runtime(), caller(), body, callback_root())
    return _answer(serialize(negotiation), 201)


# --- management API -----------------------------------------------------------------------

def serialize(negotiation: Negotiation) -> dict[str, Any]:
    provider_pid, consumer_pid = pids(negotiation)
    body: dict[str, Any] = {
        "id": negotiation.id, "role": negotiation.role, "state": negotiation.state,
        "participant": negotiation.participant_id, "providerPid": provider_pid or None,
        "consumerPid": consumer_pid or None, "dataset": negotiation.dataset, "offer": negotiation.offer,
        "agreement": negotiation.agreement, "localAgreement": negotiation.agreement_id,
        "accessRequest": negotiation.access_request_id,
        "createdAt": negotiation.created_at.isoformat(), "updatedAt": negotiation.updated_at.isoformat()}
    if negotiation.state == N.TERMINATED:
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
    who = principal()
    body = _start_body()
    negotiation = negotiation_management.consumer_start(uow(), _runtime(), who, body, callback_root())
    response = _answer(serialize(negotiation), 201)
    response.headers["Location"] = url_for("negotiations.get_negotiation", negotiation_id=negotiation.id)
    return response


@management.get("/negotiations")
def list_negotiations():
    items = negotiation_management.list_negotiations(uow(), principal(), role=role_arg())
    return json_response({"items": [serialize(item) for item in items]})


@management.get("/negotiations/<negotiation_id>")
def get_negotiation(negotiation_id: str):
    return json_response(serialize(negotiation_management.get(uow(), principal(), negotiation_id)))


@management.post("/negotiations/<negotiation_id>/accept")
def accept_offer(negotiation_id: str):
    negotiation = negotiation_management.accept(uow(), _runtime(), principal(), negotiation_id)
    return _answer(serialize(negotiation))


@management.post("/negotiations/<negotiation_id>/terminate")
def terminate_negotiation(negotiation_id: str):
    who = principal()
    negotiation = negotiation_management.terminate(uow(), _runtime(), who, negotiation_id, reason_arg())
    return _answer(serialize(negotiation))
