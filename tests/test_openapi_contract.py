"""The API keeps the contract it publishes: schemathesis generates requests from the served
``/api/openapi.json`` for every operation and checks each answer against the document (no
server error; a documented status, media type and body schema).

Three callers: the health steward and the administrator call every operation; a configured DSP
participant calls the protocol routes, so they are exercised past 401. The application is seeded
first (datasets with offers, requests, an agreement, a staging job, a harvest source, a contract
negotiation) and real ids are mixed into the generated path parameters, so routes answer real
content, not only 404. Generation is derandomised and bounded (``MAX_EXAMPLES`` per operation):
the same requests on every run, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from connector.app import create_app
from connector.catalog.harvest import sources
from connector.identity.principal import OPERATOR
from tests.catalog.harvest.conftest import HARVEST_TABLES
from tests.conftest import dataset_body
from tests.dsp.conftest import (
    HEALTH_OFFER,
    PARTICIPANTS,
    PARTNER_TOKEN,
    SIMPLE_OFFER,
    clean_dsp_tables,  # noqa: F401  (fixture)
    dsp_config,
    dsp_env,  # noqa: F401  (fixture)
)
from tests.factories import PERMIT

MAX_EXAMPLES = 12
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
ENER = "http://publications.europa.eu/resource/authority/data-theme/ENER"
CONTEXT = ["https://w3id.org/dspace/2025/1/context.jsonld"]


@pytest.fixture
def clean_database(database_url: str):
    """The session's database, emptied after the test, harvest and DSP rows included."""
    from sqlalchemy import text

    from connector import db
    from tests.conftest import TABLES

    yield database_url
    engine = db.make_engine(database_url)
    with engine.begin() as connection:
        for table in ("dsp_outbox", "dsp_transfers", "dsp_negotiations", "staging_jobs",
                      *HARVEST_TABLES, *TABLES):
            connection.execute(text(f"DELETE FROM {table}"))  # noqa: S608  (fixed table names)
    engine.dispose()


@pytest.fixture
def app(clean_dsp_tables, clean_database: str, tmp_path: Path, dsp_env):  # noqa: F811
    participants = [dict(p, address="http://127.0.0.1:9/partner/dsp") for p in PARTICIPANTS]
    application = create_app(dsp_config(clean_database, tmp_path, DSP_PARTICIPANTS=participants,
                                        SOURCE_ALLOWLIST=["127.0.0.1"]))
    application.extensions["dsp_negotiation"].deliver_inline = False
    yield application
    application.extensions["connector"].engine.dispose()


def _ok(response: Any, *statuses: int) -> dict[str, Any]:
    assert response.status_code in statuses, (response.status_code, response.get_data(as_text=True))
    return response.get_json()


def seed(app, uow, actors) -> dict[str, list[str]]:
    """A few datasets with offers, requests, one agreement with its staging job, a harvest source
    with a run, and a DSP contract negotiation; returns the real ids per path parameter name."""
    client = app.test_client()
    steward, member = actors.headers("steward"), actors.headers("member")
    source = Path(app.config["SOURCE_ROOTS"][0]) / "health" / "cardiac" / "measurements.csv"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_text("patient_id,lvef\nP1,55.5\nP2,60\n")
    datasets = [
        _ok(client.post("/api/v1/datasets", json=dataset_body(
            distribution=[{"accessURL": source.as_uri(), "format": "CSV"}]), headers=steward), 201),
        _ok(client.post("/api/v1/datasets", json=dataset_body(
            theme=["ENER", ENER], accessRights="RESTRICTED", keyword=["grid"]), headers=steward), 201),
        _ok(client.post("/api/v1/datasets", json=dataset_body(theme=["AGRI"]), headers=steward), 201),
    ]
    offers = [_ok(client.post(f"/api/v1/datasets/{d['id']}/offers", json=body, headers=steward), 201)
              for d, body in ((datasets[0], HEALTH_OFFER), (datasets[1], SIMPLE_OFFER),
                              (datasets[2], SIMPLE_OFFER))]
    agreed = _ok(client.post("/api/v1/access-requests", json={
        "dataset": datasets[0]["id"], "offer": offers[0]["id"], "project": "cardio",
        "purpose": "scientificResearch", "duration": "P30D", "attributes": {"dataPermit": PERMIT}},
        headers=member), 201)
    pending = _ok(client.post("/api/v1/access-requests", json={
        "dataset": datasets[0]["id"], "offer": offers[0]["id"], "project": "cardio",
        "purpose": "scientificResearch", "duration": "P30D"}, headers=member), 201)
    job = _ok(client.post("/api/v1/stagings", json={"agreement": agreed["agreement"]}, headers=member), 202)
    harvest_source = sources.add_source(uow, OPERATOR, {
        "name": "health-portal", "kind": "ckan", "url": "http://127.0.0.1:9/ckan",
        "organisation": "health"}, allowlist=("127.0.0.1",))
    run = _ok(client.post(f"/api/v1/harvest-sources/{harvest_source.id}/runs", headers=steward), 202)
    iri = f"urn:uuid:{datasets[1]['id']}"
    dsp = {"Authorization": f"Bearer {PARTNER_TOKEN}"}
    offer = _ok(client.get(f"/dsp/2025-1/catalog/datasets/{iri}", headers=dsp), 200)["hasPolicy"][0]
    consumer_pid = f"urn:uuid:{uuid.uuid4()}"
    negotiation = _ok(client.post("/dsp/2025-1/negotiations/request", headers=dsp, json={
        "@context": CONTEXT, "@type": "ContractRequestMessage", "consumerPid": consumer_pid,
        "offer": {**offer, "target": iri}, "callbackAddress": "http://127.0.0.1:9/partner/dsp/callback"}),
        201)
    return {
        "dataset_id": [d["id"] for d in datasets] + [iri],
        "offer_id": [o["id"] for o in offers],
        "request_id": [agreed["id"], pending["id"]],
        "agreement_id": [agreed["agreement"]],
        "job_id": [job["id"]],
        "source_id": [harvest_source.id, "health-portal"],
        "run_id": [run["id"]],
        "provider_pid": [negotiation["providerPid"]],
        "consumer_pid": [consumer_pid],
        "number": [1],
    }


