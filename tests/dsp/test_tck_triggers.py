"""The consumer-side trigger endpoints the Eclipse Dataspace TCK drives (its
``dataspacetck.dsp.connector.negotiation.initiate.url`` and ``transfer.initiate.url``): the TCK,
as provider, posts ``{providerId, datasetId, offerId, connectorAddress}`` or ``{providerId,
agreementId, format, connectorAddress}`` with its participant credential, and the connector
under test starts the negotiation or the transfer with it. Here the provider of the pair plays
the TCK; both connectors serve over loopback HTTP."""
# ruff: noqa: F811  (the pair fixtures are imported and used by name)

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from connector.dsp.messages import message_schemas
from tests.dsp.conftest import OWN_ID
from tests.dsp.two_connectors import (  # noqa: F401  (fixtures)
    BASE,
    PAIR_TOKEN,
    Pair,
    consumer_database,
    pair,
    two_connectors,
)

USE = {"policy": {"@type": "Offer", "permission": [{"action": "use"}]}}


@pytest.fixture
def source_file(rows_csv: Path) -> Path:
    return rows_csv


@pytest.fixture
def app(clean_dsp_tables: str, clean_database: str, consumer_database: str, tmp_path: Path,
        dsp_env: None, source_file: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with two_connectors(clean_database, consumer_database, tmp_path, monkeypatch,
                        provider={"STORAGE_URL": str(tmp_path / "provider-tier"),
                                  "SOURCE_ROOTS": {"*": [str(source_file.parent)]}},
                        consumer={"STORAGE_URL": str(tmp_path / "consumer-tier"),
                                  "DSP_TRIGGERS": True}) as provider:
        yield provider


def provider_base(pair: Pair) -> str:
    return pair.provider.config["PUBLIC_BASE_URL"] + BASE


def trigger(pair: Pair, kind: str, body: dict[str, Any], token: str | None = PAIR_TOKEN) -> requests.Response:
    """What the TCK does: POST the trigger body, with its participant credential, to the consumer."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(f"{pair.consumer.config['PUBLIC_BASE_URL']}{BASE}/triggers/{kind}", json=body,
                         headers=headers, timeout=10)


@pytest.fixture
def offered(register, source_file: Path) -> tuple[str, str]:
    """A public dataset of the provider with an offer of a bare ``use``: (dataset @id, offer @id)."""
    distribution = {"accessURL": source_file.as_uri(), "downloadURL": source_file.as_uri(), "format": "CSV"}
    dataset = register(USE, accessRights="PUBLIC", distribution=[distribution])
    return f"urn:uuid:{dataset['id']}", f"urn:uuid:{dataset['offers'][0]['id']}"


def negotiation_body(pair: Pair, dataset: str, offer: str, **changes: str) -> dict[str, str]:
    return {"providerId": OWN_ID, "datasetId": dataset, "offerId": offer,
            "connectorAddress": provider_base(pair), **changes}


def consumer_negotiations(pair: Pair) -> list[dict[str, Any]]:
    response = pair.consumer.test_client().get("/api/v1/negotiations", headers=pair.team_headers())
    return response.get_json()["items"]


def test_the_negotiation_trigger_starts_a_negotiation_that_reaches_finalized(pair, offered):
    dataset, offer = offered
    response = trigger(pair, "negotiations", negotiation_body(pair, dataset, offer))
    assert response.status_code == 201, response.text
    started = response.json()
    assert (started["role"], started["state"], started["participant"]) == ("consumer", "REQUESTED", OWN_ID)
    pair.pump()
    assert pair.types() == ["ContractRequestMessage", "ContractAgreementMessage",
                            "ContractAgreementVerificationMessage",
                            "ContractNegotiationEventMessage:FINALIZED"]
    request = pair.exchanged[0][0]
    assert request["offer"] == {"@id": offer, "@type": "Offer", "assigner": OWN_ID, "target": dataset,
                                "permission": [{"action": "use"}]}
    # the project's team sees it as its own negotiation
    assert pair.consumer_process("negotiations", started["id"])["state"] == "FINALIZED"


def test_the_transfer_trigger_pulls_the_data_of_an_agreement_reached_by_trigger(pair, offered):
    dataset, offer = offered
    negotiation = trigger(pair, "negotiations", negotiation_body(pair, dataset, offer)).json()
    pair.pump()
    agreement = pair.consumer_process("negotiations", negotiation["id"])["agreement"]["@id"]
    body = {"providerId": OWN_ID, "agreementId": agreement, "format": "HttpData-PULL",
            "connectorAddress": provider_base(pair)}
    response = trigger(pair, "transfers", body)
    assert response.status_code == 201, response.text
    transfer = response.json()
    assert (transfer["role"], transfer["state"], transfer["negotiation"]) == ("consumer", "REQUESTED",
                                                                              negotiation["id"])
    pair.pump()
    assert pair.types()[-3:] == ["TransferRequestMessage", "TransferStartMessage",
                                 "TransferCompletionMessage"]
    assert pair.consumer_process("transfers", transfer["id"])["state"] == "COMPLETED"
    again = trigger(pair, "transfers", body)  # an open transfer would be answered; a completed one is not
    assert again.status_code == 201 and again.json()["id"] != transfer["id"]


def _error(response: requests.Response, expected: str) -> dict[str, Any]:
    assert response.headers["Content-Type"].startswith("application/json")
    assert message_schemas().validate(response.json(), expected=expected) == expected
    return response.json()


def test_a_trigger_for_another_participant_or_address_is_refused_and_nothing_is_sent(pair, offered):
    dataset, offer = offered
    for changes, path in (({"providerId": "urn:somebody:else"}, "$.providerId"),
                          ({"connectorAddress": "http://127.0.0.1:1/dsp"}, "$.connectorAddress")):
        response = trigger(pair, "negotiations", negotiation_body(pair, dataset, offer, **changes))
        assert response.status_code == 422
        assert path in " ".join(_error(response, "ContractNegotiationError")["reason"])
    missing = trigger(pair, "negotiations", {"providerId": OWN_ID})
    assert missing.status_code == 422 and "$.datasetId" in " ".join(missing.json()["reason"])
    assert consumer_negotiations(pair) == [] and pair.exchanged == []


def test_a_transfer_trigger_for_an_unknown_agreement_answers_404(pair):
    body = {"providerId": OWN_ID, "agreementId": "ATPC0101", "format": "HttpData-PULL",
            "connectorAddress": provider_base(pair)}
    response = trigger(pair, "transfers", body)
    assert response.status_code == 404
    assert "ATPC0101" in _error(response, "TransferError")["reason"][0]


def test_triggers_need_the_participant_credential_and_are_off_by_default(pair, offered):
    dataset, offer = offered
    unauthenticated = trigger(pair, "negotiations", negotiation_body(pair, dataset, offer), token=None)
    assert unauthenticated.status_code == 401
    pair.consumer.config["DSP_TRIGGERS"] = False
    off = trigger(pair, "negotiations", negotiation_body(pair, dataset, offer))
    assert off.status_code == 404 and "DSP_TRIGGERS" in _error(off, "ContractNegotiationError")["reason"][0]
    assert consumer_negotiations(pair) == []
