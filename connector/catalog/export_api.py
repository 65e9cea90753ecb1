"""The catalog as DCAT-AP 3.0.1 RDF, outside ``/api/v1`` as ckanext-dcat serves it.

``/catalog.{ttl,jsonld,rdf,nt}`` and ``/datasets/<id>.{ttl,jsonld,rdf,nt}``; ``/catalog`` and
``/datasets/<id>`` choose the format from ``Accept``. Without a token the caller sees public
datasets only; with one, what the catalog lets that caller see.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, request
from flask.blueprints import BlueprintSetupState

from connector.catalog import export, rdf_export
from connector.catalog.rdf_export import FORMATS, CatalogInfo, ExportedDataset, PageLinks
from connector.catalog.service import DatasetView
from connector.config import CATALOG_MAX_PAGE_SIZE
from connector.datetimes import parse_datetime
from connector.errors import ConnectorError, ValidationFailed
from connector.http import int_arg, principal, uow
from connector.identity.principal import ANONYMOUS, Principal

bp = Blueprint("dcat_export", __name__)
log = logging.getLogger(__name__)

_FORMAT = "<any(" + ", ".join(FORMATS) + "):fmt>"
_BY_MEDIA_TYPE = {f.media_type: ext for ext, f in FORMATS.items()}
CATALOG_PARAMS = {"page", "per_page", "modified_since"}


class NotAcceptable(ConnectorError):
    status, code, title = 406, "not-acceptable", "Not acceptable"


@bp.record_once
def _warn_without_public_base_url(state: BlueprintSetupState) -> None:
    """Once per application: without PUBLIC_BASE_URL, published URIs follow the Host header."""
    if not state.app.config.get("PUBLIC_BASE_URL") and not state.app.config.get("TESTING"):
        log.warning("PUBLIC_BASE_URL is not set: the DCAT catalog, the CKAN API and the DSP endpoints "
                    "build the URIs they publish from each request's Host header; set it in production "
                    "(docs/operations.md)")


def _caller() -> Principal:
    """The bearer token's principal (401 for a bad token); anonymous without a token."""
    if not request.headers.get("Authorization"):
        return ANONYMOUS
    return principal()


def _negotiate() -> str:
    """The format for ``Accept``; Turtle without the header (RFC 9110: any type is fine)."""
    if not request.accept_mimetypes:
        return "ttl"
    best = request.accept_mimetypes.best_match(list(_BY_MEDIA_TYPE))
    if best is None:
        raise NotAcceptable(f"offered media types: {', '.join(_BY_MEDIA_TYPE)}",
                            acceptable=list(_BY_MEDIA_TYPE))
    return _BY_MEDIA_TYPE[best]


def _base_url() -> str:
    return (current_app.config["PUBLIC_BASE_URL"] or request.url_root).rstrip("/")


def _rdf_response(body: bytes, fmt: str, negotiated: bool) -> Response:
    response = Response(body, mimetype=FORMATS[fmt].media_type)
    if negotiated:
        response.vary.add("Accept")
    return response


def _exported(view: DatasetView) -> ExportedDataset:
    return ExportedDataset(view.id, view.version, view.document)


def _modified_since() -> dt.datetime | None:
    raw = request.args.get("modified_since")
    if raw is None:
        return None
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
        raw += "T00:00:00Z"
    try:
        return parse_datetime(raw)
    except ValueError as exc:
        raise ValidationFailed([{"path": "$.modified_since", "message": str(exc)}]) from exc


def _catalog(fmt: str, path: str, negotiated: bool) -> Response:
    unknown = sorted(set(request.args) - CATALOG_PARAMS)
    if unknown:
        raise ValidationFailed([{"path": f"$.{name}", "message": "unknown query parameter"}
                                for name in unknown])
    config = current_app.config
    per_page = int_arg("per_page", config["CATALOG_PAGE_SIZE"], CATALOG_MAX_PAGE_SIZE)
    page_number = int_arg("page", 1, 10**9)
    result = export.export_page(uow(), _caller(), page_number, per_page, _modified_since())
    base = _base_url()
    kept = {k: request.args[k] for k in ("per_page", "modified_since") if k in request.args}

    def link(number: int) -> str:
        return f"{base}{path}?{urlencode({'page': number, **kept})}"

    links = PageLinks(
        total=result.total, this=link(result.page), first=link(1), last=link(result.last_page),
        next=link(result.page + 1) if result.page < result.last_page else None,
        previous=link(result.page - 1) if result.page > 1 else None)
    info = CatalogInfo(base, config["CATALOG_TITLE"], config["CATALOG_DESCRIPTION"],
                       config["CATALOG_PUBLISHER"])
    graph = rdf_export.catalog_graph(info, [_exported(v) for v in result.datasets], links)
    return _rdf_response(rdf_export.serialize(graph, fmt), fmt, negotiated)


def _dataset(dataset_id: str, fmt: str, negotiated: bool) -> Response:
    if request.args:
        raise ValidationFailed([{"path": f"$.{name}", "message": "unknown query parameter"}
                                for name in sorted(request.args)])
    view = export.export_dataset(uow(), _caller(), dataset_id)
    graph = rdf_export.dataset_graph(_base_url(), _exported(view))
    return _rdf_response(rdf_export.serialize(graph, fmt), fmt, negotiated)


@bp.get("/catalog")
def catalog():
    return _catalog(_negotiate(), "/catalog", negotiated=True)


@bp.get(f"/catalog.{_FORMAT}")
def catalog_as(fmt: str):
    return _catalog(fmt, f"/catalog.{fmt}", negotiated=False)


@bp.get("/datasets/<dataset_id>")
def dataset(dataset_id: str):
    return _dataset(dataset_id, _negotiate(), negotiated=True)


@bp.get(f"/datasets/<dataset_id>.{_FORMAT}")
def dataset_as(dataset_id: str, fmt: str):
    return _dataset(dataset_id, fmt, negotiated=False)
