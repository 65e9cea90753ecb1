"""The OpenAPI document matches the routes the application serves."""

from __future__ import annotations

import re

from jsonschema import Draft202012Validator

from connector.openapi import build_document
from tests.conftest import dataset_body


def flask_routes(app) -> set[tuple[str, str]]:
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routes.add((method.lower(), path))
    return routes


def test_every_route_is_documented_and_every_documented_route_exists(app, client):
    document = client.get("/api/openapi.json").get_json()
    documented = {(method, path) for path, ops in document["paths"].items() for method in ops}
    assert documented == flask_routes(app)


def test_document_is_openapi_3_1_with_resolvable_component_schemas(client):
    document = client.get("/api/openapi.json").get_json()
    assert document["openapi"].startswith("3.1")
    for schema in document["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
    refs = re.findall(r'"\$ref": "#/components/schemas/([^"]+)"',
                      __import__("json").dumps(document))
    assert set(refs) <= set(document["components"]["schemas"])


def test_operation_ids_are_unique(app):
    document = build_document(app.extensions["connector"].schemas.documents)
    ids = [op["operationId"] for ops in document["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))


def responses(document, method: str, path: str) -> dict:
    return document["paths"][path][method]["responses"]


def test_dsp_errors_are_documented_as_the_sub_protocols_json_error_messages(client):
    from connector.dsp.messages import message_schemas

    document = client.get("/api/openapi.json").get_json()
    schemas = document["components"]["schemas"]
    expected = {"/dsp/2025-1/catalog/request": "dspCatalogError",
                "/dsp/2025-1/negotiations/{provider_pid}/events": "dspContractNegotiationError",
                "/dsp/2025-1/callback/negotiations/{consumer_pid}/offers": "dspContractNegotiationError",
                "/dsp/2025-1/transfers/request": "dspTransferError",
                "/dsp/2025-1/callback/transfers/{consumer_pid}/start": "dspTransferError",
                "/dsp/2025-1/oauth/token": "oauthError"}
    for path, schema in expected.items():
        assert responses(document, "post", path)["404"]["content"] == {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}, path
    assert list(responses(document, "get", "/dsp/2025-1/data/{provider_pid}/")["401"]["content"]) == [
        "application/problem+json"]
    context = ["https://w3id.org/dspace/2025/1/context.jsonld"]
    pids = {"providerPid": "urn:uuid:p", "consumerPid": "urn:uuid:c"}
    for name, message in (
            ("dspCatalogError", {"@type": "CatalogError", "code": "not-found", "reason": ["gone"]}),
            ("dspContractNegotiationError", {"@type": "ContractNegotiationError", "reason": ["no"], **pids}),
            ("dspTransferError", {"@type": "TransferError", "code": "x", "reason": ["no"], **pids})):
        message = {"@context": context, **message}
        assert message_schemas().validate(message, expected=message["@type"]) == message["@type"]
        Draft202012Validator(schemas[name]).validate(message)
        for required in ("@context", "@type", *(pids if "Pid" in str(schemas[name]) else ())):
            assert not Draft202012Validator(schemas[name]).is_valid(
                {k: v for k, v in message.items() if k != required}), (name, required)


def test_the_audit_log_is_documented_as_the_json_lines_it_answers(client, actors):
    document = client.get("/api/openapi.json").get_json()
    client.post("/api/v1/datasets", json=dataset_body(), headers=actors.headers("steward"))
    answer = client.get("/api/v1/audit", headers=actors.headers("admin"))
    assert answer.status_code == 200
    assert list(responses(document, "get", "/api/v1/audit")["200"]["content"]) == [answer.mimetype]


def test_the_json_ld_export_is_documented_as_the_object_it_answers(client, actors):
    document = client.get("/api/openapi.json").get_json()
    client.post("/api/v1/datasets", json=dataset_body(), headers=actors.headers("steward"))
    answer = client.get("/catalog.jsonld")
    assert answer.status_code == 200 and answer.mimetype == "application/ld+json"
    schema = responses(document, "get", "/catalog.{fmt}")["200"]["content"]["application/ld+json"]["schema"]
    Draft202012Validator(schema).validate(answer.get_json(force=True))


def test_a_second_request_for_the_same_run_job_or_transfer_is_a_documented_200(client):
    document = client.get("/api/openapi.json").get_json()
    for path in ("/api/v1/harvest-sources/{source_id}/runs", "/api/v1/stagings", "/api/v1/transfers"):
        assert "200" in responses(document, "post", path), path


def test_a_204_is_documented_without_a_body(client):
    document = client.get("/api/openapi.json").get_json()
    withdraw = responses(document, "delete", "/api/v1/datasets/{dataset_id}/offers/{offer_id}")
    assert "content" not in withdraw["204"]
