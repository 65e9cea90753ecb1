"""Participants and trust: configuration, inbound authentication (bearer and OAuth2 client
credentials), outbound Authorization headers, and the callback-address rule."""

from __future__ import annotations

import base64
import hashlib
import threading

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from connector.app import create_app
from connector.config import ConfigError, load_config
from connector.dsp.models import IssuedToken
from connector.dsp.participants import (
    CallbackRefused,
    OutboundCredentials,
    ParticipantRegistry,
    ParticipantUnreachable,
    TokenIssuer,
    check_callback_address,
    parse_participants,
)
from tests.dsp.conftest import (
    OAUTH_SECRET,
    OWN_ID,
    PARTICIPANTS,
    PARTNER,
    PARTNER_TOKEN,
    bearer,
    catalog_request,
    dsp_config,
)

CATALOG = "/dsp/2025-1/catalog/request"
TOKEN = "/dsp/2025-1/oauth/token"


# --- configuration ----------------------------------------------------------------------

def _with(index: int, **changes):
    entries = [dict(p) for p in PARTICIPANTS]
    entries[index].update(changes)
    return entries


@pytest.mark.parametrize(("participants", "fragment"), [
    ("not a list", "DSP_PARTICIPANTS: expected list"),
    (_with(0, address="ftp://x.example.eu"), "DSP_PARTICIPANTS[0].address"),
    (_with(1, credential={"type": "kerberos"}), "DSP_PARTICIPANTS[1].credential.type"),
    (_with(0, credential={"type": "bearer", "token_env": "has space"}), "token_env"),
    (_with(2, credential={"type": "oauth2", "client_id": "c", "client_secret_env": "S"}), "token_url"),
    (_with(0, colour="blue"), "unknown key(s) colour"),
    (_with(0, project=""), "DSP_PARTICIPANTS[0].project"),
    ([PARTICIPANTS[0], PARTICIPANTS[0]], "configured twice"),
])
def test_bad_participant_configuration_is_refused_naming_the_key(participants, fragment):
    with pytest.raises(ConfigError) as raised:
        load_config({"DSP_PARTICIPANT_ID": OWN_ID, "DSP_PARTICIPANTS": participants}, environ={})
    assert fragment in str(raised.value)


def test_participants_need_our_own_participant_id():
    with pytest.raises(ConfigError, match="DSP_PARTICIPANT_ID: required"):
        load_config({"DSP_PARTICIPANTS": PARTICIPANTS}, environ={})


def test_participants_come_from_the_environment_as_json():
    import json

    config = load_config(environ={"CONNECTOR_DSP_PARTICIPANT_ID": "12345",
                                  "CONNECTOR_DSP_PARTICIPANTS": json.dumps(PARTICIPANTS[:1])})
    assert config["DSP_PARTICIPANT_ID"] == "12345"
    assert parse_participants(config["DSP_PARTICIPANTS"])[0].project == "cardio"


def test_a_missing_or_short_secret_stops_the_start_naming_the_variable(clean_database, tmp_path,
                                                                      monkeypatch, dsp_env):
    monkeypatch.delenv("DSP_TEST_RADAR_TOKEN")
    with pytest.raises(ConfigError, match=r"DSP_PARTICIPANTS\[1\].*DSP_TEST_RADAR_TOKEN is not set"):
        create_app(dsp_config(clean_database, tmp_path))
    monkeypatch.setenv("DSP_TEST_RADAR_TOKEN", "short")
    with pytest.raises(ConfigError, match="DSP_TEST_RADAR_TOKEN is shorter than 16"):
        create_app(dsp_config(clean_database, tmp_path))


# --- inbound bearer ---------------------------------------------------------------------

