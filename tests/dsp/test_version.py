"""Version discovery: GET /.well-known/dspace-version (DSP 2025-1, common protocol)."""

from __future__ import annotations

import pytest

from connector.app import create_app
from connector.dsp.messages import message_schemas
from tests.dsp.conftest import dsp_config


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not-a-participant"}],
                         ids=["anonymous", "unknown-token"])
def test_met_01_01_version_answer_is_open_and_lists_2025_1_with_its_path(dsp, headers):
    response = dsp.get("/.well-known/dspace-version", headers=headers)
    assert response.status_code == 200 and response.mimetype == "application/json"
    body = response.get_json()
    message_schemas().validate_version_response(body)
    assert body["protocolVersions"] == [{"version": "2025-1", "path": "/dsp/2025-1", "binding": "HTTPS",
                                         "serviceId": "http://localhost/dsp/2025-1"}]


def test_the_advertised_path_is_where_the_catalog_answers(dsp):
    path = dsp.get("/.well-known/dspace-version").get_json()["protocolVersions"][0]["path"]
    answer = dsp.post(f"{path}/catalog/request", json={})  # no token: refused, but routed
    assert answer.status_code == 401


def test_public_base_url_and_identifier_type_are_announced(clean_database, tmp_path, dsp_env):
    app = create_app(dsp_config(clean_database, tmp_path, PUBLIC_BASE_URL="https://data.example.eu/connector",
                                DSP_IDENTIFIER_TYPE="did:web"))
    try:
        body = app.test_client().get("/.well-known/dspace-version").get_json()
    finally:
        app.extensions["connector"].engine.dispose()
    message_schemas().validate_version_response(body)
    assert body["protocolVersions"][0] == {
        "version": "2025-1", "path": "/connector/dsp/2025-1", "binding": "HTTPS",
        "serviceId": "https://data.example.eu/connector/dsp/2025-1", "identifierType": "did:web"}
