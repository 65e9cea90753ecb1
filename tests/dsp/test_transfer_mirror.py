"""The consumer's local agreement mirroring the remote one, between two connectors: a duty in
the remote policy makes the consumer rewrite the data through the pipeline (no verbatim copy),
and a remote policy our own evaluator refuses answers 403, sends nothing and leaves nothing."""
# ruff: noqa: F811  (the pair fixtures are imported from the other two-connector tests)

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from connector.catalog.models import Dataset
from connector.client import open_dataset
from connector.dsp.models import Negotiation, Transfer
from connector.policies.models import AccessRequest, Agreement, Offer
from tests.dsp.test_negotiation_two_connectors import consumer_database, pair  # noqa: F401  (fixtures)
from tests.dsp.test_transfer_two_connectors import (  # noqa: F401  (fixtures and helpers)
    ROWS,
    _finalized,
    _job,
    _provider_transfer,
    _team,
    _transfer,
    app,
    pump,
    source_file,
)

RESEARCH = {"leftOperand": "purpose", "operator": "isA", "rightOperand": "scientificResearch"}
PSEUDONYMISE_OFFER = {"policy": {
    "@type": "Offer", "profile": "urn:connector:odrl-profile:v1",
    "permission": [{"action": "use", "constraint": [RESEARCH]}],
    "obligation": [{"action": "pseudonymize", "target": "column:patient_id"}]}}
#: The provider evaluates for the participant's project there (cardio); the consumer for its own.
CARDIO_ONLY_OFFER = {"policy": {"@type": "Offer", "permission": [{"action": "use", "constraint": [
    RESEARCH, {"leftOperand": "recipient", "operator": "eq", "rightOperand": "cardio"}]}]}}


def _manifest(location: str) -> dict[str, Any]:
    return json.loads(Path(location.removeprefix("file://"), "_manifest.json").read_text())


def test_a_pseudonymise_duty_in_the_remote_policy_makes_the_consumer_rewrite_the_data(
        pair, register, client, actors, source_file):
    negotiation = _finalized(pair, register, source_file, PSEUDONYMISE_OFFER)
    asked = pair.consumer.test_client().post("/api/v1/transfers", json={"negotiation": negotiation["id"]},
                                             headers=_team(pair))
    assert asked.status_code == 201, asked.get_json()
    pump(pair)
    ours = _transfer(pair, asked.get_json()["id"])
    assert ours["state"] == "COMPLETED", ours
    theirs = _provider_transfer(client, actors, ours["consumerPid"])
    consumer_job = _job(pair.consumer, _team(pair), ours["stagingJob"])
    provider_job = _job(pair.provider, actors.headers("steward"), theirs["stagingJob"])

    local = pair.consumer.test_client().get(f"/api/v1/agreements/{ours['localAgreement']}",
                                            headers=_team(pair)).get_json()
    assert [o["action"] for o in local["obligations"]] == ["pseudonymize"], local["obligations"]
    received = open_dataset(consumer_job["location"], verify=True).to_table()
    sent = open_dataset(provider_job["location"], verify=True).to_table()
    assert received.num_rows == sent.num_rows == ROWS
    assert received.column("lvef").equals(sent.column("lvef"))
    ours_ids, their_ids = received.column("patient_id").to_pylist(), sent.column("patient_id").to_pylist()
    assert all(re.fullmatch(r"[0-9a-f]{64}", value) for value in ours_ids)
    assert all(a != b for a, b in zip(ours_ids, their_ids, strict=True))  # pseudonymised again, here
    assert len(set(ours_ids)) == len(set(their_ids))  # one value, one pseudonym
    consumer_manifest = _manifest(consumer_job["location"])
    provider_manifest = _manifest(provider_job["location"])
    assert {f["sha256"] for f in consumer_manifest["files"]}.isdisjoint(
        {f["sha256"] for f in provider_manifest["files"]})
    assert "pseudonymise" in json.dumps(consumer_manifest["duties"])


def test_a_remote_policy_our_evaluator_refuses_answers_403_and_leaves_nothing_behind(
        pair, register, source_file):
    negotiation = _finalized(pair, register, source_file, CARDIO_ONLY_OFFER)
    sent_before = len(pair.exchanged)
    response = pair.consumer.test_client().post("/api/v1/transfers", json={"negotiation": negotiation["id"]},
                                                headers=_team(pair))
    assert response.status_code == 403, response.get_json()
    problem = response.get_json()
    assert problem["type"].endswith("policy-denied") and "ai-team" in problem["detail"]
    assert any("cardio" in reason for reason in problem["reasons"]), problem
    pump(pair)
    assert len(pair.exchanged) == sent_before  # no TransferRequestMessage left
    with pair.consumer.extensions["connector"].session_factory() as session:
        for model in (Dataset, Offer, AccessRequest, Agreement, Transfer):
            assert session.scalar(select(func.count()).select_from(model)) == 0, model.__name__
        assert session.scalar(select(Negotiation.agreement_id)) is None
