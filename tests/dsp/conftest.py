"""Fixtures of the Dataspace Protocol tests: an application with configured participants,
a client that checks every DSP error message against the official schema, datasets with offers."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from connector import db
from connector.app import create_app
from connector.dsp.messages import message_schemas
from tests.conftest import dataset_body

OWN_ID = "urn:connector:provider"
PARTNER_TOKEN = "partner-shared-token-0123456789abcdef"
RADAR_TOKEN = "radar-shared-token-0123456789abcdef"
OAUTH_SECRET = "oauth-client-secret-0123456789abcdef"
PARTICIPANTS = [
    {"id": "urn:partner:cardio", "address": "http://127.0.0.1:9/partner/dsp", "project": "cardio",
     "credential": {"type": "bearer", "token_env": "DSP_TEST_PARTNER_TOKEN"}},
    {"id": "urn:partner:radar", "address": "https://radar.example.eu/dsp", "project": "radar",
     "credential": {"type": "bearer", "token_env": "DSP_TEST_RADAR_TOKEN"}},
    {"id": "urn:partner:oauth", "address": "https://oauth.example.eu/dsp", "project": "cardio",
     "credential": {"type": "oauth2", "token_url": "http://127.0.0.1:9/oauth/token",
                    "client_id": "oauth-partner", "client_secret_env": "DSP_TEST_OAUTH_SECRET"}},
]
HEALTH_OFFER = {"template": "health-secondary-use", "parameters": {
    "permit_ids": ["HDAB-DE-2026-0042"], "projects": ["cardio"], "processing_location": "ai-factory",
    "identifying_columns": ["patient_id"], "retention_days": 90}}
SIMPLE_OFFER = {"policy": {"@type": "Offer", "permission": [{"action": "use", "constraint": [
    {"leftOperand": "purpose", "operator": "isA", "rightOperand": "scientificResearch"}]}]}}


@pytest.fixture
def dsp_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DSP_TEST_PARTNER_TOKEN", PARTNER_TOKEN)
    monkeypatch.setenv("DSP_TEST_RADAR_TOKEN", RADAR_TOKEN)
    monkeypatch.setenv("DSP_TEST_OAUTH_SECRET", OAUTH_SECRET)


def dsp_config(clean_database: str, tmp_path: Path, **extra: Any) -> dict[str, Any]:
    return {"DATABASE_URL": clean_database, "HOME": str(tmp_path / "home"), "AUTO_MIGRATE": False,
            "TESTING": True, "DSP_PARTICIPANT_ID": OWN_ID, "DSP_PARTICIPANTS": PARTICIPANTS, **extra}


@pytest.fixture
def clean_dsp_tables(clean_database: str):
    """Empty the DSP tables after the test, before the root fixture empties the others."""
    yield clean_database
    engine = db.make_engine(clean_database)
    with engine.begin() as connection:
        for table in ("dsp_outbox", "dsp_transfers", "dsp_negotiations", "dsp_issued_tokens",
                      "dsp_sealed_secrets"):
            connection.execute(text(f"DELETE FROM {table}"))  # noqa: S608  (fixed table names)
    engine.dispose()


@pytest.fixture
def app(clean_dsp_tables: str, clean_database: str, tmp_path: Path, dsp_env: None):
    """The application of the root conftest, with our participant id and three participants."""
    application = create_app(dsp_config(clean_database, tmp_path, DSP_PAGE_SIZE=2))
    yield application
    application.extensions["connector"].engine.dispose()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


PARTNER = bearer(PARTNER_TOKEN)
RADAR = bearer(RADAR_TOKEN)


class DspClient:
    """The Flask test client, asserting that every DSP error is an application/json
    ``CatalogError`` (``ContractNegotiationError`` under ``/negotiations``, ``TransferError``
    under ``/transfers``) valid against the official schema, every token error RFC 6749's, and
    every data-endpoint error a problem."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def open(self, *args: Any, **kwargs: Any) -> Any:
        response = self._client.open(*args, **kwargs)
        if response.status_code >= 400:
            path = response.request.path
            data_endpoint = "/dsp/2025-1/data/" in path
            assert response.mimetype == ("application/problem+json" if data_endpoint
                                         else "application/json"), response.data
            body = response.get_json()
            if "/oauth/token" in path:
                assert isinstance(body["error"], str) and body["error_description"]
            elif data_endpoint:  # the data endpoint answers problems, not DSP messages
                assert body["status"] == response.status_code and body["detail"]
            else:
                expected = "ContractNegotiationError" if "/negotiations" in path \
                    else "TransferError" if "/transfers" in path else "CatalogError"
                assert message_schemas().validate(body, expected=expected) == expected
                assert body["reason"] and all(isinstance(r, str) for r in body["reason"])
        return response

    def get(self, *args: Any, **kwargs: Any) -> Any:
        return self.open(*args, method="GET", **kwargs)

    def post(self, *args: Any, **kwargs: Any) -> Any:
        return self.open(*args, method="POST", **kwargs)


@pytest.fixture
def dsp(app) -> DspClient:
    return DspClient(app.test_client())


def catalog_request(**extra: Any) -> dict[str, Any]:
    return {"@context": ["https://w3id.org/dspace/2025/1/context.jsonld"], "@type": "CatalogRequestMessage",
            **extra}


@pytest.fixture
def register(client, actors):
    """Register a dataset as the health steward (or ``steward``) and attach the given offers."""

    def make(*offers: dict[str, Any], steward: str = "steward", **fields: Any) -> dict[str, Any]:
        response = client.post("/api/v1/datasets", json=dataset_body(**fields),
                               headers=actors.headers(steward))
        assert response.status_code == 201, response.get_json()
        dataset = response.get_json()
        dataset["offers"] = []
        for body in offers:
            answer = client.post(f"/api/v1/datasets/{dataset['id']}/offers", json=body,
                                 headers=actors.headers(steward))
            assert answer.status_code == 201, answer.get_json()
            dataset["offers"].append(answer.get_json())
        return dataset

    return make


@pytest.fixture
def rows_csv(tmp_path: Path) -> Path:
    """``sources/rows.csv``: 20 rows of ``patient_id,lvef``, for a provider to stage or serve."""
    folder = tmp_path / "sources"
    folder.mkdir()
    path = folder / "rows.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["patient_id", "lvef"])
        writer.writerows([f"P{i}", 50 + i] for i in range(20))
    return path
