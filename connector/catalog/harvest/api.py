"""HTTP routes of harvesting under ``/api/v1/harvest-sources``: parse, call one service, serialise."""

from __future__ import annotations

from flask import Blueprint, current_app, request, url_for

from connector.catalog.harvest import runs, serialize, sources
from connector.catalog.harvest.models import Outcome
from connector.catalog.harvest.settings import HarvestSettings
from connector.errors import ValidationFailed
from connector.http import int_arg, json_body, json_response, principal, uow, validate

bp = Blueprint("harvest", __name__, url_prefix="/api/v1/harvest-sources")

MAX_LIMIT = 1000
MAX_CURSOR = 2**31 - 1  # record keys are INTEGER columns


def _settings() -> HarvestSettings:
    return HarvestSettings.from_config(current_app.config)


@bp.post("")
def add_source():
    caller = principal()
    body = json_body()
    validate("harvest-source", body)
    row = sources.add_source(uow(), caller, body, allowlist=_settings().allowlist)
    return json_response(serialize.source(row), 201,
                         {"Location": url_for("harvest.get_source", source_id=row.id)})


@bp.get("")
def list_sources():
    return json_response({"items": [serialize.source(s) for s in sources.list_sources(uow(), principal())]})


@bp.get("/<source_id>")
def get_source(source_id: str):
    return json_response(serialize.source(sources.get_source(uow(), principal(), source_id)))


@bp.post("/<source_id>/runs")
def start_run(source_id: str):
    caller = principal()
    full = request.args.get("full", "false")
    if full not in ("true", "false"):
        raise ValidationFailed([{"path": "$.full", "message": "full must be true or false"}])
    run, created = runs.enqueue_run(uow(), caller, source_id, full=full == "true")
    return json_response(serialize.run(run), 202 if created else 200, {
        "Location": url_for("harvest.get_run", source_id=run.source.id, run_id=run.id)})


@bp.get("/<source_id>/runs")
def list_runs(source_id: str):
    found = runs.list_runs(uow(), principal(), source_id)
    return json_response({"items": [serialize.run(r) for r in found]})


@bp.get("/<source_id>/runs/<run_id>")
def get_run(source_id: str, run_id: str):
    return json_response(serialize.run(runs.get_run(uow(), principal(), source_id, run_id)))


@bp.get("/<source_id>/runs/<run_id>/records")
def list_records(source_id: str, run_id: str):
    caller = principal()
    unknown = sorted(set(request.args) - {"outcome", "limit", "cursor"})
    if unknown:
        raise ValidationFailed([{"path": f"$.{name}", "message": "unknown query parameter"}
                                for name in unknown])
    outcome = request.args.get("outcome")
    if outcome is not None and outcome not in {str(o) for o in Outcome}:
        raise ValidationFailed([{"path": "$.outcome", "message": "outcome must be one of "
                                 + ", ".join(str(o) for o in Outcome)}])
    limit = int_arg("limit", 100, MAX_LIMIT)
    # The cursor is a record key; checked here so that the service only ever sees ASCII digits
    # of a size the database compares ("²" passes str.isdigit, int() then fails).
    cursor = int_arg("cursor", None, MAX_CURSOR, minimum=0) if request.args.get("cursor") else None
    rows, following = runs.list_records(uow(), caller, source_id, run_id, outcome=outcome, limit=limit,
                                           cursor=None if cursor is None else str(cursor))
    headers = {}
    if following:
        args = {**request.args.to_dict(), "cursor": following}
        link = url_for("harvest.list_records", source_id=source_id, run_id=run_id, **args)
        headers["Link"] = f'<{link}>; rel="next"'
    return json_response({"items": [serialize.record(r) for r in rows], "next": following}, 200, headers)
