"""Use cases of the DCAT-AP export: which datasets a caller may read as RDF, a page at a time.

Visibility is the catalog's own (:func:`connector.catalog.access.visible_clause` and
``can_see``); a caller without a token is
:data:`~connector.identity.principal.ANONYMOUS` and sees public datasets only.
Withdrawn datasets are not exported. No Flask here.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from connector.catalog.models import DatasetState
from connector.catalog.service import DatasetView, get_dataset, view_of
from connector.errors import NotFound
from connector.identity.principal import Principal
from connector.uow import UnitOfWork


@dataclass(frozen=True)
class ExportPage:
    """One page of the exported catalog, in a stable order (registration order)."""

    datasets: list[DatasetView]
    total: int
    page: int
    per_page: int

    @property
    def last_page(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))


def export_page(uow: UnitOfWork, principal: Principal, page: int, per_page: int,
                modified_since: dt.datetime | None = None) -> ExportPage:
    """Page ``page`` (from 1) of the active datasets ``principal`` may see, ``per_page`` at a
    time, optionally only those changed at or after ``modified_since``.

    Raises NotFound for a page past the last one (an empty catalog has one, empty, page).
    """
    with uow:
        total = uow.datasets.count_active(principal, modified_since=modified_since)
        result = ExportPage([], total, page, per_page)
        if page > result.last_page:
            raise NotFound(f"page {page} is past the last page ({result.last_page})")
        rows = uow.datasets.active_page(principal, offset=(page - 1) * per_page, limit=per_page,
                                        modified_since=modified_since)
        versions = uow.datasets.current_versions(rows)
        result.datasets.extend(view_of(d, versions[d.pk]) for d in rows)
        return result


def export_dataset(uow: UnitOfWork, principal: Principal, dataset_id: str) -> DatasetView:
    """The current version of one dataset; NotFound when invisible to ``principal`` or withdrawn."""
    view = get_dataset(uow, principal, dataset_id)
    if view.state != DatasetState.ACTIVE:
        raise NotFound(f"dataset {dataset_id!r} is withdrawn")
    return view
