"""The DCAT-AP harvester (kind ``dcat``): RDF pages, followed through Hydra paging.

Each page is fetched through the service's ``fetch``, parsed (:mod:`rdf_parse`) and mapped
(:mod:`dcat_map`); its records are yielded before the next page is read, so records of
earlier pages stay imported when a later page fails. The next page is ``hydra:next`` of a
``hydra:PartialCollectionView`` or ``hydra:nextPage`` of the older ``hydra:PagedCollection``,
resolved against the page URL. A next page already read (a loop) or more pages than
``max_pages`` stop the run with a :class:`PageError`: the listing was not complete.

Options: ``format`` (force a syntax), ``max_pages`` (default 1000), ``default_access_rights``
(``PUBLIC``, ``RESTRICTED`` or ``NON_PUBLIC``; for datasets that state none, default PUBLIC:
open-government catalogs publish open data).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urldefrag, urljoin

from rdflib import Graph, Literal, Namespace, URIRef

from connector.catalog.harvest.dcat_map import ACCESS_RIGHTS, map_graph
from connector.catalog.harvest.rdf_parse import ACCEPT, format_option, parse_page
from connector.catalog.harvest.records import Fetch, HarvestSourceSpec, PageError, RemoteRecord

HYDRA = Namespace("http://www.w3.org/ns/hydra/core#")
DEFAULT_MAX_PAGES = 1000


class DcatHarvester:
    """Reads a DCAT-AP catalog endpoint (Turtle, RDF/XML, JSON-LD, N-Triples, N-Quads, TriG)."""

    kind = "dcat"

    def harvest(self, source: HarvestSourceSpec, fetch: Fetch) -> Iterator[RemoteRecord]:
        """Every dataset of every page; raises :class:`PageError` when a page fails."""
        fmt, max_pages, access_rights = _options(source.options)
        read: dict[str, int] = {}
        seen: set[str] = set()
        url: str | None = source.url
        while url is not None:
            if len(read) >= max_pages:
                raise PageError(f"stopped after {max_pages} pages (max_pages): page {url} not read")
            page = fetch(url, headers={"Accept": ACCEPT})
            number = len(read) + 1
            read[_key(url)] = read[_key(page.url)] = number
            graph = parse_page(page, fmt)
            for record in map_graph(graph, default_access_rights=access_rights):
                # A dataset listed on two pages (the listing moved while we read) counts once.
                if record.remote_id not in seen:
                    seen.add(record.remote_id)
                    yield record
            url = next_page(graph, page.url)
            if url is not None and _key(url) in read:
                earlier = read[_key(url)]
                raise PageError(f"page {page.url} links back to page {url} (page {earlier} of this run)")


def next_page(graph: Graph, page_url: str) -> str | None:
    """The URL of the page after ``page_url`` by Hydra, resolved against it; None on the last."""
    targets = sorted({str(o).strip() for p in (HYDRA.next, HYDRA.nextPage) for o in graph.objects(None, p)
                      if isinstance(o, (URIRef, Literal)) and str(o).strip()})
    if not targets:
        return None
    if len(targets) > 1:
        raise PageError(f"page {page_url} names several next pages: {', '.join(targets)}")
    return urljoin(page_url, targets[0])


def _key(url: str) -> str:
    return urldefrag(url).url


def _options(options: Mapping[str, Any]) -> tuple[str | None, int, str]:
    fmt = format_option(options.get("format"))
    max_pages = options.get("max_pages", DEFAULT_MAX_PAGES)
    if not isinstance(max_pages, int) or isinstance(max_pages, bool) or max_pages < 1:
        raise PageError(f"max_pages option must be a positive whole number, not {max_pages!r}")
    access_rights = str(options.get("default_access_rights", "PUBLIC")).upper()
    if access_rights not in ACCESS_RIGHTS:
        raise PageError(f"default_access_rights option must be one of {', '.join(sorted(ACCESS_RIGHTS))}")
    return fmt, max_pages, access_rights
