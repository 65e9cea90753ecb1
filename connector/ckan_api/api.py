"""The CKAN Action API (read-only subset) at ``/api/3/action/<name>`` and ``/api/action/<name>``.

Every action answers GET with a query string and POST with a JSON (or form) body, as CKAN
does. Answers use CKAN's envelope ``{"help", "success", "result"}``; errors use CKAN's
``{"success": false, "error": {"__type", "message"}}`` with CKAN's status codes (Not Found
Error 404, Validation Error 409, Authorization Error 403). This API deliberately speaks
CKAN's error shape, not problem+json (RFC 9457) like the rest of the service, because its
clients (``ckanapi``, ckanext-harvest, portals' scripts) parse CKAN's shape and nothing else.

The caller is anonymous unless ``Authorization`` carries one of our API tokens, bare as CKAN
sends it or as ``Bearer <token>`` (``X-CKAN-API-Key`` is read too); an unknown token is an
Authorization Error.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from flask import Blueprint, current_app, request

from connector import __version__
from connector.catalog.search import SearchQuery
from connector.ckan_api import mapping, query, service
from connector.errors import BadRequest, ConnectorError, ValidationFailed
from connector.http import json_body, json_response, uow
from connector.identity import service as identity
from connector.identity.principal import ANONYMOUS, Principal

log = logging.getLogger("connector.ckan_api")

bp = Blueprint("ckan_api", __name__)

#: The CKAN API level these actions follow, as ``status_show`` reports it.
CKAN_VERSION = "2.10.0"

_ERROR_TYPES = {403: "Authorization Error", 404: "Not Found Error", 409: "Validation Error"}

Params = Mapping[str, Any]
Action = Callable[[Params, Principal], Any]


def _root() -> str:
    """Our public root URL: ``PUBLIC_BASE_URL`` when set, else the request's (no trailing slash)."""
    return (current_app.config.get("PUBLIC_BASE_URL") or request.url_root).rstrip("/")


def _help(name: str) -> str:
    return f"{_root()}/api/3/action/help_show?name={name}"


def _envelope(name: str, result: Any):
    return json_response({"help": _help(name), "success": True, "result": result})


def _error(status: int, error: dict[str, Any]):
    name = (request.view_args or {}).get("name", "")
    return json_response({"help": _help(name), "success": False, "error": error}, status)


@bp.errorhandler(ConnectorError)
def _connector_error(exc: ConnectorError):
    status = {401: 403, 403: 403, 404: 404, 409: 409, 422: 409}.get(exc.status, exc.status)
    error: dict[str, Any] = {"__type": _ERROR_TYPES.get(status, "Bad Request"), "message": exc.detail}
    if isinstance(exc, ValidationFailed):
        # CKAN's Validation Error also lists messages per field.
        for item in exc.errors:
            error.setdefault(item["path"].removeprefix("$."), []).append(item["message"])
    return _error(status, error)


@bp.errorhandler(Exception)
def _unexpected(exc: Exception):
    correlation = uuid.uuid4().hex
    log.exception("CKAN action failed, correlation id %s", correlation)
    return _error(500, {"__type": "Internal Server Error",
                        "message": f"The service failed; quote correlation id {correlation}."})


def _params() -> dict[str, Any]:
    if request.method == "POST" and request.content_length:
        if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            source: Any = request.form
        else:
            body = json_body()
            if not isinstance(body, dict):
                raise BadRequest("the body must be a JSON object of the action's parameters")
            return body
    else:
        source = request.args
    return {k: (v[0] if len(v) == 1 else v) for k, v in source.to_dict(flat=False).items()}


def _caller() -> Principal:
    header = request.headers.get("Authorization", "").strip()
    scheme, _, rest = header.partition(" ")
    token = rest.strip() if scheme.lower() == "bearer" else header
    token = token or request.headers.get("X-CKAN-API-Key", "").strip()
    return identity.authenticate(uow(), token) if token else ANONYMOUS


def _check_params(params: Params, allowed: set[str]) -> None:
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ValidationFailed([{"path": name, "message": "unknown parameter"} for name in unknown])


