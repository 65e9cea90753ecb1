"""Use cases of harvest sources: register, list and show them; the harvester of each kind.

A source is a portal a steward registered for one organisation; its runs act as a steward of
that organisation (:func:`principal_for`). Its URL must pass the source-safety rules when it
is added (:func:`check_source_url`), and again on every fetch.
"""

from __future__ import annotations

import importlib
import uuid
from typing import Any

from connector.adapters.errors import SourceRefused, TerminalSourceError, TransientSourceError
from connector.adapters.safety import Allowlist, check_url
from connector.catalog import service as catalog
from connector.catalog.harvest.models import HarvestSource
from connector.catalog.harvest.records import Harvester
from connector.db import utcnow
from connector.errors import Conflict, ConnectorError, NotFound, ValidationFailed
from connector.identity.principal import Principal
from connector.uow import UnitOfWork

#: Harvesters by source kind, as ``module:Class``; imported when a run first needs one.
HARVESTERS: dict[str, str] = {
    "ckan": "connector.catalog.harvest.ckan:CkanHarvester",
    "dcat": "connector.catalog.harvest.dcat_rdf:DcatHarvester",
}


class HarvesterUnavailable(ConnectorError):
    status, code, title = 500, "harvester-unavailable", "Harvester not available"


def harvester_for(kind: str) -> Harvester:
    """A new harvester of ``kind``; :class:`HarvesterUnavailable` says why there is none."""
    target = HARVESTERS.get(kind)
    if target is None:
        raise HarvesterUnavailable(f"no harvester for kind {kind!r} (known: {', '.join(HARVESTERS)})")
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise HarvesterUnavailable(f"the {kind!r} harvester cannot be imported: {exc}") from exc
    return getattr(module, class_name)()


def principal_for(source: HarvestSource) -> Principal:
    """The harvest acts as a steward of the source's organisation, named after the source."""
    return Principal(name=f"harvest:{source.name}"[:64], role="steward",
                     stewarded_org_ids=frozenset({source.organisation_id}))


def check_source_url(url: str, allowlist: Allowlist | tuple[str, ...]) -> None:
    """Refuse a URL the source-safety rules refuse (SourceRefused, 403). A host that does not
    resolve now is accepted: its runs will say so."""
    try:
        check_url(url, Allowlist.of(allowlist))
    except SourceRefused:
        raise
    except (TerminalSourceError, TransientSourceError):
        pass


def add_source(uow: UnitOfWork, principal: Principal, body: dict[str, Any], *,
               allowlist: tuple[str, ...] = ()) -> HarvestSource:
    """Register a harvest source (``body`` is valid against ``harvest-source``)."""
    if body["kind"] not in HARVESTERS:
        raise ValidationFailed([{"path": "$.kind",
                                 "message": f"kind must be one of {', '.join(HARVESTERS)}"}])
    check_source_url(body["url"], allowlist)
    with uow:
        org = catalog.owning_organisation(uow, principal, body.get("organisation"),
                                          to="add its harvest sources")
        if uow.harvest_sources.name_taken(body["name"]):
            raise Conflict(f"a harvest source named {body['name']!r} exists already")
        source = HarvestSource(id=str(uuid.uuid4()), name=body["name"], kind=body["kind"], url=body["url"],
                               organisation_id=org.id, organisation=org, options=body.get("options") or {},
                               schedule_seconds=body.get("scheduleSeconds"), created_by=principal.name,
                               created_at=utcnow())
        uow.harvest_sources.add(source)
        from connector import audit

        audit.record(uow.session, principal, "harvest_source.create", "harvest_source", source.id,
                     detail={"name": source.name, "kind": source.kind, "url": source.url})
        uow.commit()
        return source


def visible_source(uow: UnitOfWork, principal: Principal, source_id: str) -> HarvestSource:
    """The source with this id or name; 404 for callers who do not steward its organisation."""
    source = uow.harvest_sources.get(source_id)
    if source is None or not principal.stewards(source.organisation_id):
        raise NotFound(f"no harvest source {source_id!r}")
    return source


def list_sources(uow: UnitOfWork, principal: Principal) -> list[HarvestSource]:
    """The sources of the organisations ``principal`` stewards (every one for admins)."""
    with uow:
        return uow.harvest_sources.by_name(None if principal.is_admin else principal.stewarded_org_ids)


def get_source(uow: UnitOfWork, principal: Principal, source_id: str) -> HarvestSource:
    """One source, by id or name; 404 for callers who do not steward its organisation."""
    with uow:
        return visible_source(uow, principal, source_id)
