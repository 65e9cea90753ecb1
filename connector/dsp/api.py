"""The HTTPS binding of the Dataspace Protocol 2025-1 (provider side, catalog protocol so far).

* ``GET /.well-known/dspace-version``: open to everyone (RFC 8615 location);
* ``POST <base>/oauth/token``: the OAuth2 client-credentials token endpoint for participants
  configured with ``oauth2`` credentials (RFC 6749 errors);
* everything else under ``<base>`` (:data:`BASE_PATH`) authenticates the participant first and
  answers errors as the sub-protocol's error message (``CatalogError``), ``application/json``.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, Flask, current_app, request

from connector.config import ConfigError
from connector.dsp import PROTOCOL_VERSION, catalog_service
from connector.dsp import catalog as messages
from connector.dsp.errors import FilterUnsupported
from connector.dsp.messages import message_schemas
from connector.dsp.participants import (
    OutboundCredentials,
    ParticipantRegistry,
    TokenIssuer,
    TokenRequestRefused,
    client_credentials_grant,
)
from connector.dsp.protocol import BASE_PATH, DspContext, bind, caller, context, public_root
from connector.dsp.trust import TrustStore
from connector.encryption import SecretBox
from connector.errors import BadRequest, Unauthorized, ValidationFailed
from connector.http import int_arg, json_body, json_response, uow

__all__ = ["BASE_PATH", "DspContext", "context", "init_app"]
MAX_PAGE_SIZE = 1000

well_known = Blueprint("dsp_well_known", __name__)
oauth = Blueprint("dsp_oauth", __name__, url_prefix=BASE_PATH)
bp = Blueprint("dsp", __name__, url_prefix=BASE_PATH)
bind(bp, lambda provider_pid, consumer_pid, code, reasons: messages.error(code, reasons))


def init_app(app: Flask, environ: Mapping[str, str]) -> None:
    """Read the participants (their secrets from ``environ``, the variables the settings name)
    and register the DSP blueprints."""
    try:
        registry = ParticipantRegistry.from_config(app.config, environ)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    trust = TrustStore(app.extensions["connector"].session_factory, SecretBox.from_config(app.config))
    app.extensions["dsp"] = DspContext(registry, TokenIssuer(trust, app.config["DSP_TOKEN_TTL_SECONDS"]),
                                       OutboundCredentials(registry, trust), trust)
    app.register_blueprint(well_known)
    app.register_blueprint(oauth)
    app.register_blueprint(bp)


def _service() -> messages.Service:
    base = public_root() + BASE_PATH
    return messages.Service(id=base, endpoint_url=base)


def _participant_id() -> str:
    own = context().participants.self_id
    if own is None:  # only reachable without participants, so every call is refused before
        raise Unauthorized("this connector has no DSP participant id configured")
    return own


# --- version discovery ------------------------------------------------------------------

@well_known.get("/.well-known/dspace-version")
def dspace_version():
    version = {"version": PROTOCOL_VERSION, "path": urlsplit(public_root()).path + BASE_PATH,
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


# --- the authenticated protocol endpoints (catalog) ---------------------------------------

def _page_arg(name: str, default: int, low: int, high: int) -> int:
    """:func:`connector.http.int_arg`, answered as the DSP error this binding uses (400)."""
    try:
        return int_arg(name, default, high, minimum=low)
    except ValidationFailed as exc:
        raise BadRequest(exc.errors[0]["message"]) from exc


def _link(offset: int, limit: int, rel: str) -> str:
    query = urlencode({"offset": offset, "limit": limit})
    return f'<{public_root()}{BASE_PATH}/catalog/request?{query}>; rel="{rel}"'


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
    page = catalog_service.catalog_page(uow(), caller(), participant_id=_participant_id(),
                                        service=_service(), offset=offset, limit=limit)
    links = []
    if page.next_offset is not None:
        links.append(_link(page.next_offset, limit, "next"))
    if offset > 0:
        links.append(_link(max(offset - limit, 0), limit, "previous"))
    return json_response(page.catalog, headers={"Link": ", ".join(links)} if links else None)


@bp.get("/catalog/datasets/<path:dataset_id>")
def get_dataset(dataset_id: str):
    return json_response(catalog_service.dataset(uow(), caller(), dataset_id,
                                                 participant_id=_participant_id(), service=_service()))
