"""The plumbing of the DSP 2025-1 HTTPS binding that every sub-protocol blueprint shares.

Each protocol endpoint authenticates the participant first (:func:`bind`), reads its message
against the official schemas (:func:`read_message`), answers errors as the sub-protocol's error
message (``CatalogError``, ``ContractNegotiationError``, ``TransferError``: ``application/json``
naming the process ids the request concerned), and, after a state change, delivers what we owe
once the response is closed (:func:`answer`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, request

from connector.dsp import PROTOCOL_VERSION
from connector.dsp.errors import MessageRejected, reasons
from connector.dsp.messages import InvalidMessage, message_schemas
from connector.dsp.participants import (
    OutboundCredentials,
    Participant,
    ParticipantRegistry,
    TokenIssuer,
    authenticate,
)
from connector.dsp.trust import TrustStore
from connector.errors import ConnectorError
from connector.http import json_body, json_response

log = logging.getLogger(__name__)
BASE_PATH = f"/dsp/{PROTOCOL_VERSION}"
#: Our callback address is ``<base><CALLBACK>``.
CALLBACK = "/callback"

#: Renders an error: (providerPid, consumerPid, code, reasons) -> the sub-protocol's error message.
ErrorMessage = Callable[[str, str, str, list[str]], dict[str, Any]]


@dataclass
class DspContext:
    """Participants, our token issuer and outbound credentials, built once per application,
    over the trust state every process shares."""

    participants: ParticipantRegistry
    tokens: TokenIssuer
    outbound: OutboundCredentials
    trust: TrustStore


def context() -> DspContext:
    return current_app.extensions["dsp"]


def public_root() -> str:
    """Our public root URL (``PUBLIC_BASE_URL`` when set, else the request's), no trailing slash."""
    return (current_app.config.get("PUBLIC_BASE_URL") or request.url_root).rstrip("/")


def callback_root() -> str:
    """The callback address we give peers."""
    return public_root() + BASE_PATH + CALLBACK


def caller() -> Participant:
    """The participant authenticated for this request."""
    return g.participant


def bind(blueprint: Blueprint, error_message: ErrorMessage) -> None:
    """Authenticate every request of ``blueprint`` and answer its errors with ``error_message``."""

    def authenticate_participant() -> None:
        g.dsp_pids = ("", "")
        ctx = context()
        g.participant = authenticate(ctx.participants, ctx.tokens, request.headers.get("Authorization"))

    def protocol_error(exc: ConnectorError) -> Response:
        headers = {"WWW-Authenticate": 'Bearer realm="dsp"'} if exc.status == 401 else None
        provider_pid, consumer_pid = g.get("dsp_pids", ("", ""))
        return json_response(error_message(provider_pid, consumer_pid, exc.code, reasons(exc)), exc.status,
                             headers)

    blueprint.before_request(authenticate_participant)
    blueprint.register_error_handler(InvalidMessage, lambda exc: protocol_error(MessageRejected(exc)))
    blueprint.register_error_handler(ConnectorError, protocol_error)


def concerning(provider_pid: str = "", consumer_pid: str = "") -> None:
    """Name the process ids an error of this request reports."""
    g.dsp_pids = (provider_pid, consumer_pid)


def read_message(expected: str, *, provider_pid: str = "", consumer_pid: str = "") -> dict[str, Any]:
    """The request's message, valid against the official schema of ``expected``; the ids of the
    path (else the message's) are what an error reports."""
    concerning(provider_pid, consumer_pid)
    body = json_body()
    if isinstance(body, dict):
        concerning(provider_pid or str(body.get("providerPid", "")),
                   consumer_pid or str(body.get("consumerPid", "")))
    message_schemas().validate(body, expected=expected)
    return body


def answer(document: Any, status: int = 200, *, inline: bool, deliver: Callable[[Flask], int]) -> Response:
    """``document`` as JSON; when ``inline``, ``deliver(app)`` runs once the response is closed
    (a failure is logged: the rows keep the state for the worker)."""
    response = json_response(document, status)
    if inline:
        app = current_app._get_current_object()  # type: ignore[attr-defined]

        def after() -> None:
            try:
                deliver(app)
            except Exception:  # noqa: BLE001
                log.exception("inline DSP delivery failed")

        response.call_on_close(after)
    return response
