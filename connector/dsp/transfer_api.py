"""Transfer processes over HTTP: the DSP 2025-1 HTTPS binding (provider endpoints and consumer
callbacks under ``<base>``), the data endpoint of pull transfers (``<base>/data/<providerPid>/``)
and the management API of our teams (``/api/v1/transfers``).

Protocol errors are ``TransferError`` messages (``application/json``); the data endpoint and
the management API answer problem+json. After a request commits, :func:`deliver` runs once
the response is closed (staging jobs of transfers, then the outbox), unless
:attr:`TransferContext.deliver_inline` is off (tests drive delivery).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, request, url_for

from connector.db import utcnow
from connector.dsp import transfer as messages
from connector.dsp import transfer_service as service
from connector.dsp.api import BASE_PATH, context
from connector.dsp.errors import MessageRejected, reasons
from connector.dsp.messages import InvalidMessage, message_schemas
from connector.dsp.models import Transfer
from connector.dsp.negotiation_api import CALLBACK, runtime_of
from connector.dsp.outbox import deliver_pending
from connector.dsp.participants import Participant, authenticate, bearer_token, check_callback_address
from connector.dsp.push import read_s3_address
from connector.dsp.states import Role
from connector.errors import BadRequest, ConnectorError, ValidationFailed
from connector.http import json_body, json_response, principal, uow
from connector.staging.storage import StorageTier
from connector.uow import UnitOfWork

log = logging.getLogger(__name__)
DATA = "/data"

protocol = Blueprint("dsp_transfer", __name__, url_prefix=BASE_PATH)
data = Blueprint("dsp_data", __name__, url_prefix=BASE_PATH + DATA)
management = Blueprint("transfers", __name__, url_prefix="/api/v1")


@dataclass
class TransferContext:
    runtime: service.TransferRuntime
    deliver_inline: bool = True


def init_app(app: Flask) -> None:
    """Register the blueprints; call after :func:`connector.dsp.negotiation_api.init_app`."""
    ext = app.extensions["connector"]
    runtime = service.TransferRuntime(base=runtime_of(app), staging=ext.staging, schemas=ext.schemas)
    app.extensions["dsp_transfer"] = TransferContext(runtime)
    app.register_blueprint(protocol)
    app.register_blueprint(data)
    app.register_blueprint(management)


def transfer_runtime(app: Flask) -> service.TransferRuntime:
    return app.extensions["dsp_transfer"].runtime


def deliver(app: Flask) -> int:
    """Advance transfers (running their staging jobs when inline), then deliver the outbox of
    negotiations and transfers: what the worker does each tick. Returns messages delivered."""
    unit = UnitOfWork(app.extensions["connector"].session_factory)
    runtime = transfer_runtime(app)
    service.advance(unit, _current(runtime, app))
    return deliver_pending(unit, runtime_of(app))


def _current(runtime: service.TransferRuntime, app: Flask) -> service.TransferRuntime:
    """The transfer runtime with the app's current negotiation runtime (tests swap its client)."""
    import dataclasses

    return dataclasses.replace(runtime, base=runtime_of(app))


def _runtime() -> service.TransferRuntime:
    return _current(transfer_runtime(current_app), current_app)


def _answer(document: Any, status: int = 200) -> Response:
    response = json_response(document, status)
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if app.extensions["dsp_transfer"].deliver_inline:
        def _after() -> None:
            try:
                deliver(app)
            except Exception:  # noqa: BLE001  (the rows keep the state for the worker)
                log.exception("inline DSP transfer delivery failed")
        response.call_on_close(_after)
    return response


def _root() -> str:
    return (current_app.config.get("PUBLIC_BASE_URL") or request.url_root).rstrip("/")


# --- protocol endpoints -------------------------------------------------------------------

@protocol.before_request
def _authenticate() -> None:
    g.transfer_pids = ("", "")
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
    provider_pid, consumer_pid = g.get("transfer_pids", ("", ""))
    return json_response(messages.error(provider_pid, consumer_pid, exc.code, reasons(exc)), exc.status,
                         headers)


def _message(expected: str, *, provider_pid: str = "", consumer_pid: str = "") -> dict[str, Any]:
    g.transfer_pids = (provider_pid, consumer_pid)
    body = json_body()
    if isinstance(body, dict):
        g.transfer_pids = (provider_pid or str(body.get("providerPid", "")),
                           consumer_pid or str(body.get("consumerPid", "")))
    message_schemas().validate(body, expected=expected)
    return body


@protocol.get("/transfers/<provider_pid>")
def provider_get(provider_pid: str):
    g.transfer_pids = (provider_pid, "")
    return json_response(service.status(uow(), _caller(), provider_pid, Role.PROVIDER))


@protocol.post("/transfers/request")
def provider_request():
    message = _message("TransferRequestMessage")
    callback = check_callback_address(context().participants, message.get("callbackAddress"),
                                      caller=_caller())
    answer = service.provider_request(uow(), _runtime(), _caller(), message, callback,
                                      _root() + BASE_PATH + DATA)
    return _answer(answer, 201)


