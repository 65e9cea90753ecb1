"""Transfer processes over HTTP: the DSP 2025-1 HTTPS binding (provider endpoints and consumer
callbacks under ``<base>``), the data endpoint of pull transfers (``<base>/data/<providerPid>/``)
and the management API of our teams (``/api/v1/transfers``).

Protocol errors are ``TransferError`` messages (``application/json``); the data endpoint and
the management API answer problem+json. After a request commits, :func:`deliver` runs once
the response is closed (staging jobs of transfers, then the outbox), unless
:attr:`TransferContext.deliver_inline` is off (tests drive delivery).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request, url_for

from connector.db import utcnow
from connector.dsp import transfer as messages
from connector.dsp import (
    transfer_consumer,
    transfer_data,
    transfer_management,
    transfer_progress,
    transfer_provider,
)
from connector.dsp.management import reason_arg, role_arg, trigger_body
from connector.dsp.models import Transfer
from connector.dsp.negotiation_api import runtime_of
from connector.dsp.outbox import deliver_pending
from connector.dsp.participants import bearer_token, check_callback_address
from connector.dsp.process import pids
from connector.dsp.protocol import (
    BASE_PATH,
    CALLBACK,
    bind,
    callback_root,
    caller,
    concerning,
    context,
    public_root,
    read_message,
)
from connector.dsp.protocol import answer as protocol_answer
from connector.dsp.push import read_s3_address
from connector.dsp.states import Role
from connector.dsp.transfer_steps import TransferRuntime, status
from connector.errors import ValidationFailed
from connector.http import json_body, json_response, principal, uow
from connector.staging.storage import StorageTier
from connector.uow import UnitOfWork

DATA = "/data"

protocol = Blueprint("dsp_transfer", __name__, url_prefix=BASE_PATH)
bind(protocol, messages.error)
data = Blueprint("dsp_data", __name__, url_prefix=BASE_PATH + DATA)
management = Blueprint("transfers", __name__, url_prefix="/api/v1")


@dataclass
class TransferContext:
    runtime: TransferRuntime
    deliver_inline: bool = True


def init_app(app: Flask) -> None:
    """Register the blueprints; call after :func:`connector.dsp.negotiation_api.init_app`."""
    ext = app.extensions["connector"]
    runtime = TransferRuntime(base=runtime_of(app), staging=ext.staging, schemas=ext.schemas)
    app.extensions["dsp_transfer"] = TransferContext(runtime)
    app.register_blueprint(protocol)
    app.register_blueprint(data)
    app.register_blueprint(management)


def transfer_runtime(app: Flask) -> TransferRuntime:
    return app.extensions["dsp_transfer"].runtime


def deliver(app: Flask) -> int:
    """Advance transfers (running their staging jobs when inline), then deliver the outbox of
    negotiations and transfers: what the worker does each tick. Returns messages delivered."""
    unit = UnitOfWork(app.extensions["connector"].session_factory)
    app.extensions["dsp"].trust.purge_expired(utcnow())  # expired tokens and secrets
    transfer_progress.advance(unit, _current(app))
    return deliver_pending(unit, runtime_of(app))


def _current(app: Flask) -> TransferRuntime:
    """The transfer runtime with the app's current negotiation runtime (tests swap its client)."""
    return dataclasses.replace(transfer_runtime(app), base=runtime_of(app))


def _runtime() -> TransferRuntime:
    return _current(current_app)


def _answer(document: Any, status: int = 200) -> Response:
    inline = current_app.extensions["dsp_transfer"].deliver_inline
    return protocol_answer(document, status, inline=inline, deliver=deliver)


# --- protocol endpoints -------------------------------------------------------------------

@protocol.get("/transfers/<provider_pid>")
def provider_get(provider_pid: str):
    concerning(provider_pid=provider_pid)
    return json_response(status(uow(), caller(), provider_pid, Role.PROVIDER))


@protocol.post("/transfers/request")
def provider_request():
    message = read_message("TransferRequestMessage")
    callback = check_callback_address(context().participants, message.get("callbackAddress"), caller=caller())
    answer = transfer_provider.provider_request(uow(), _runtime(), caller(), message, callback,
                                      public_root() + BASE_PATH + DATA)
    return _answer(answer, 201)


@protocol.get(f"{CALLBACK}/transfers/<consumer_pid>")
def consumer_get(consumer_pid: str):
    concerning(consumer_pid=consumer_pid)
    return json_response(status(uow(), caller(), consumer_pid, Role.CONSUMER))


def _provider_post(provider_pid: str, expected: str) -> Response:
    message = read_message(expected, provider_pid=provider_pid)
    return _answer(transfer_provider.provider_message(uow(), _runtime(), caller(), provider_pid, message))


def _consumer_post(consumer_pid: str, expected: str) -> Response:
    message = read_message(expected, consumer_pid=consumer_pid)
    return _answer(transfer_consumer.consumer_message(uow(), _runtime(), caller(), consumer_pid, message))


