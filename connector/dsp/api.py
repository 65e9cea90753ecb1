"""The HTTPS binding of the Dataspace Protocol 2025-1 (provider side, catalog protocol so far).

* ``GET /.well-known/dspace-version``: open to everyone (RFC 8615 location);
* ``POST <base>/oauth/token``: the OAuth2 client-credentials token endpoint for participants
  configured with ``oauth2`` credentials (RFC 6749 errors);
* everything else under ``<base>`` (:data:`BASE_PATH`) authenticates the participant first and
  answers errors as the sub-protocol's error message (``CatalogError``), ``application/json``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, Flask, current_app, g, request

from connector.config import ConfigError
from connector.dsp import PROTOCOL_VERSION, catalog_service
from connector.dsp import catalog as messages
from connector.dsp.errors import FilterUnsupported, MessageRejected, reasons
from connector.dsp.messages import InvalidMessage, message_schemas
from connector.dsp.participants import (
    OutboundCredentials,
    Participant,
    ParticipantRegistry,
    TokenIssuer,
    TokenRequestRefused,
    authenticate,
    client_credentials_grant,
)
from connector.dsp.principals import principal_for
from connector.errors import BadRequest, ConnectorError, NotFound, Unauthorized, ValidationFailed
from connector.http import int_arg, json_body, json_response, uow
from connector.identity import service as identity
from connector.identity.principal import Principal

BASE_PATH = f"/dsp/{PROTOCOL_VERSION}"
MAX_PAGE_SIZE = 1000

well_known = Blueprint("dsp_well_known", __name__)
oauth = Blueprint("dsp_oauth", __name__, url_prefix=BASE_PATH)
bp = Blueprint("dsp", __name__, url_prefix=BASE_PATH)


@dataclass
class DspContext:
    """Participants, our token issuer and outbound credentials, built once per application."""

    participants: ParticipantRegistry
    tokens: TokenIssuer
    outbound: OutboundCredentials


def init_app(app: Flask) -> None:
    """Read the participants (secrets from the environment) and register the DSP blueprints."""
    try:
        registry = ParticipantRegistry.from_config(app.config, os.environ)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    app.extensions["dsp"] = DspContext(registry, TokenIssuer(app.config["DSP_TOKEN_TTL_SECONDS"]),
                                       OutboundCredentials(registry))
    app.register_blueprint(well_known)
    app.register_blueprint(oauth)
    app.register_blueprint(bp)


def context() -> DspContext:
    return current_app.extensions["dsp"]


def _root() -> str:
    """Our public root URL (``PUBLIC_BASE_URL`` when set, else the request's), no trailing slash."""
    return (current_app.config.get("PUBLIC_BASE_URL") or request.url_root).rstrip("/")


def _service() -> messages.Service:
    base = _root() + BASE_PATH
    return messages.Service(id=base, endpoint_url=base)


def _participant_id() -> str:
    own = context().participants.self_id
    if own is None:  # only reachable without participants, so every call is refused before
        raise Unauthorized("this connector has no DSP participant id configured")
    return own


# --- version discovery ------------------------------------------------------------------

@well_known.get("/.well-known/dspace-version")
def dspace_version():
    version = {"version": PROTOCOL_VERSION, "path": urlsplit(_root()).path + BASE_PATH,
               "binding": "HTTPS", "serviceId": _service().id}
    if current_app.config.get("DSP_IDENTIFIER_TYPE"):
        version["identifierType"] = current_app.config["DSP_IDENTIFIER_TYPE"]
    return json_response({"protocolVersions": [version]})


# --- OAuth2 token endpoint --------------------------------------------------------------

@oauth.post("/oauth/token")
def issue_token():
    if request.mimetype != "application/x-www-form-urlencoded":
        raise TokenRequestRefused("invalid_request", "send the form as application/x-www-form-urlencoded")
    ctx = context()
    answer = client_credentials_grant(ctx.participants, ctx.tokens, request.form,
                                      request.headers.get("Authorization"))
    return json_response(answer, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


@oauth.errorhandler(TokenRequestRefused)
def _token_error(exc: TokenRequestRefused):
    headers = {"Cache-Control": "no-store"}
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="dsp"'
    return json_response({"error": exc.error, "error_description": exc.detail}, exc.status, headers)


# --- the authenticated protocol endpoints ----------------------------------------------

@bp.before_request
def _authenticate() -> None:
    ctx = context()
    g.participant = authenticate(ctx.participants, ctx.tokens, request.headers.get("Authorization"))


def _caller() -> Participant:
    return g.participant


@bp.errorhandler(InvalidMessage)
def _invalid_message(exc: InvalidMessage):
    return _protocol_error(MessageRejected(exc))


@bp.errorhandler(ConnectorError)
def _protocol_error(exc: ConnectorError):
    headers = {"WWW-Authenticate": 'Bearer realm="dsp"'} if exc.status == 401 else None
    return json_response(messages.error(exc.code, reasons(exc)), exc.status, headers)


def _page_arg(name: str, default: int, low: int, high: int) -> int:
    """:func:`connector.http.int_arg`, answered as the DSP error this binding uses (400)."""
    try:
        return int_arg(name, default, high, minimum=low)
    except ValidationFailed as exc:
        raise BadRequest(exc.errors[0]["message"]) from exc


def _parties(participant: Participant, principal: Principal) -> frozenset[str]:
    """Who the participant acts as, named as the policy evaluator names a requester: its local
    principal, its project and that project's organisation (offers assigned to anyone else
    are not shown to it)."""
    organisations = {o.id: o.slug for o in identity.list_organisations(uow())}
    return frozenset({principal.name, participant.project,
                      *(organisations[i] for i in principal.project_org_ids if i in organisations)})


def _link(offset: int, limit: int, rel: str) -> str:
    query = urlencode({"offset": offset, "limit": limit})
    return f'<{_root()}{BASE_PATH}/catalog/request?{query}>; rel="{rel}"'


@bp.post("/catalog/request")
def request_catalog():
    unknown = sorted(set(request.args) - {"offset", "limit"})
    if unknown:
        raise BadRequest(f"unknown query parameter(s): {', '.join(unknown)}")
    offset = _page_arg("offset", 0, 0, 2**31 - 1)
    limit = _page_arg("limit", current_app.config["DSP_PAGE_SIZE"], 1, MAX_PAGE_SIZE)
    message = json_body()
    message_schemas().validate(message, expected="CatalogRequestMessage")
    if message.get("filter"):
        raise FilterUnsupported("this connector does not support catalog filters; send none or []")
    principal = principal_for(uow(), _caller())
    page = catalog_service.catalog_page(uow(), principal,
                                        participant_id=_participant_id(), service=_service(),
                                        offset=offset, limit=limit)
    links = []
    if page.has_next:
        links.append(_link(offset + limit, limit, "next"))
    if offset > 0:
        links.append(_link(max(offset - limit, 0), limit, "previous"))
    return json_response(messages.catalog_for(_parties(_caller(), principal), page.catalog),
                         headers={"Link": ", ".join(links)} if links else None)


@bp.get("/catalog/datasets/<path:dataset_id>")
def get_dataset(dataset_id: str):
    principal = principal_for(uow(), _caller())
    body = catalog_service.dataset(uow(), principal, dataset_id,
                                   participant_id=_participant_id(), service=_service())
    offered = messages.offered_to(_parties(_caller(), principal), body)
    if offered is None:
        raise NotFound(f"no dataset {dataset_id!r}")
    return json_response(offered)