@pytest.mark.parametrize("headers", [
    {}, {"Authorization": ""}, bearer("not-the-token"), bearer(PARTNER_TOKEN[:-1]),
    {"Authorization": f"Basic {PARTNER_TOKEN}"}, bearer(OAUTH_SECRET),
], ids=["missing", "empty", "wrong", "prefix", "other-scheme", "oauth-secret-is-no-token"])
def test_unauthenticated_catalog_requests_get_401_catalog_error(dsp, actors, headers):
    response = dsp.post(CATALOG, json=catalog_request(), headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.get_json()["code"] == "unauthorized"


def test_dataset_endpoint_is_authenticated_too(dsp, actors):
    assert dsp.get("/dsp/2025-1/catalog/datasets/anything").status_code == 401


@pytest.mark.parametrize("headers", [PARTNER, {"Authorization": PARTNER_TOKEN}],
                         ids=["bearer-scheme", "bare-token-as-edc-sends"])
def test_the_shared_bearer_token_authenticates_the_participant(dsp, actors, headers):
    response = dsp.post(CATALOG, json=catalog_request(), headers=headers)
    assert response.status_code == 200
    assert response.get_json()["participantId"] == OWN_ID


def test_a_participant_bound_to_a_missing_project_is_refused_with_the_reason(
        clean_database, tmp_path, dsp_env):
    app = create_app(dsp_config(clean_database, tmp_path))  # no actors: project cardio is absent
    try:
        response = app.test_client().post(CATALOG, json=catalog_request(), headers=PARTNER)
    finally:
        app.extensions["connector"].engine.dispose()
    assert response.status_code == 401
    assert "project 'cardio'" in response.get_json()["reason"][0]


# --- inbound OAuth2 client credentials --------------------------------------------------

def _form(**fields):
    return {"grant_type": "client_credentials", "client_id": "oauth-partner", "client_secret": OAUTH_SECRET,
            **fields}


def test_oauth2_client_gets_a_short_lived_token_that_opens_the_catalog(dsp, actors, app):
    response = dsp.post(TOKEN, data=_form())
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    answer = response.get_json()
    assert answer["token_type"] == "Bearer" and answer["expires_in"] == 300
    opened = dsp.post(CATALOG, json=catalog_request(), headers=bearer(answer["access_token"]))
    assert opened.status_code == 200
    with app.extensions["connector"].session_factory() as session:
        stored = [(row.token_hash, row.participant_id) for row in session.scalars(select(IssuedToken))]
    assert stored == [(hashlib.sha256(answer["access_token"].encode()).hexdigest(), "urn:partner:oauth")]


def test_oauth2_client_may_authenticate_with_http_basic(dsp, actors):
    basic = base64.b64encode(f"oauth-partner:{OAUTH_SECRET}".encode()).decode()
    response = dsp.post(TOKEN, data={"grant_type": "client_credentials"},
                        headers={"Authorization": f"Basic {basic}"})
    assert response.status_code == 200 and response.get_json()["access_token"].startswith("dspt_")


@pytest.mark.parametrize(("form", "status", "error"), [
    (_form(client_secret="wrong-secret-0123456789"), 401, "invalid_client"),
    (_form(client_id="urn:partner:cardio", client_secret=PARTNER_TOKEN), 401, "invalid_client"),
    (_form(grant_type="password"), 400, "unsupported_grant_type"),
    ({"client_id": "oauth-partner", "client_secret": OAUTH_SECRET}, 400, "invalid_request"),
    (_form(client_secret=""), 400, "invalid_request"),
], ids=["wrong-secret", "bearer-participant-is-no-client", "wrong-grant", "no-grant", "no-secret"])
def test_bad_token_requests_get_rfc6749_errors_and_no_token(dsp, form, status, error):
    response = dsp.post(TOKEN, data=form)
    assert response.status_code == status and response.get_json()["error"] == error
    assert "access_token" not in response.get_json()


def test_token_request_as_json_is_refused(dsp):
    response = dsp.post(TOKEN, json=_form())
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request"


def test_an_expired_token_no_longer_authenticates(app):
    now = [1000.0]
    registry = ParticipantRegistry(OWN_ID, parse_participants(PARTICIPANTS),
                                   {"DSP_TEST_PARTNER_TOKEN": PARTNER_TOKEN,
                                    "DSP_TEST_RADAR_TOKEN": PARTNER_TOKEN[::-1],
                                    "DSP_TEST_OAUTH_SECRET": OAUTH_SECRET})
    issuer = TokenIssuer(app.extensions["dsp"].trust, 60, clock=lambda: now[0])
    token, lifetime = issuer.issue(registry.get("urn:partner:oauth"))
    assert lifetime == 60 and issuer.holder(token) == "urn:partner:oauth"
    now[0] += 59
    assert issuer.holder(token) == "urn:partner:oauth"
    now[0] += 1
    assert issuer.holder(token) is None


# --- outbound ---------------------------------------------------------------------------

@pytest.fixture
def served(app):
    """The application served on a loopback port (a real HTTP token endpoint)."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


def _registry(token_url: str, secret: str = OAUTH_SECRET) -> ParticipantRegistry:
    """The configured participants, the OAuth2 one's token endpoint at ``token_url``."""
    entries = [dict(p) for p in PARTICIPANTS]
    entries[2]["credential"] = {**entries[2]["credential"], "token_url": token_url}
    return ParticipantRegistry(OWN_ID, parse_participants(entries), {
        "DSP_TEST_PARTNER_TOKEN": PARTNER_TOKEN, "DSP_TEST_RADAR_TOKEN": "r" * 20,
        "DSP_TEST_OAUTH_SECRET": secret})


def test_outbound_bearer_header_is_the_shared_token(app):
    registry = _registry("http://127.0.0.1:9/token")
    outbound = OutboundCredentials(registry, app.extensions["dsp"].trust)
    assert outbound.authorization(registry.get("urn:partner:cardio")) == f"Bearer {PARTNER_TOKEN}"


def test_outbound_oauth2_token_is_fetched_cached_and_renewed_after_expiry(served, dsp, actors, app):
    registry = _registry(served + TOKEN)
    now = [0.0]
    outbound = OutboundCredentials(registry, app.extensions["dsp"].trust, clock=lambda: now[0])
    partner = registry.get("urn:partner:oauth")
    first = outbound.authorization(partner)
    assert first.startswith("Bearer dspt_")
    assert dsp.post(CATALOG, json=catalog_request(), headers={"Authorization": first}).status_code == 200
    now[0] += 200
    assert outbound.authorization(partner) == first  # cached: 300 s less the renewal margin
    now[0] += 100
    assert outbound.authorization(partner) != first


def test_outbound_oauth2_refused_by_the_token_endpoint_is_reported(served, app):
    registry = _registry(served + TOKEN, secret="a-different-secret-0123")
    with pytest.raises(ParticipantUnreachable, match=r"answered 401 \(invalid_client\)"):
        OutboundCredentials(registry, app.extensions["dsp"].trust).authorization(
            registry.get("urn:partner:oauth"))


def test_outbound_oauth2_to_a_closed_port_is_reported(app):
    registry = _registry("http://127.0.0.1:9/token")
    with pytest.raises(ParticipantUnreachable, match="failed"):
        OutboundCredentials(registry, app.extensions["dsp"].trust, timeout=2).authorization(
            registry.get("urn:partner:oauth"))


# --- callback addresses -----------------------------------------------------------------

def _resolver(table):
    def resolve(host, port):
        return table[host]
    return resolve


RESOLVE = _resolver({"127.0.0.1": ["127.0.0.1"], "10.0.0.5": ["10.0.0.5"],
                     "consumer.example.eu": ["93.184.215.14"],
                     "sneaky.example.eu": ["93.184.215.14", "10.1.1.1"],
                     "radar.example.eu": ["10.2.2.2"], "metadata.example.eu": ["169.254.169.254"]})


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:9/partner/dsp", "http://127.0.0.1:9/partner/dsp/negotiations/1",
    "https://consumer.example.eu/callback", "https://radar.example.eu/dsp/transfers",
])
def test_callback_addresses_accepted(url):
    registry = _registry("http://127.0.0.1:9/token")
    assert check_callback_address(registry, url, resolver=RESOLVE) == url


@pytest.mark.parametrize(("url", "fragment"), [
    ("http://127.0.0.1:8080/partner/dsp", "loopback"),
    ("http://127.0.0.1:9/partner/dspx", "loopback"),
    ("http://10.0.0.5/callback", "private"),
    ("https://sneaky.example.eu/cb", "private"),
    ("http://metadata.example.eu/latest", "metadata"),
    ("ftp://consumer.example.eu/cb", "http(s)"),
    ("https://user:pw@consumer.example.eu/cb", "credentials"),
    (42, "URL string"),
])
def test_callback_addresses_on_private_networks_refused_unless_a_participant_owns_them(url, fragment):
    registry = _registry("http://127.0.0.1:9/token")
    with pytest.raises(CallbackRefused) as raised:
        check_callback_address(registry, url, resolver=RESOLVE)
    assert fragment in raised.value.detail and raised.value.status == 400


def test_a_participant_cannot_use_another_participants_private_address():
    registry = _registry("http://127.0.0.1:9/token")
    with pytest.raises(CallbackRefused, match="radar.example.eu"):
        check_callback_address(registry, "https://radar.example.eu/dsp/cb",
                               caller=registry.get("urn:partner:cardio"), resolver=RESOLVE)