def _provider_post(provider_pid: str, expected: str) -> Response:
    message = _message(expected, provider_pid=provider_pid)
    return _answer(service.provider_message(uow(), _runtime(), _caller(), provider_pid, message))


@protocol.post("/transfers/<provider_pid>/start")
def provider_start(provider_pid: str):
    return _provider_post(provider_pid, "TransferStartMessage")


@protocol.post("/transfers/<provider_pid>/completion")
def provider_completion(provider_pid: str):
    return _provider_post(provider_pid, "TransferCompletionMessage")


@protocol.post("/transfers/<provider_pid>/suspension")
def provider_suspension(provider_pid: str):
    return _provider_post(provider_pid, "TransferSuspensionMessage")


@protocol.post("/transfers/<provider_pid>/termination")
def provider_termination(provider_pid: str):
    return _provider_post(provider_pid, "TransferTerminationMessage")


@protocol.get(f"{CALLBACK}/transfers/<consumer_pid>")
def consumer_get(consumer_pid: str):
    g.transfer_pids = ("", consumer_pid)
    return json_response(service.status(uow(), _caller(), consumer_pid, Role.CONSUMER))


def _consumer_post(consumer_pid: str, expected: str) -> Response:
    message = _message(expected, consumer_pid=consumer_pid)
    return _answer(service.consumer_message(uow(), _runtime(), _caller(), consumer_pid, message))


@protocol.post(f"{CALLBACK}/transfers/<consumer_pid>/start")
def consumer_start(consumer_pid: str):
    return _consumer_post(consumer_pid, "TransferStartMessage")


@protocol.post(f"{CALLBACK}/transfers/<consumer_pid>/completion")
def consumer_completion(consumer_pid: str):
    return _consumer_post(consumer_pid, "TransferCompletionMessage")


@protocol.post(f"{CALLBACK}/transfers/<consumer_pid>/suspension")
def consumer_suspension(consumer_pid: str):
    return _consumer_post(consumer_pid, "TransferSuspensionMessage")


@protocol.post(f"{CALLBACK}/transfers/<consumer_pid>/termination")
def consumer_termination(consumer_pid: str):
    return _consumer_post(consumer_pid, "TransferTerminationMessage")


# --- the data endpoint ----------------------------------------------------------------------

@data.after_request
def _challenge(response: Response) -> Response:
    if response.status_code == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="dsp-data"'
    response.headers["Cache-Control"] = "no-store"
    return response


def _published(provider_pid: str) -> service.PublishedData:
    token = bearer_token(request.headers.get("Authorization"))
    return service.open_data(uow(), provider_pid, token, now=utcnow())


@data.get("/<provider_pid>/")
def data_listing(provider_pid: str):
    return json_response(_published(provider_pid).manifest)


@data.get("/<provider_pid>/<name>")
def data_file(provider_pid: str, name: str):
    published = _published(provider_pid)
    settings = current_app.extensions["connector"].staging
    tier = StorageTier.from_url(settings.storage_url, **settings.storage_options)
    size, chunks = service.data_file(tier, published, name)
    mimetype = "application/json" if name.endswith(".json") else "application/vnd.apache.parquet"
    return Response(chunks, mimetype=mimetype, headers={"Content-Length": str(size)})


# --- management API -----------------------------------------------------------------------

def serialize(transfer: Transfer) -> dict[str, Any]:
    provider_pid, consumer_pid = service.pids(transfer)
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
    caller = principal()
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
    callback = _root() + BASE_PATH + CALLBACK
    transfer, created = service.consumer_start(uow(), _runtime(), caller, body["negotiation"], callback,
                                               target=target)
    response = _answer(serialize(transfer), 201 if created else 200)
    response.headers["Location"] = url_for("transfers.get_transfer", transfer_id=transfer.id)
    return response


@management.get("/transfers")
def list_transfers():
    role = request.args.get("role")
    if role not in (None, "provider", "consumer"):
        raise ValidationFailed([{"path": "$.role", "message": "role must be provider or consumer"}])
    items = service.list_transfers(uow(), principal(), role=role)
    return json_response({"items": [serialize(item) for item in items]})


@management.get("/transfers/<transfer_id>")
def get_transfer(transfer_id: str):
    return json_response(serialize(service.get(uow(), principal(), transfer_id)))


def _act(transfer_id: str, action: str) -> Response:
    caller = principal()
    body = json_body() if request.content_length else {}
    reason = body.get("reason") if isinstance(body, dict) else None
    if reason is not None and (not isinstance(reason, str) or not reason.strip()):
        raise ValidationFailed([{"path": "$.reason", "message": "a non-empty string"}])
    if not isinstance(body, dict):
        raise BadRequest("send a JSON object, or no body")
    return _answer(serialize(service.act(uow(), _runtime(), caller, transfer_id, action, reason)))


@management.post("/transfers/<transfer_id>/suspend")
def suspend_transfer(transfer_id: str):
    return _act(transfer_id, "suspend")


@management.post("/transfers/<transfer_id>/resume")
def resume_transfer(transfer_id: str):
    return _act(transfer_id, "resume")


@management.post("/transfers/<transfer_id>/terminate")
def terminate_transfer(transfer_id: str):
    return _act(transfer_id, "terminate")
