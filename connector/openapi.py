"""The OpenAPI 3.1 document of the HTTP API, built from the JSON Schemas in ``schemas/``.

Each route is declared once in :data:`OPERATIONS`; a test checks that the Flask URL map and
this table name the same routes.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from connector import __version__
from connector.catalog.dcat import FACETS
from connector.http import extension, json_response

bp = Blueprint("openapi", __name__)

_ID = {"name": "dataset_id", "in": "path", "required": True, "schema": {"type": "string"}}
_STATE = {"name": "state", "in": "query", "schema": {"type": "string"}}


def _path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


_SEARCH = [
    {"name": "q", "in": "query", "schema": {"type": "string"},
     "description": "Words to find; every word must match (titles, descriptions, keywords)."},
    *[
        {"name": f, "in": "query", "schema": {"type": "array", "items": {"type": "string"}},
         "style": "form", "explode": True, "description": "Facet filter; repeat for any of several values."}
        for f in FACETS
    ],
    {"name": "sort", "in": "query",
     "schema": {"enum": ["-updated", "updated", "title", "-title"], "default": "-updated"}},
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1}},
    {"name": "facets", "in": "query", "schema": {"type": "string"},
     "description": "Comma-separated facets to count (default: theme, publisher, format, "
                    "access_rights, sector, organisation, quality; keyword and license on request)."},
    {"name": "cursor", "in": "query", "schema": {"type": "string"},
     "description": "The `next` value of the previous page."},
]

# The DCAT-AP export answers RDF, not JSON: its operations name this marker as response schema.
# Turtle, RDF/XML and N-Triples are text; JSON-LD is a JSON object (``@context`` and ``@graph``).
_RDF = "rdf"
_RDF_CONTENT = {
    **{media_type: {"schema": {"type": "string"}} for media_type in (
        "text/turtle", "application/rdf+xml", "application/n-triples")},
    "application/ld+json": {"schema": {"type": "object"}},
}
_RDF_FORMAT = {"name": "fmt", "in": "path", "required": True,
               "schema": {"enum": ["ttl", "jsonld", "rdf", "nt"]}}
_CATALOG_PAGING = [
    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1, "default": 1}},
    {"name": "per_page", "in": "query",
     "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}},
    {"name": "modified_since", "in": "query", "schema": {"type": "string"},
     "description": "Only datasets changed at or after this date or date-time (with time zone)."},
]

# (method, OpenAPI path, operationId, summary, request schema, success status, response schema,
#  extra parameters, authenticated)
OPERATIONS: list[tuple[str, str, str, str, str | None, int, str, list[dict[str, Any]], bool]] = [
    ("get", "/healthz", "health", "Liveness and database readiness", None, 200, "health", [], False),
    ("get", "/api/openapi.json", "openapi", "This document", None, 200, "", [], False),
    ("post", "/api/v1/datasets", "registerDataset", "Register a dataset (version 1)",
     "dataset", 201, "dataset-response", [], True),
    ("get", "/api/v1/datasets", "searchDatasets", "Search datasets, with facet counts",
     None, 200, "dataset-search", _SEARCH, True),
    ("get", "/api/v1/datasets/{dataset_id}", "getDataset", "The current version of a dataset",
     None, 200, "dataset-response", [_ID], True),
    ("put", "/api/v1/datasets/{dataset_id}", "updateDataset",
     "Replace the document: a new immutable version", "dataset", 200, "dataset-response", [_ID], True),
    ("delete", "/api/v1/datasets/{dataset_id}", "withdrawDataset",
     "Withdraw a dataset (steward; history kept)", None, 200, "dataset-response", [_ID], True),
    ("get", "/api/v1/datasets/{dataset_id}/versions", "listDatasetVersions",
     "Every version of a dataset", None, 200, "dataset-versions", [_ID], True),
    ("get", "/api/v1/datasets/{dataset_id}/versions/{number}", "getDatasetVersion",
     "One version of a dataset", None, 200, "dataset-response",
     [_ID, {"name": "number", "in": "path", "required": True,
            "schema": {"type": "integer", "minimum": 1}}], True),
    ("post", "/api/v1/datasets/{dataset_id}/offers", "attachOffer",
     "Attach an ODRL offer (policy or template) to a dataset", "offer-request", 201, "offer",
     [_ID], True),
    ("get", "/api/v1/datasets/{dataset_id}/offers", "listOffers", "The active offers of a dataset",
     None, 200, "", [_ID], True),
    ("delete", "/api/v1/datasets/{dataset_id}/offers/{offer_id}", "withdrawOffer",
     "Withdraw an offer; agreements keep their snapshot", None, 204, "", [_ID, _path("offer_id")],
     True),
    ("post", "/api/v1/policies/evaluate", "evaluatePolicy",
     "Dry run: would this request be permitted, and why?", "evaluate-request", 200, "decision", [],
     True),
    ("post", "/api/v1/access-requests", "requestAccess",
     "Request one dataset version under one offer", "access-request", 201,
     "access-request-response", [], True),
    ("get", "/api/v1/access-requests", "listAccessRequests",
     "Requests of the caller's projects and on datasets it stewards", None, 200, "",
     [_STATE], True),
    ("get", "/api/v1/access-requests/{request_id}", "getAccessRequest", "One access request",
     None, 200, "access-request-response", [_path("request_id")], True),
    ("post", "/api/v1/access-requests/{request_id}/approve", "approveAccessRequest",
     "A steward approves: exactly one agreement", "decide-request", 200,
     "access-request-response", [_path("request_id")], True),
    ("post", "/api/v1/access-requests/{request_id}/reject", "rejectAccessRequest",
     "A steward rejects, with a comment", "decide-request", 200, "access-request-response",
     [_path("request_id")], True),
    ("get", "/api/v1/agreements", "listAgreements", "Agreements the caller may see", None, 200, "",
     [_STATE, {"name": "dataset", "in": "query", "schema": {"type": "string"}}], True),
    ("get", "/api/v1/agreements/{agreement_id}", "getAgreement", "One agreement", None, 200,
     "agreement", [_path("agreement_id")], True),
    ("post", "/api/v1/agreements/{agreement_id}/revoke", "revokeAgreement",
     "A steward revokes an agreement", "decide-request", 200, "agreement",
     [_path("agreement_id")], True),
    ("post", "/api/v1/stagings", "requestStaging",
     "Stage an agreement's dataset version as Parquet (202 new job, 200 the existing one)",
     "staging-request", 202, "staging-job", [], True),
    ("get", "/api/v1/stagings", "listStagings", "Staging jobs the caller may see", None, 200, "",
     [_STATE], True),
    ("get", "/api/v1/stagings/{job_id}", "getStaging", "One staging job with its progress", None,
     200, "staging-job", [_path("job_id")], True),
    ("post", "/api/v1/stagings/{job_id}/cancel", "cancelStaging", "Cancel a queued or running job",
     None, 200, "staging-job", [_path("job_id")], True),
    ("post", "/api/v1/harvest-sources", "addHarvestSource",
     "Register a harvest source (CKAN portal or DCAT-AP catalog)", "harvest-source", 201, "", [], True),
    ("get", "/api/v1/harvest-sources", "listHarvestSources",
     "Harvest sources of the organisations the caller stewards", None, 200, "", [], True),
    ("get", "/api/v1/harvest-sources/{source_id}", "getHarvestSource", "One harvest source (id or name)",
     None, 200, "", [_path("source_id")], True),
    ("post", "/api/v1/harvest-sources/{source_id}/runs", "startHarvestRun",
     "Queue a run (202; 200 with the run already queued or running)", None, 202, "harvest-run",
     [_path("source_id"), {"name": "full", "in": "query", "schema": {"enum": ["true", "false"]},
                           "description": "Harvest every record, not only those changed since the "
                                          "last complete run."}], True),
    ("get", "/api/v1/harvest-sources/{source_id}/runs", "listHarvestRuns", "Runs of a source, newest first",
     None, 200, "", [_path("source_id")], True),
    ("get", "/api/v1/harvest-sources/{source_id}/runs/{run_id}", "getHarvestRun",
     "One run: state, counts per outcome, reason", None, 200, "harvest-run",
     [_path("source_id"), _path("run_id")],
     True),
    ("get", "/api/v1/harvest-sources/{source_id}/runs/{run_id}/records", "listHarvestRecords",
     "Per-record results of a run", None, 200, "",
     [_path("source_id"), _path("run_id"),
      {"name": "outcome", "in": "query",
       "schema": {"enum": ["created", "updated", "unchanged", "withdrawn", "failed"]}},
      {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
      {"name": "cursor", "in": "query", "schema": {"type": "string"},
       "description": "The `next` value of the previous page."}], True),
    ("get", "/api/v1/audit", "exportAudit", "The audit log as JSON Lines (administrators)", None,
     200, "", [{"name": "since", "in": "query", "schema": {"type": "string", "format": "date-time"}},
               {"name": "objectType", "in": "query", "schema": {"type": "string"}}], True),
    # Dataspace Protocol 2025-1 (connector/dsp/api.py, docs/dsp.md): the bearer token is the
    # participant's; errors are the protocol's CatalogError (application/json), not problems
    # (_error_schema).
    ("get", "/.well-known/dspace-version", "dspaceVersion",
     "DSP version discovery: the protocol versions and paths served", None, 200, "", [], False),
    ("post", "/dsp/2025-1/oauth/token", "dspIssueToken",
     "OAuth2 client-credentials token for a configured participant (RFC 6749)", None, 200, "", [], False),
    ("post", "/dsp/2025-1/catalog/request", "dspCatalogRequest",
     "DSP CatalogRequestMessage: the Catalog this participant may see (Link-paged)", None, 200, "",
     [{"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
      {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}],
     True),
    ("get", "/dsp/2025-1/catalog/datasets/{dataset_id}", "dspGetDataset",
     "DSP Dataset with its offers (404 CatalogError when unknown or not visible)", None, 200, "", [_ID],
     True),
    # DSP contract negotiation (connector/dsp/negotiation_api.py): errors are ContractNegotiationError.
    ("get", "/dsp/2025-1/negotiations/{provider_pid}", "dspProviderNegotiation",
     "DSP ContractNegotiation (provider side); 404 when unknown or another participant's", None, 200, "",
     [_path("provider_pid")], True),
    ("post", "/dsp/2025-1/negotiations/request", "dspContractRequest",
     "DSP initial ContractRequestMessage: 201 ContractNegotiation (REQUESTED)", None, 201, "", [], True),
    *[("post", f"/dsp/2025-1/negotiations/{{provider_pid}}/{suffix}", operation, summary, None, 200, "",
       [_path("provider_pid")], True) for suffix, operation, summary in (
        ("request", "dspCounterOffer", "DSP ContractRequestMessage (counter-offer)"),
        ("events", "dspProviderEvent", "DSP ContractNegotiationEventMessage (ACCEPTED)"),
        ("agreement/verification", "dspAgreementVerification", "DSP ContractAgreementVerificationMessage"),
        ("termination", "dspProviderTermination", "DSP ContractNegotiationTerminationMessage"))],
    ("post", "/dsp/2025-1/negotiations/offers", "dspInitialOffer",
     "DSP provider-initiated ContractOfferMessage (consumer side): 201 ContractNegotiation (OFFERED)",
     None, 201, "", [], True),
    ("get", "/dsp/2025-1/callback/negotiations/{consumer_pid}", "dspConsumerNegotiation",
     "DSP ContractNegotiation (consumer side)", None, 200, "", [_path("consumer_pid")], True),
    *[("post", f"/dsp/2025-1/callback/negotiations/{{consumer_pid}}/{suffix}", operation, summary, None,
       200, "", [_path("consumer_pid")], True) for suffix, operation, summary in (
        ("offers", "dspConsumerOffer", "DSP ContractOfferMessage (counter-offer of the provider)"),
        ("agreement", "dspConsumerAgreement", "DSP ContractAgreementMessage (verified at once when it fits)"),
        ("events", "dspConsumerEvent", "DSP ContractNegotiationEventMessage (FINALIZED)"),
        ("termination", "dspConsumerTermination", "DSP ContractNegotiationTerminationMessage"))],
    ("post", "/dsp/2025-1/triggers/negotiations", "dspTriggerNegotiation",
     "Dataspace TCK trigger (DSP_TRIGGERS): request the calling participant's dataset as consumer "
     "(201 the negotiation)", None, 201, "", [], True),
    ("post", "/api/v1/negotiations", "startNegotiation",
     "Negotiate a remote participant's offer for one of the caller's projects (DSP consumer)", None, 201,
     "", [], True),
    ("get", "/api/v1/negotiations", "listNegotiations",
     "Negotiations of the caller's projects (consumer) and on datasets it stewards (provider)", None, 200,
     "", [{"name": "role", "in": "query", "schema": {"enum": ["provider", "consumer"]}}], True),
    ("get", "/api/v1/negotiations/{negotiation_id}", "getNegotiation", "One contract negotiation", None,
     200, "", [_path("negotiation_id")], True),
    ("post", "/api/v1/negotiations/{negotiation_id}/accept", "acceptNegotiationOffer",
     "Accept the provider's offer (consumer, OFFERED): sends the ACCEPTED event", None, 200, "",
     [_path("negotiation_id")], True),
    ("post", "/api/v1/negotiations/{negotiation_id}/terminate", "terminateNegotiation",
     "End a negotiation with an optional reason; the other side is told", None, 200, "",
     [_path("negotiation_id")], True),
    # DSP transfer process (connector/dsp/transfer_api.py): errors are TransferError.
    ("get", "/dsp/2025-1/transfers/{provider_pid}", "dspProviderTransfer",
     "DSP TransferProcess (provider side); 404 when unknown or another participant's", None, 200, "",
     [_path("provider_pid")], True),
    ("post", "/dsp/2025-1/transfers/request", "dspTransferRequest",
     "DSP TransferRequestMessage (HttpData-PULL): 201 TransferProcess (REQUESTED)", None, 201, "", [], True),
    *[("post", f"/dsp/2025-1/transfers/{{provider_pid}}/{suffix}", operation, summary, None, 200, "",
       [_path("provider_pid")], True) for suffix, operation, summary in (
        ("start", "dspProviderTransferStart", "DSP TransferStartMessage (the consumer resumes)"),
        ("completion", "dspProviderTransferCompletion", "DSP TransferCompletionMessage"),
        ("suspension", "dspProviderTransferSuspension", "DSP TransferSuspensionMessage"),
        ("termination", "dspProviderTransferTermination", "DSP TransferTerminationMessage"))],
    ("get", "/dsp/2025-1/callback/transfers/{consumer_pid}", "dspConsumerTransfer",
     "DSP TransferProcess (consumer side)", None, 200, "", [_path("consumer_pid")], True),
    *[("post", f"/dsp/2025-1/callback/transfers/{{consumer_pid}}/{suffix}", operation, summary, None,
       200, "", [_path("consumer_pid")], True) for suffix, operation, summary in (
        ("start", "dspConsumerTransferStart", "DSP TransferStartMessage (with the data address)"),
        ("completion", "dspConsumerTransferCompletion", "DSP TransferCompletionMessage"),
        ("suspension", "dspConsumerTransferSuspension", "DSP TransferSuspensionMessage"),
        ("termination", "dspConsumerTransferTermination", "DSP TransferTerminationMessage"))],
    ("post", "/dsp/2025-1/triggers/transfers", "dspTriggerTransfer",
     "Dataspace TCK trigger (DSP_TRIGGERS): pull the data of an agreement reached with the calling "
     "participant (201 new, 200 the open transfer)", None, 201, "", [], True),
    ("get", "/dsp/2025-1/data/{provider_pid}/", "dspDataManifest",
     "The published manifest behind a pull transfer (the data address's bearer token; 401 otherwise)",
     None, 200, "", [_path("provider_pid")], False),
    ("get", "/dsp/2025-1/data/{provider_pid}/{name}", "dspDataFile",
     "One file of that version: _manifest.json or a part it lists", None, 200, "",
     [_path("provider_pid"), _path("name")], False),
    ("post", "/api/v1/transfers", "startTransfer",
     "Ask for the data of a FINALIZED consumer negotiation, pulled here or pushed to an S3 dataAddress "
     "(201 new, 200 the open transfer)", None, 201,
     "", [], True),
    ("get", "/api/v1/transfers", "listTransfers",
     "Transfers of the caller's projects (consumer) and on datasets it stewards (provider)", None, 200,
     "", [{"name": "role", "in": "query", "schema": {"enum": ["provider", "consumer"]}}], True),
    ("get", "/api/v1/transfers/{transfer_id}", "getTransfer", "One transfer process", None, 200, "",
     [_path("transfer_id")], True),
    *[("post", f"/api/v1/transfers/{{transfer_id}}/{action}", operation, summary, None, 200, "",
       [_path("transfer_id")], True) for action, operation, summary in (
        ("suspend", "suspendTransfer", "Suspend a STARTED transfer; the other side is told"),
        ("resume", "resumeTransfer", "Resume a SUSPENDED transfer (a provider sends a fresh data address)"),
        ("complete", "completeTransfer", "Complete a STARTED pull as its provider; the data token ends"),
        ("terminate", "terminateTransfer", "End a transfer with an optional reason; the other side is told"),
    )],
    # DCAT-AP 3.0.1 export (connector/catalog/export_api.py); a bearer token is optional.
    ("get", "/catalog", "exportCatalog",
     "The catalog as DCAT-AP 3.0.1, format chosen by Accept (406 if none fits); Hydra-paged",
     None, 200, _RDF, _CATALOG_PAGING, False),
    ("get", "/catalog.{fmt}", "exportCatalogAs", "The catalog as DCAT-AP 3.0.1 in one format",
     None, 200, _RDF, [_RDF_FORMAT, *_CATALOG_PAGING], False),
    ("get", "/datasets/{dataset_id}", "exportDataset",
     "One dataset as DCAT-AP 3.0.1, format chosen by Accept", None, 200, _RDF, [_ID], False),
    ("get", "/datasets/{dataset_id}.{fmt}", "exportDatasetAs",
     "One dataset as DCAT-AP 3.0.1 in one format", None, 200, _RDF, [_ID, _RDF_FORMAT], False),
]

#: Operations answering a second success status besides the one in :data:`OPERATIONS`.
_ALSO = {
    "requestStaging": (200, "The agreement's existing job"),
    "startHarvestRun": (200, "The run already queued or running"),
    "startTransfer": (200, "The open transfer of that negotiation"),
}
#: Operations whose success body is not JSON.
_CONTENT = {
    "exportAudit": {"application/jsonl": {"schema": {
        "type": "string", "description": "One audit event per line (JSON Lines)"}}},
}

_ERRORS = {
    "400": "Malformed request (bad JSON, bad cursor)",
    "401": "Missing or unknown bearer token",
    "403": "Authenticated, but the role does not allow it",
    "404": "Unknown, or not visible to the caller",
    "409": "Conflicts with the current state",
    "413": "Body larger than the configured maximum",
    "415": "Body is not application/json",
    "422": "Body or parameters break the schema; every error listed with its JSON path",
}


_DSP_CONTEXT = {"type": "array", "items": {"type": "string"},
                "contains": {"const": "https://w3id.org/dspace/2025/1/context.jsonld"}}


def _dsp_error(message_type: str, *, process_ids: bool) -> dict[str, Any]:
    """The DSP 2025-1 error message (``connector/dsp/spec/*/...-error-schema.json``), inlined:
    the official schemas refer to each other by their w3id.org addresses."""
    schema: dict[str, Any] = {
        "type": "object", "required": ["@context", "@type"],
        "properties": {"@context": _DSP_CONTEXT, "@type": {"const": message_type}, "code": {"type": "string"},
                       "reason": {"type": "array"}}}
    if process_ids:
        schema["required"] += ["providerPid", "consumerPid"]
        schema["properties"].update(providerPid={"type": "string"}, consumerPid={"type": "string"},
                                    reason={"type": "array", "minItems": 1})
    return schema


#: Error bodies that are not problems: the DSP binding's error messages and RFC 6749's token errors.
_FOREIGN_ERRORS = {
    "dspCatalogError": _dsp_error("CatalogError", process_ids=False),
    "dspContractNegotiationError": _dsp_error("ContractNegotiationError", process_ids=True),
    "dspTransferError": _dsp_error("TransferError", process_ids=True),
    "oauthError": {"type": "object", "required": ["error"],
                   "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}}},
}


def _error_schema(path: str) -> tuple[str, str]:
    """(media type, component schema) of the errors a route answers: DSP protocol routes answer
    their sub-protocol's error message as ``application/json`` (the HTTPS binding, docs/dsp.md),
    the token endpoint RFC 6749's error; everything else, the data endpoint included, problems."""
    dsp = "/dsp/2025-1/"
    if not path.startswith(dsp) or path.startswith(dsp + "data/"):
        return "application/problem+json", "problem"
    if path.startswith(dsp + "oauth/"):
        return "application/json", "oauthError"
    if "/negotiations" in path:
        return "application/json", "dspContractNegotiationError"
    if "/transfers" in path:
        return "application/json", "dspTransferError"
    return "application/json", "dspCatalogError"


def _ckan_paths() -> dict[str, dict[str, Any]]:
    """The CKAN Action API (connector.ckan_api): listed so that every route is documented, but
    its contract is CKAN's (docs/ckan-api.md): CKAN's envelope and error shape, not problem+json."""
    from connector.ckan_api.api import ACTIONS

    envelope = {"application/json": {"schema": {
        "type": "object", "required": ["help", "success"],
        "properties": {"help": {"type": "string"}, "success": {"type": "boolean"}, "result": {},
                       "error": {"type": "object", "required": ["__type", "message"]}}}}}
    errors = {"400": "Unknown action or malformed body", "403": "Authorization Error (unknown token)",
              "404": "Not Found Error", "409": "Validation Error"}
    paths: dict[str, dict[str, Any]] = {}
    for prefix, suffix in (("/api/3/action", ""), ("/api/action", "Unversioned")):
        for method in ("get", "post"):
            paths.setdefault(prefix + "/{name}", {})[method] = {
                "operationId": f"ckanAction{method.title()}{suffix}",
                "summary": "CKAN Action API (read-only subset); parameters as CKAN documents them",
                "parameters": [{"name": "name", "in": "path", "required": True,
                                "schema": {"enum": list(ACTIONS)}}],
                "responses": {"200": {"description": "CKAN envelope with the result", "content": envelope},
                              **{code: {"description": text, "content": envelope}
                                 for code, text in errors.items()}},
                "security": [{}, {"bearer": []}],
            }
    return paths


def build_document(schemas: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The OpenAPI document; ``schemas`` are the loaded JSON Schemas keyed by short name."""
    paths: dict[str, dict[str, Any]] = {}
    for method, path, op_id, summary, req, status, resp, params, auth in OPERATIONS:
        operation: dict[str, Any] = {"operationId": op_id, "summary": summary, "responses": {}}
        if params:
            operation["parameters"] = params
        if req:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{req}"}}},
            }
        elif method == "post" and path.startswith("/dsp/2025-1/") and "/oauth/" not in path:
            operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "description": "The DSP 2025-1 message, checked against its official "
                                                 "schema (connector/dsp/spec)"}}}}
        content = {"application/json": {"schema": {"$ref": f"#/components/schemas/{resp}"}}} if resp else {
            "application/json": {"schema": {"type": "object"}}}
        if resp == _RDF:
            content = _RDF_CONTENT
        content = _CONTENT.get(op_id, content)
        operation["responses"][str(status)] = {"description": "Success", "content": content}
        if status == 204:
            del operation["responses"]["204"]["content"]
        if op_id in _ALSO:
            also, text = _ALSO[op_id]
            operation["responses"][str(also)] = {"description": text, "content": content}
        media_type, error = _error_schema(path)
        for code, text in _ERRORS.items():
            operation["responses"][code] = {"description": text, "content": {
                media_type: {"schema": {"$ref": f"#/components/schemas/{error}"}}}}
        operation["security"] = [{"bearer": []}] if auth else []
        paths.setdefault(path, {})[method] = operation
    paths.update(_ckan_paths())
    return {
        "openapi": "3.1.0",
        "info": {"title": "connector", "version": __version__,
                 "description": "Data-space connector and catalog service (DCAT-AP 3.0.1)."},
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "paths": paths,
        "components": {
            "schemas": {**schemas, **_FOREIGN_ERRORS},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


@bp.get("/api/openapi.json")
def openapi_document():
    return json_response(build_document(extension().schemas.documents))