def _mix_real_ids(schema: Any, real: dict[str, list[Any]]) -> None:
    """Path parameters are the generated value or one of the seeded ids."""

    @schema.hook
    def flatmap_path_parameters(context, path_parameters):
        if not path_parameters:
            return st.just(path_parameters)
        return st.fixed_dictionaries({
            name: st.sampled_from([value, *real[name]]) if name in real else st.just(value)
            for name, value in path_parameters.items()})


@dataclass
class Findings:
    """What one caller's run saw: each distinct failure with a curl command that reproduces it,
    and the statuses each operation answered."""

    failures: dict[tuple[str, str], str] = field(default_factory=dict)
    statuses: dict[str, set[int]] = field(default_factory=dict)


def _exercise(operation: Any, mode: GenerationMode, headers: dict[str, str], found: Findings) -> None:
    """``MAX_EXAMPLES`` derandomised cases of one operation in one mode (no shrinking: the report
    wants every distinct failure, not the smallest example of the first)."""

    @settings(max_examples=MAX_EXAMPLES, derandomize=True, database=None, deadline=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        response = case.call(headers=headers)
        found.statuses.setdefault(operation.label, set()).add(response.status_code)
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except (Failure, FailureGroup) as error:
            for failure in getattr(error, "exceptions", (error,)):
                found.failures.setdefault((operation.label, failure.title),
                                          f"{failure.message}\n    {case.as_curl_command(headers=headers)}")

    try:
        run()
    except Unsatisfiable:
        # Nothing to make invalid (no parameters, no body): the positive run covered it.
        if mode is not GenerationMode.NEGATIVE:
            raise


#: Operations each caller cannot pass authentication of, whatever it sends: the protocol routes
#: take a participant's token, the data endpoint a transfer's data-address token.
OUT_OF_REACH = {"steward": r" /dsp/2025-1/(?!oauth/token)", "admin": r" /dsp/2025-1/(?!oauth/token)",
                "participant": r" /dsp/2025-1/data/"}
PROTOCOL = r"^/(dsp/|\.well-known/)"


@pytest.mark.parametrize("caller", ["steward", "admin", "participant"])
def test_every_operation_answers_as_the_document_says(app, uow, actors, caller):
    real = seed(app, uow, actors)
    token = PARTNER_TOKEN if caller == "participant" else actors.tokens[caller]
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    _mix_real_ids(schema, real)
    if caller == "participant":
        schema = schema.include(path_regex=PROTOCOL)
    found = Findings()
    for result in schema.get_all_operations():
        for mode in GenerationMode:
            _exercise(result.ok(), mode, {"Authorization": f"Bearer {token}"}, found)

    documented = {f"{method.upper()} {path}" for path, methods in schema.raw_schema["paths"].items()
                  for method in methods if caller != "participant" or re.match(PROTOCOL, path)}
    # Every operation was called, none skipped (schemathesis leaves out the document it was loaded from).
    assert set(found.statuses) == documented - {"GET /api/openapi.json"}
    assert not found.failures, f"{len(found.failures)} contract failures:\n" + "\n".join(
        f"{label}: {title}\n    {detail}" for (label, title), detail in sorted(found.failures.items()))
    stuck = sorted(label for label, seen in found.statuses.items()
                   if seen == {401} and not re.search(OUT_OF_REACH[caller], label))
    assert stuck == [], "answered only 401"
