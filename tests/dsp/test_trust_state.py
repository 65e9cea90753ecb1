"""The DSP trust state lives in the database: two ``serve`` processes (two applications on one
database) honour each other's tokens and share what they fetched, a worker built apart from
the process that received a push request runs the push (``test_trust_push.py``), secrets
rest sealed, a wrong key is named, and expired rows are refused, then purged by the worker's
round."""
# ruff: noqa: F811  (the served fixture is imported from test_participants)

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from typing import Any

import pytest
from sqlalchemy import select, update

from connector.app import create_app
from connector.db import utcnow
from connector.dsp.models import IssuedToken, SealedSecret
from connector.dsp.participants import OutboundCredentials, _post
from connector.dsp.push import S3Address, SecretStore
from connector.dsp.transfer_api import deliver
from connector.encryption import SecretsKeyMismatch
from connector.worker import Worker
from tests.dsp.conftest import OAUTH_SECRET, bearer, catalog_request, dsp_config
from tests.dsp.test_participants import CATALOG, TOKEN, _registry, served  # noqa: F401  (fixture)
from tests.dsp.test_transfer_push import ACCESS_KEY, SECRET_KEY

KEY_ONE = "first-secrets-key-0123456789abcdefghij"
KEY_TWO = "second-secrets-key-0123456789abcdefghi"


def _token_form() -> dict[str, str]:
    return {"grant_type": "client_credentials", "client_id": "oauth-partner", "client_secret": OAUTH_SECRET}


@pytest.fixture
def second_process(clean_dsp_tables, clean_database, tmp_path, dsp_env):
    """Another application on the same database, as a second ``connector serve`` would be; its
    own HOME, so nothing is shared but the database (and ``SECRETS_KEY`` when both set it)."""
    made = []

    def make(**extra: Any):
        application = create_app(dsp_config(clean_database, tmp_path / f"process-{len(made)}", **extra))
        made.append(application)
        return application

    yield make
    for application in made:
        application.extensions["connector"].engine.dispose()


def _rows(application, model) -> list[Any]:
    with application.extensions["connector"].session_factory() as session:
        return list(session.scalars(select(model)))


# --- tokens we issue ----------------------------------------------------------------------

def test_a_token_issued_by_one_server_process_is_honoured_by_another(second_process, actors):
    first, second = second_process(), second_process()
    answer = first.test_client().post(TOKEN, data=_token_form()).get_json()
    opened = second.test_client().post(CATALOG, json=catalog_request(),
                                       headers=bearer(answer["access_token"]))
    assert opened.status_code == 200, opened.get_json()


def test_an_expired_token_is_refused_and_the_worker_round_purges_it_keeping_live_ones(
        second_process, actors):
    server = second_process()
    client = server.test_client()
    expired, live = (client.post(TOKEN, data=_token_form()).get_json()["access_token"] for _ in range(2))
    expired_hash = hashlib.sha256(expired.encode()).hexdigest()
    with server.extensions["connector"].session_factory() as session, session.begin():
        session.execute(update(IssuedToken).where(IssuedToken.token_hash == expired_hash)
                        .values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    refused = client.post(CATALOG, json=catalog_request(), headers=bearer(expired))
    assert refused.status_code == 401

    ext = server.extensions["connector"]
    Worker(ext.session_factory, ext.staging, dsp_delivery=functools.partial(deliver, server)).tick()
    assert [row.token_hash for row in _rows(server, IssuedToken)] == [
        hashlib.sha256(live.encode()).hexdigest()]
    assert client.post(CATALOG, json=catalog_request(), headers=bearer(live)).status_code == 200


# --- tokens other connectors gave us --------------------------------------------------------

def test_an_outbound_token_fetched_by_one_process_is_used_by_another_and_rests_sealed(
        served, actors, second_process):
    registry = _registry(served + TOKEN)
    partner = registry.get("urn:partner:oauth")
    fetched: list[str] = []

    def counting(url, body, headers, timeout):
        fetched.append(url)
        return _post(url, body, headers, timeout)

    one, two = second_process(SECRETS_KEY=KEY_ONE), second_process(SECRETS_KEY=KEY_ONE)
    header = OutboundCredentials(registry, one.extensions["dsp"].trust, fetch=counting).authorization(partner)
    again = OutboundCredentials(registry, two.extensions["dsp"].trust, fetch=counting).authorization(partner)
    assert again == header and len(fetched) == 1

    (row,) = _rows(one, SealedSecret)
    assert (row.kind, row.name) == ("outbound-token", "urn:partner:oauth")
    assert header.removeprefix("Bearer ") not in row.sealed


def test_an_expired_outbound_token_is_fetched_again_and_the_old_row_purged(served, actors, second_process):
    registry = _registry(served + TOKEN)
    partner = registry.get("urn:partner:oauth")
    server = second_process()
    outbound = OutboundCredentials(registry, server.extensions["dsp"].trust)
    first = outbound.authorization(partner)
    with server.extensions["connector"].session_factory() as session, session.begin():
        session.execute(update(SealedSecret).values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    assert outbound.authorization(partner) != first
    assert len(_rows(server, SealedSecret)) == 1


# --- push credentials -----------------------------------------------------------------------

def test_a_wrong_secrets_key_gives_an_error_naming_the_setting(second_process):
    address = S3Address("http://127.0.0.1:9000", "bucket", access_key=ACCESS_KEY, secret_key=SECRET_KEY)
    SecretStore(second_process(SECRETS_KEY=KEY_ONE).extensions["dsp"].trust).put("urn:uuid:p1", address)
    with pytest.raises(SecretsKeyMismatch) as raised:
        SecretStore(second_process(SECRETS_KEY=KEY_TWO).extensions["dsp"].trust).get("urn:uuid:p1")
    assert "CONNECTOR_SECRETS_KEY" in raised.value.detail
    assert SECRET_KEY not in raised.value.detail and KEY_ONE not in raised.value.detail
    assert SecretStore(second_process(SECRETS_KEY=KEY_ONE).extensions["dsp"].trust).get(
        "urn:uuid:p1") == address


def test_an_expired_push_address_is_not_honoured_and_the_worker_round_purges_it(second_process):
    server = second_process()
    trust = server.extensions["dsp"].trust
    address = S3Address("http://127.0.0.1:9000", "bucket", access_key=ACCESS_KEY, secret_key=SECRET_KEY)
    SecretStore(trust, ttl=dt.timedelta(seconds=-1)).put("urn:uuid:old", address)
    SecretStore(trust).put("urn:uuid:new", address)
    assert SecretStore(trust).get("urn:uuid:old") is None
    ext = server.extensions["connector"]
    Worker(ext.session_factory, ext.staging, dsp_delivery=functools.partial(deliver, server)).tick()
    assert [row.name for row in _rows(server, SealedSecret)] == ["urn:uuid:new"]
