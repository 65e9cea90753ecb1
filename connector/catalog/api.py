"""HTTP routes of the catalog under ``/api/v1/datasets``: parse, call one service, serialise."""

from __future__ import annotations

from flask import Blueprint, current_app, request, url_for

from connector.catalog import serialize, service
from connector.catalog.dcat import FACETS
from connector.catalog.search import DEFAULT_FACETS, SORTS, SearchQuery, filter_values
from connector.errors import NotFound, ValidationFailed
from connector.http import extension, int_arg, json_body, json_response, principal, uow, validate

bp = Blueprint("datasets", __name__, url_prefix="/api/v1/datasets")


def _location(view: service.DatasetView) -> dict[str, str]:
    return {"Location": url_for("datasets.get_dataset", dataset_id=view.id)}


@bp.post("")
def register_dataset():
    caller = principal()
    body = json_body()
    validate("dataset", body)
    view = service.register_dataset(uow(), caller, body, source_roots=extension().staging.source_roots)
    return json_response(serialize.dataset(view), 201, _location(view))


@bp.get("/<dataset_id>")
def get_dataset(dataset_id: str):
    view = service.get_dataset(uow(), principal(), dataset_id)
    return json_response(serialize.dataset(view))


@bp.put("/<dataset_id>")
def update_dataset(dataset_id: str):
    caller = principal()
    body = json_body()
    validate("dataset", body)
    view, _ = service.update_dataset(uow(), caller, dataset_id, body,
                                     source_roots=extension().staging.source_roots)
    return json_response(serialize.dataset(view), 200, _location(view))


@bp.delete("/<dataset_id>")
def withdraw_dataset(dataset_id: str):
    view = service.withdraw_dataset(uow(), principal(), dataset_id)
    return json_response(serialize.dataset(view))


@bp.get("/<dataset_id>/versions")
def list_versions(dataset_id: str):
    rows = service.list_versions(uow(), principal(), dataset_id)
    return json_response(serialize.versions(dataset_id, rows))


#: The largest version number the database holds (a 32-bit integer column).
MAX_VERSION = 2**31 - 1


@bp.get("/<dataset_id>/versions/<int:number>")
def get_version(dataset_id: str, number: int):
    if number > MAX_VERSION:  # past the column's range: no such version, not a database error
        raise NotFound(f"dataset {dataset_id} has no version {number}")
    view = service.get_dataset(uow(), principal(), dataset_id, version=number)
    return json_response(serialize.dataset(view))


SEARCH_PARAMS = {"q", "limit", "cursor", "sort", "facets", *FACETS}


def _facet_fields() -> tuple[str, ...]:
    raw = request.args.get("facets")
    if raw is None:
        return DEFAULT_FACETS
    names = tuple(dict.fromkeys(name.strip() for name in raw.split(",") if name.strip()))
    unknown = [name for name in names if name not in FACETS]
    if unknown:
        raise ValidationFailed([{"path": "$.facets", "message": f"unknown facet(s) {', '.join(unknown)};"
                                 f" known: {', '.join(FACETS)}"}])
    return names


@bp.get("")
def search_datasets():
    caller = principal()
    unknown = sorted(set(request.args) - SEARCH_PARAMS)
    if unknown:
        raise ValidationFailed([{"path": f"$.{name}", "message": "unknown query parameter"}
                                for name in unknown])
    sort = request.args.get("sort", "-updated")
    if sort not in SORTS:
        raise ValidationFailed([{"path": "$.sort", "message": f"sort must be one of {', '.join(SORTS)}"}])
    filters, wrong = {}, []
    for facet in (f for f in FACETS if f in request.args):
        try:
            filters[facet] = filter_values(facet, request.args.getlist(facet))
        except ValueError as exc:
            wrong.append({"path": f"$.{facet}", "message": str(exc)})
    if wrong:
        raise ValidationFailed(wrong)
    config = current_app.config
    query = SearchQuery(
        text=request.args.get("q", ""),
        filters=filters,
        sort=sort,
        limit=int_arg("limit", config["SEARCH_DEFAULT_LIMIT"], config["SEARCH_MAX_LIMIT"]),
        cursor=request.args.get("cursor") or None,
        facet_fields=_facet_fields(),
    )
    result, views = service.search_datasets(uow(), caller, query)
    headers = {}
    if result.next_cursor:
        args = request.args.to_dict(flat=False)
        args["cursor"] = [result.next_cursor]
        headers["Link"] = f'<{url_for("datasets.search_datasets", **args)}>; rel="next"'
    return json_response(serialize.search_result(result, views), 200, headers)