#: The messages on an existing transfer: the same four to the provider and to the consumer.
for _suffix, _expected in (("start", "TransferStartMessage"), ("completion", "TransferCompletionMessage"),
                           ("suspension", "TransferSuspensionMessage"),
                           ("termination", "TransferTerminationMessage")):
    protocol.add_url_rule(f"/transfers/<provider_pid>/{_suffix}", f"provider_{_suffix}",
                          lambda provider_pid, _expected=_expected: _provider_post(provider_pid, _expected),
                          methods=["POST"])
    protocol.add_url_rule(f"{CALLBACK}/transfers/<consumer_pid>/{_suffix}", f"consumer_{_suffix}",
                          lambda consumer_pid, _expected=_expected: _consumer_post(consumer_pid, _expected),
                          methods=["POST"])


@protocol.post("/triggers/transfers")
def trigger_transfer():
    """The Dataspace TCK's ``transfer.initiate.url``: the calling participant has us ask it, as
    consumer, for the data of an agreement we reached with it (``DSP_TRIGGERS``; docs/dsp.md)."""
    body = trigger_body("providerId", "agreementId", "format", "connectorAddress")
    transfer, created = transfer_management.trigger_start(uow(), _runtime(), caller(), body, callback_root())
    return _answer(serialize(transfer), 201 if created else 200)


# --- the data endpoint ----------------------------------------------------------------------

@data.after_request
def _challenge(response: Response) -> Response:
    if response.status_code == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="dsp-data"'
    response.headers["Cache-Control"] = "no-store"
    return response


def _published(provider_pid: str) -> transfer_data.PublishedData:
    token = bearer_token(request.headers.get("Authorization"))
    return transfer_data.open_data(uow(), provider_pid, token, now=utcnow())


@data.get("/<provider_pid>/")
def data_listing(provider_pid: str):
    return json_response(_published(provider_pid).manifest)


@data.get("/<provider_pid>/<name>")
def data_file(provider_pid: str, name: str):
    published = _published(provider_pid)
    settings = current_app.extensions["connector"].staging
    tier = StorageTier.from_url(settings.storage_url, **settings.storage_options)
    size, chunks = transfer_data.data_file(tier, published, name)
    mimetype = "application/json" if name.endswith(".json") else "application/vnd.apache.parquet"
    return Response(chunks, mimetype=mimetype, headers={"Content-Length": str(size)})


# --- management API -----------------------------------------------------------------------

def serialize(transfer: Transfer) -> dict[str, Any]:
    provider_pid, consumer_pid = pids(transfer)
    body: dict[str, Any] = {
        "id": transfer.id, "role": transfer.role, "state": transfer.state,
        "participant": transfer.participant_id, "providerPid": provider_pid or None,
        "consumerPid": consumer_pid or None, "agreement": transfer.agreement,
        "localAgreement": transfer.agreement_id, "negotiation": transfer.negotiation_id,
        "format": transfer.format, "stagingJob": transfer.staging_job_id,
        "createdAt": transfer.created_at.isoformat(), "updatedAt": transfer.updated_at.isoformat()}
    if transfer.termination_code or transfer.termination_reason:
        body["reason"] = {"code": transfer.termination_code, "reason": transfer.termination_reason}
    return body


@management.post("/transfers")
def start_transfer():
    who = principal()
    body = json_body()
    if not isinstance(body, dict):
        raise ValidationFailed([{"path": "$", "message": "expected an object"}])
    errors = [{"path": f"$.{key}", "message": "unknown property"}
              for key in sorted(set(body) - {"negotiation", "format", "dataAddress"})]
    if not isinstance(body.get("negotiation"), str) or not body["negotiation"]:
        errors.append({"path": "$.negotiation", "message": "required: the id of a FINALIZED negotiation"})
    target = None
    fmt = body.get("format", messages.PULL_FORMAT)
    if fmt not in messages.FORMATS:
        errors.append({"path": "$.format", "message": f"one of {', '.join(sorted(messages.FORMATS))}"})
    elif fmt == messages.PUSH_FORMAT:
        try:
            target = read_s3_address(body.get("dataAddress"))
        except ValueError as exc:
            errors.append({"path": "$.dataAddress", "message": str(exc)})
    elif "dataAddress" in body:
        errors.append({"path": "$.dataAddress", "message": f"only with format {messages.PUSH_FORMAT}"})
    if errors:
        raise ValidationFailed(errors)
    transfer, created = transfer_management.consumer_start(uow(), _runtime(), who, body["negotiation"],
                                                           callback_root(), target=target)
    response = _answer(serialize(transfer), 201 if created else 200)
    response.headers["Location"] = url_for("transfers.get_transfer", transfer_id=transfer.id)
    return response


@management.get("/transfers")
def list_transfers():
    items = transfer_management.list_transfers(uow(), principal(), role=role_arg())
    return json_response({"items": [serialize(item) for item in items]})


@management.get("/transfers/<transfer_id>")
def get_transfer(transfer_id: str):
    return json_response(serialize(transfer_management.get(uow(), principal(), transfer_id)))


def _act(transfer_id: str, action: str) -> Response:
    who = principal()
    transfer = transfer_management.act(uow(), _runtime(), who, transfer_id, action, reason_arg())
    return _answer(serialize(transfer))


for _action in ("suspend", "resume", "complete", "terminate"):
    management.add_url_rule(f"/transfers/<transfer_id>/{_action}", f"{_action}_transfer",
                            lambda transfer_id, _action=_action: _act(transfer_id, _action), methods=["POST"])