def status_show(params: Params, caller: Principal) -> dict[str, Any]:
    _check_params(params, set())
    return {"site_title": "connector", "site_description": "Data-space connector and catalog",
            "site_url": _root(), "ckan_version": CKAN_VERSION,
            "connector_version": __version__, "error_emails_to": None, "locale_default": "en",
            "extensions": []}


def package_list(params: Params, caller: Principal) -> list[str]:
    _check_params(params, {"limit", "offset"})
    limit = query.integer(params, "limit", 0, minimum=0) or None
    return service.package_list(uow(), caller, limit, query.integer(params, "offset", 0))


def package_show(params: Params, caller: Principal) -> dict[str, Any]:
    _check_params(params, {"id", "name_or_id", "use_default_schema", "include_tracking"})
    ref = query.text(params, "id") or query.text(params, "name_or_id")
    if not ref:
        raise ValidationFailed([{"path": "id", "message": "Missing value"}])
    record, org = service.package_show(uow(), caller, ref)
    return mapping.package(record, org)


SEARCH_PARAMS = {"q", "fq", "fq_list", "rows", "start", "sort", "facet", "facet.field",
                 "facet.limit", "facet.mincount", "include_private", "include_drafts"}


def package_search(params: Params, caller: Principal) -> dict[str, Any]:
    _check_params(params, SEARCH_PARAMS)
    parsed = query.Parsed()
    query.parse_filters("q", query.text(params, "q"), parsed, words_allowed=True)
    for fq in [query.text(params, "fq"), *query.string_list(params, "fq_list")]:
        query.parse_filters("fq", fq, parsed, words_allowed=False)
    facet_limit = query.integer(params, "facet.limit", query.DEFAULT_FACET_LIMIT, minimum=-1)
    search = service.PackageSearch(
        SearchQuery(text=" ".join(parsed.words), filters=parsed.filters, sort=query.sort(params),
                    limit=query.integer(params, "rows", query.DEFAULT_ROWS, maximum=query.MAX_ROWS,
                                        clamp=True),
                    offset=query.integer(params, "start", 0),
                    facet_limit=service.ORGANISATION_FACET_LIMIT if facet_limit < 0 else facet_limit),
        include_private=query.boolean(params, "include_private", False),
        facets=query.facet_fields(params),
    )
    page = service.package_search(uow(), caller, search)
    return {
        "count": page.count,
        "results": [mapping.package(record, org) for record, org in page.packages],
        "sort": query.text(params, "sort") or "score desc, metadata_modified desc",
        "search_facets": {
            name: {"title": name, "items": [{"name": value, "display_name": value, "count": n}
                                            for value, n in values]}
            for name, values in page.facets.items()
        },
        "facets": {name: dict(values) for name, values in page.facets.items()},
    }


ORGANIZATION_SORTS = {"name asc", "title asc", "name", "title"}


def organization_list(params: Params, caller: Principal) -> list[Any]:
    _check_params(params, {"all_fields", "limit", "offset", "sort", "include_dataset_count"})
    if query.text(params, "sort").strip().lower() not in ORGANIZATION_SORTS | {""}:
        raise ValidationFailed([{"path": "sort", "message": "only 'name asc' is supported"}])
    orgs = service.organization_list(uow(), caller)
    offset = query.integer(params, "offset", 0)
    limit = query.integer(params, "limit", 0) or len(orgs)
    orgs = orgs[offset:offset + limit]
    if not query.boolean(params, "all_fields", False):
        return [org.slug for org in orgs]
    with_count = query.boolean(params, "include_dataset_count", True)
    return [mapping.organization(org if with_count else mapping.Organisation(org.slug, org.title,
                                                                             org.created))
            for org in orgs]


ACTIONS: dict[str, Action] = {f.__name__: f for f in (
    status_show, package_list, package_show, package_search, organization_list)}


@bp.route("/api/3/action/<name>", methods=["GET", "POST"])
@bp.route("/api/action/<name>", methods=["GET", "POST"])
def action(name: str):
    """Run one action (``ckanapi`` calls ``/api/action/``, most clients ``/api/3/action/``)."""
    function = ACTIONS.get(name)
    if function is None:
        raise BadRequest(f"Action name not known: {name}; this API offers {', '.join(ACTIONS)}")
    params = _params()
    return _envelope(name, function(params, _caller()))
