"""Dataspace Protocol messages against the official 2025-1 JSON Schemas shipped in the package."""

import copy
import json
from pathlib import Path

import pytest

from connector.dsp.messages import InvalidMessage, MessageSchemas, message_schemas

EXAMPLES = Path(__file__).resolve().parents[3] / "shared" / "standards" / "dsp-2025-1"
TYPED_EXAMPLES = sorted(p for p in EXAMPLES.glob("*/example/*.json")
                        if "@type" in json.loads(p.read_text()))


def example(name: str) -> dict:
    return json.loads(next(EXAMPLES.glob(f"*/example/{name}")).read_text())


@pytest.mark.parametrize("path", TYPED_EXAMPLES, ids=lambda p: p.name)
def test_every_official_example_message_validates(path):
    message = json.loads(path.read_text())
    assert message_schemas().validate(message) == message["@type"]


def test_the_official_version_answer_validates():
    message_schemas().validate_version_response(example("protocol-version.json"))


def test_every_message_type_of_the_three_protocols_has_a_validator():
    assert len(TYPED_EXAMPLES) >= 20
    assert {json.loads(p.read_text())["@type"] for p in TYPED_EXAMPLES} <= message_schemas().types


@pytest.mark.parametrize("drop, expected", [
    ("offer", "'offer' is a required property"),
    ("@context", "'@context' is a required property"),
    ("consumerPid", "'consumerPid' is a required property"),
    ("callbackAddress", "needs exactly one of: callbackAddress; providerPid"),
])
def test_a_contract_request_missing_a_required_member_is_refused_with_the_member_named(drop, expected):
    message = example("contract-request-message_initial.json")
    del message[drop]
    with pytest.raises(InvalidMessage) as caught:
        message_schemas().validate(message)
    assert expected in caught.value.reason
    assert caught.value.message_type == "ContractRequestMessage"


def test_an_unknown_type_is_refused():
    with pytest.raises(InvalidMessage, match="unknown or unexpected @type 'ContractTeaMessage'"):
        message_schemas().validate({"@type": "ContractTeaMessage"})


def test_a_message_of_another_protocol_is_refused_where_it_is_not_expected():
    message = example("transfer-request-message.json")
    with pytest.raises(InvalidMessage, match="unexpected @type"):
        message_schemas().validate(message, expected="ContractRequestMessage")


def test_a_catalog_offer_must_not_name_its_target():
    dataset = example("dataset.json")
    offer = copy.deepcopy(dataset["hasPolicy"][0])
    offer["target"] = "urn:uuid:somewhere-else"
    dataset["hasPolicy"] = [offer]
    with pytest.raises(InvalidMessage):
        message_schemas().validate(dataset)


def test_a_reference_outside_the_shipped_schemas_is_refused_not_fetched(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "remote-schema.json").write_text(json.dumps({
        "$schema": "https://json-schema.org/draft/2019-09/schema", "title": "RemoteSchema",
        "$id": "https://w3id.org/dspace/2025/1/x/remote-schema.json",
        "$ref": "http://127.0.0.1:9/never-fetched.json"}))
    schemas = MessageSchemas(tmp_path)
    with pytest.raises(Exception, match="never-fetched"):
        schemas.errors({}, "Remote")
