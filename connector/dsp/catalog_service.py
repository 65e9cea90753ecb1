"""Use cases of the catalog protocol (provider): what a participant may see, page by page.

Visibility is that of :mod:`connector.catalog.access` for the participant's principal
(:func:`connector.dsp.principals.principal_for`); a dataset is offered only while it is
active, has at least one active offer, and its DSP form validates against the official schema.
Offers assigned to a party the participant does not act as are left out
(:func:`connector.dsp.catalog.offered_to`).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, select

from connector.catalog.access import can_see, visible_clause
from connector.catalog.models import Dataset, DatasetState
from connector.dsp import catalog as messages
from connector.dsp.participants import Participant
from connector.dsp.principals import principal_for
from connector.errors import NotFound
from connector.identity.models import Organisation
from connector.identity.principal import Principal
from connector.policies.models import Offer
from connector.uow import UnitOfWork

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CatalogPage:
    """One page of the participant's catalog; ``next_offset`` where the next page starts (None
    on the last page). Datasets with no offer open to the participant are skipped, so the next
    page may start further on than ``offset + limit``."""

    catalog: dict[str, Any]
    offset: int
    limit: int
    next_offset: int | None


def _has_active_offer():
    return exists(select(Offer.pk).where(Offer.dataset_pk == Dataset.pk, Offer.active))


def _records(uow: UnitOfWork, datasets: list[Dataset]) -> list[messages.DatasetRecord]:
    offers: dict[int, list[messages.OfferRecord]] = defaultdict(list)
    rows = uow.session.scalars(select(Offer).where(Offer.dataset_pk.in_([d.pk for d in datasets]),
                                                   Offer.active).order_by(Offer.pk))
    for row in rows:
        offers[row.dataset_pk].append(messages.OfferRecord(row.id, row.document))
    versions = uow.datasets.current_versions(datasets)
    return [messages.DatasetRecord(d.id, d.identifier, d.version, versions[d.pk].document,
                                   tuple(offers[d.pk])) for d in datasets]


def _offered(record: messages.DatasetRecord, service: messages.Service, participant_id: str,
             *, embed_service: bool) -> dict[str, Any] | None:
    body = messages.dataset(record, service, participant_id, embed_service=embed_service)
    if not body["hasPolicy"]:
        return None
    if not messages.valid(body):
        log.error("dataset %s is left out of the DSP catalog: its form breaks the official schema", record.id)
        return None
    return body


def _parties(uow: UnitOfWork, participant: Participant, principal: Principal) -> frozenset[str]:
    """Who the participant acts as, named as the policy evaluator names a requester: its local
    principal, its project and that project's organisation."""
    organisations = uow.session.scalars(select(Organisation.slug).where(
        Organisation.id.in_(principal.project_org_ids)))
    return frozenset({principal.name, participant.project, *organisations})


def catalog_page(uow: UnitOfWork, participant: Participant, *, participant_id: str,
                 service: messages.Service, offset: int, limit: int) -> CatalogPage:
    """The ``Catalog`` of the datasets ``participant`` may see that have an active offer open to
    it: up to ``limit`` of them, from position ``offset`` of the visible datasets with offers."""
    with uow:
        principal = principal_for(uow, participant)
        parties = _parties(uow, participant, principal)
        visible = (select(Dataset).where(visible_clause(principal), Dataset.state == DatasetState.ACTIVE,
                                         _has_active_offer()).order_by(Dataset.pk))
        items: list[dict[str, Any]] = []
        position = offset
        # Offers assigned to other parties are only known once read, so read on until the page
        # is full: a page is never short while more datasets follow.
        while len(items) < limit:
            rows = list(uow.session.scalars(visible.offset(position).limit(limit)))
            if not rows:
                break
            for record in _records(uow, rows):
                position += 1
                body = _offered(record, service, participant_id, embed_service=False)
                body = messages.offered_to(parties, body) if body is not None else None
                if body is not None:
                    items.append(body)
                    if len(items) == limit:
                        break
        more = uow.session.scalars(visible.offset(position).limit(1)).first() is not None
        catalog = messages.catalog(participant_id, service, items, catalog_id=service.id + "/catalog")
        return CatalogPage(catalog, offset, limit, position if more else None)


def dataset(uow: UnitOfWork, participant: Participant, dataset_iri: str, *, participant_id: str,
            service: messages.Service) -> dict[str, Any]:
    """The DSP ``Dataset`` with this ``@id``; NotFound when unknown, invisible or not offered to
    ``participant``."""
    with uow:
        principal = principal_for(uow, participant)
        row = uow.datasets.get(messages.local_id(dataset_iri))
        if row is None or row.state != DatasetState.ACTIVE or not can_see(principal, row):
            raise NotFound(f"no dataset {dataset_iri!r}")
        records = _records(uow, [row])
        body = _offered(records[0], service, participant_id, embed_service=True)
        offered = messages.offered_to(_parties(uow, participant, principal), body) if body else None
        if offered is None:
            raise NotFound(f"no dataset {dataset_iri!r}")
        return messages.with_context(offered)
