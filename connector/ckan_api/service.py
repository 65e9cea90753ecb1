"""Use cases behind the CKAN actions; none imports Flask.

Visibility is the catalog's own (:mod:`connector.catalog.access` through the catalog service
and search): an anonymous caller is :data:`~connector.identity.principal.ANONYMOUS`, a principal
with no organisation and no project, which those rules let see public datasets only.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from connector.catalog import service as catalog
from connector.catalog.search import SearchQuery
from connector.ckan_api.mapping import Organisation, Record, package_name
from connector.errors import NotFound
from connector.identity import service as identity
from connector.identity.principal import ANONYMOUS, Principal
from connector.uow import UnitOfWork

#: More organisations than any catalog has; their counts come from one facet.
ORGANISATION_FACET_LIMIT = 100_000


@dataclass(frozen=True)
class PackageSearch:
    """A ``package_search``: our query, CKAN's ``include_private``, and the facet fields asked
    for (CKAN name -> our facet)."""

    query: SearchQuery
    include_private: bool = False
    facets: dict[str, str] | None = None


@dataclass(frozen=True)
class SearchPage:
    count: int
    packages: list[tuple[Record, Organisation]]
    facets: dict[str, list[tuple[str, int]]]  # keyed by the CKAN field name asked for


def _record(view: catalog.DatasetView) -> Record:
    return Record(view.id, view.identifier, view.version, view.state, view.created, view.updated,
                  view.document)


def _organisations(uow: UnitOfWork) -> dict[str, Organisation]:
    return {o.slug: Organisation(o.slug, o.name, o.created_at) for o in identity.list_organisations(uow)}


def package_list(uow: UnitOfWork, principal: Principal, limit: int | None, offset: int) -> list[str]:
    """Names of the active datasets the caller may see, in identifier order."""
    with uow:
        return [package_name(i, ident)
                for i, ident in uow.datasets.active_names(principal, offset=offset, limit=limit)]


def package_show(uow: UnitOfWork, principal: Principal, ref: str) -> tuple[Record, Organisation]:
    """The current version of the dataset whose id or identifier (CKAN name) is ``ref``."""
    with uow:
        dataset = uow.datasets.get(ref) or uow.datasets.get_by_identifier(ref)
        if dataset is None:
            raise NotFound(f"no dataset {ref!r}")
        view = catalog.get_dataset(uow, principal, dataset.id)  # applies the visibility rules
        return _record(view), _organisations(uow)[view.organisation]


def package_search(uow: UnitOfWork, principal: Principal, request: PackageSearch) -> SearchPage:
    """One page of matches; without ``include_private`` only public datasets, as in CKAN."""
    facets = request.facets or {}
    query = replace(request.query, facet_fields=tuple(dict.fromkeys(facets.values())))
    with uow:
        result, views = catalog.search_datasets(
            uow, principal if request.include_private else ANONYMOUS, query)
        orgs = _organisations(uow)
        return SearchPage(result.count, [(_record(v), orgs[v.organisation]) for v in views],
                          {name: result.facets.get(facet, []) for name, facet in facets.items()})


def organization_list(uow: UnitOfWork, principal: Principal) -> list[Organisation]:
    """Every organisation, by slug, with the number of its datasets the caller may see."""
    with uow:
        result, _ = catalog.search_datasets(uow, principal, SearchQuery(
            limit=1, facet_fields=("organisation",), facet_limit=ORGANISATION_FACET_LIMIT))
        counts = dict(result.facets.get("organisation", []))
        return [replace(org, package_count=counts.get(slug, 0))
                for slug, org in sorted(_organisations(uow).items())]
