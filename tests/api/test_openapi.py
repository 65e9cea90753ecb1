"""The OpenAPI document matches the routes the application serves."""

from __future__ import annotations

import re

from jsonschema import Draft202012Validator

from connector.openapi import build_document


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
