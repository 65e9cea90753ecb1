"""The Eclipse Dataspace TCK's consumer connector, played in Python against our provider over
real HTTP: its messages built the way the TCK builds them (``NegotiationFunctions``,
``TransferFunctions`` of eclipse-dataspacetck/dsp-tck), each checked against the official
schemas before it leaves and every answer after it arrives. Our messages to it reach a
:class:`tests.dsp.test_negotiation_provider.Recorder` (its callback address)."""

from __future__ import annotations

import uuid
from typing import Any

import requests

from connector.dsp.messages import message_schemas

CONTEXT = ["https://w3id.org/dspace/2025/1/context.jsonld"]


class TckConsumer:
    """One participant's view of our provider at ``base`` (``<root>/dsp/2025-1``)."""

    def __init__(self, base: str, authorization: str, callback: str) -> None:
        self.base = base
        self.headers = {"Authorization": authorization}
        self.callback = callback

    def post(self, path: str, message: dict[str, Any]) -> requests.Response:
        message_schemas().validate(message)
        response = requests.post(self.base + path, json=message, headers=self.headers, timeout=10)
        if response.content:
            message_schemas().validate(response.json())
        return response

    def state(self, kind: str, provider_pid: str) -> str:
        """Our state of the negotiation or transfer (``kind``), read as the TCK reads it."""
        response = requests.get(f"{self.base}/{kind}/{provider_pid}", headers=self.headers, timeout=10)
        assert response.status_code == 200, response.text
        return message_schemas().validate(response.json()) and response.json()["state"]

    # --- contract negotiation ----------------------------------------------------------------

    def contract_request(self, dataset: str, offer_id: str, permission: list[dict[str, Any]] | None = None,
                         ) -> dict[str, Any]:
        """The initial ``ContractRequestMessage`` (TCK: offer by id, target, a bare ``use``);
        returns the pids of the 201 answer."""
        message = {"@context": CONTEXT, "@type": "ContractRequestMessage",
                   "consumerPid": f"urn:uuid:{uuid.uuid4()}", "callbackAddress": self.callback,
                   "offer": {"@id": offer_id, "@type": "Offer", "target": dataset,
                             "permission": permission or [{"action": "use"}]}}
        response = self.post("/negotiations/request", message)
        assert response.status_code == 201, response.text
        return {"providerPid": response.json()["providerPid"], "consumerPid": message["consumerPid"]}

    def negotiation_message(self, pids: dict[str, str], suffix: str, message_type: str,
                            **fields: Any) -> requests.Response:
        body = {"@context": CONTEXT, "@type": message_type, **pids, **fields}
        return self.post(f"/negotiations/{pids['providerPid']}{suffix}", body)

    def counter_offer(self, pids: dict[str, str], dataset: str, offer_id: str) -> requests.Response:
        return self.negotiation_message(pids, "/request", "ContractRequestMessage", offer={
            "@id": offer_id, "@type": "Offer", "target": dataset, "permission": [{"action": "use"}]})

    def terminate_negotiation(self, pids: dict[str, str]) -> requests.Response:
        return self.negotiation_message(pids, "/termination", "ContractNegotiationTerminationMessage",
                                        code="1")

    def verify(self, pids: dict[str, str]) -> requests.Response:
        return self.negotiation_message(pids, "/agreement/verification",
                                        "ContractAgreementVerificationMessage")

    # --- transfer process --------------------------------------------------------------------

    def transfer_request(self, agreement: str, fmt: str = "HttpData-PULL") -> dict[str, str]:
        message = {"@context": CONTEXT, "@type": "TransferRequestMessage",
                   "consumerPid": f"urn:uuid:{uuid.uuid4()}", "agreementId": agreement, "format": fmt,
                   "callbackAddress": self.callback}
        response = self.post("/transfers/request", message)
        assert response.status_code == 201, response.text
        return {"providerPid": response.json()["providerPid"], "consumerPid": message["consumerPid"]}

    def transfer_message(self, pids: dict[str, str], suffix: str, message_type: str,
                         **fields: Any) -> requests.Response:
        body = {"@context": CONTEXT, "@type": message_type, **pids, **fields}
        return self.post(f"/transfers/{pids['providerPid']}/{suffix}", body)
