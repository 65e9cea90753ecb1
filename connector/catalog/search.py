"""Full-text search and facets over the catalog, the same on SQLite and PostgreSQL.

The text of a dataset is tokenised in Python (:func:`connector.catalog.dcat.tokens`) and
stored already normalised: in an FTS5 table on SQLite, in a ``tsvector`` with a GIN index on
PostgreSQL (``simple`` configuration, no stemming). Queries are tokenised the same way and
every token must match, so both backends return the same datasets. Facet filters run in the
same index: each facet value is indexed as a token of its own (``dcat.facet_token``). User
text never reaches either query language as syntax: tokens are letters and digits only.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Integer, Select, String, and_, func, literal, or_, select, text, union_all
from sqlalchemy.orm import Session

from connector.catalog import dcat
from connector.catalog.access import visible_clause
from connector.catalog.dcat import FACETS, facet_token, tokens
from connector.catalog.models import Dataset, DatasetFacet, DatasetState
from connector.errors import BadRequest
from connector.identity.principal import Principal

#: Sort orders: name -> (column attribute name, descending).
SORTS = {"-updated": ("updated_at", True), "updated": ("updated_at", False),
         "title": ("title", False), "-title": ("title", True)}


class SqliteFtsIndex:
    """FTS5 table ``dataset_search(body)`` whose rowid is the dataset pk."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, entries: Sequence[Mapping[str, Any]]) -> None:
        """Entries ``{"pk", "body"}`` of datasets that have none yet, in one executemany."""
        self.session.execute(text("INSERT INTO dataset_search(rowid, body) VALUES (:pk, :body)"),
                             list(entries))

    def replace(self, pk: int, body: str) -> None:
        self.remove(pk)
        self.add([{"pk": pk, "body": body}])

    def remove(self, pk: int) -> None:
        self.session.execute(text("DELETE FROM dataset_search WHERE rowid = :pk"), {"pk": pk})

    @staticmethod
    def matching(groups: Sequence[Sequence[str]]) -> Any:
        """Rows holding, for every group, at least one of its tokens."""
        # Tokens are letters and digits only (dcat.tokens, dcat.facet_token): no quotes inside.
        query = " AND ".join("(" + " OR ".join(f'"{t}"' for t in group) + ")" for group in groups)
        return text("SELECT rowid FROM dataset_search WHERE dataset_search MATCH :q").bindparams(
            q=query
        )


class PostgresIndex:
    """Table ``dataset_search(dataset_pk, body tsvector)`` with a GIN index."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, entries: Sequence[Mapping[str, Any]]) -> None:
        """Entries ``{"pk", "body"}`` (an existing one is replaced), in one executemany."""
        self.session.execute(
            text(
                "INSERT INTO dataset_search (dataset_pk, body) "
                "VALUES (:pk, to_tsvector('simple', :body)) "
                "ON CONFLICT (dataset_pk) DO UPDATE SET body = excluded.body"
            ),
            list(entries),
        )

    def replace(self, pk: int, body: str) -> None:
        self.add([{"pk": pk, "body": body}])

    def remove(self, pk: int) -> None:
        self.session.execute(text("DELETE FROM dataset_search WHERE dataset_pk = :pk"), {"pk": pk})

    @staticmethod
    def matching(groups: Sequence[Sequence[str]]) -> Any:
        """Rows holding, for every group, at least one of its tokens."""
        # Tokens are letters and digits only, so none is tsquery syntax.
        query = " & ".join("(" + " | ".join(group) + ")" for group in groups)
        return text(
            "SELECT dataset_pk FROM dataset_search WHERE body @@ to_tsquery('simple', :q)"
        ).bindparams(q=query)


def index_body(words: str, facets: Sequence[tuple[str, str]]) -> str:
    """The full-text entry of a dataset: its words and one token per facet value."""
    return " ".join([words, *(facet_token(f, v) for f, v in facets)])


def index_for(session: Session) -> SqliteFtsIndex | PostgresIndex:
    name = session.get_bind().dialect.name
    if name == "sqlite":
        return SqliteFtsIndex(session)
    if name == "postgresql":
        return PostgresIndex(session)
    raise RuntimeError(f"full-text search is not implemented for {name}")


#: Facets counted unless the caller names others (keyword counts are the costliest).
DEFAULT_FACETS = ("theme", "publisher", "format", "access_rights", "sector", "organisation", "quality")


@dataclass(frozen=True)
class SearchQuery:
    """What a caller searches for. ``filters`` maps a facet to accepted values (any of them)."""

    text: str = ""
    filters: Mapping[str, Sequence[str]] = field(default_factory=dict)
    sort: str = "-updated"
    limit: int = 20
    cursor: str | None = None
    #: Rows to skip (page numbers, as CKAN's ``start``); cursors are cheaper for deep pages.
    offset: int = 0
    facet_limit: int = 20
    facet_fields: Sequence[str] = DEFAULT_FACETS


@dataclass
class SearchResult:
    count: int
    datasets: list[Dataset]
    facets: dict[str, list[tuple[str, int]]]
    next_cursor: str | None


#: Facets whose values are codes of a closed EU authority table: a filter names the code or its URI.
_AUTHORITY_CODES = {"theme": dcat.THEME, "access_rights": dcat.ACCESS_RIGHT}
#: Facets of open vocabularies whose EU authority URIs are indexed as codes.
_AUTHORITY_URIS = {"format": dcat.format_code, "license": dcat.licence_code}


def filter_values(facet: str, values: Sequence[str]) -> list[str]:
    """The values of one facet filter as the index holds them: an authority URI as its code, as
    dataset documents accept both. Raises ``ValueError`` for a theme or access right that is
    neither a code nor its URI, which would otherwise silently match nothing."""
    if facet in _AUTHORITY_CODES:
        found = [_AUTHORITY_CODES[facet].match(value) for value in values]
        wrong = [value for value, match in zip(values, found, strict=True) if not match]
        if wrong:
            raise ValueError(f"{', '.join(map(repr, wrong))}: not a {facet.replace('_', ' ')} code "
                             "of the EU authority table nor its URI")
        return [match.group(1) for match in found if match]
    return [_AUTHORITY_URIS.get(facet, str)(value) for value in values]


def _encode_cursor(sort: str, value: Any, dataset_id: str) -> str:
    if isinstance(value, dt.datetime):
        value = value.isoformat()
    raw = json.dumps([sort, value, dataset_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, sort: str) -> tuple[Any, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        cursor_sort, value, dataset_id = json.loads(raw)
        if cursor_sort != sort or not isinstance(dataset_id, str) or not isinstance(value, str):
            raise ValueError("cursor of another query")
        if SORTS[sort][0] == "updated_at":
            value = dt.datetime.fromisoformat(value)
        return value, dataset_id
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise BadRequest("invalid cursor: pass the 'next' value of a previous page") from exc


def _filtered(session: Session, principal: Principal, query: SearchQuery) -> Select[Any]:
    """The pks of the matches. Words and facet filters both run in the full-text index:
    every word must match, and for each facet one of its values (as its facet token)."""
    stmt = select(Dataset.pk).where(Dataset.state == DatasetState.ACTIVE, visible_clause(principal))
    groups = [[word] for word in dict.fromkeys(tokens(query.text))]
    groups += [sorted({facet_token(facet, value) for value in values})
               for facet, values in sorted(query.filters.items()) if values]
    if groups:
        stmt = stmt.where(Dataset.pk.in_(index_for(session).matching(groups)))
    return stmt


def search(session: Session, principal: Principal, query: SearchQuery) -> SearchResult:
    """One page of the datasets ``principal`` may see that match ``query``, with facet counts.

    One statement: the matches are a CTE (evaluated once, since it is used twice), the facet
    counts come from it, and so do the pks of the page with their positions in the database's
    own order; the page's rows are then read by pk.
    """
    if query.sort not in SORTS:
        raise BadRequest(f"unknown sort {query.sort!r}; use one of {', '.join(SORTS)}")
    if query.offset and query.cursor:
        raise BadRequest("page with a cursor or an offset, not both")
    matched = _filtered(session, principal, query).cte("matched")

    # NOT IN keeps the planners on the per-dataset index (an IN on facet would make them scan
    # the (facet, value) index over the whole catalog). Every dataset has exactly one
    # access_rights row, so those counts add up to the total.
    skipped = sorted(set(FACETS) - set(query.facet_fields) - {"access_rights"})
    facet_counts = (
        select(literal("f").label("kind"), DatasetFacet.facet.label("facet"),
               DatasetFacet.value.label("value"), func.count().label("n"),
               literal(None, Integer).label("pk"))
        .where(DatasetFacet.dataset_pk.in_(select(matched.c.pk)), DatasetFacet.facet.not_in(skipped))
        .group_by(DatasetFacet.facet, DatasetFacet.value)
    )
    column_name, descending = SORTS[query.sort]
    column = getattr(Dataset, column_name)
    page = select(Dataset.pk).where(Dataset.pk.in_(select(matched.c.pk)))
    if query.cursor:
        value, last_id = _decode_cursor(query.cursor, query.sort)
        if descending:
            page = page.where(or_(column < value, and_(column == value, Dataset.id < last_id)))
        else:
            page = page.where(or_(column > value, and_(column == value, Dataset.id > last_id)))
    order = (column.desc(), Dataset.id.desc()) if descending else (column.asc(), Dataset.id.asc())
    page_pks = page.add_columns(func.row_number().over(order_by=order).label("position")) \
        .order_by(*order).offset(query.offset or None).limit(query.limit + 1).subquery()
    page_rows = select(literal("p"), literal(None, String), literal(None, String),
                       page_pks.c.position, page_pks.c.pk)

    facets: dict[str, list[tuple[str, int]]] = {}
    positions: dict[int, int] = {}
    for kind, facet, value, n, pk in session.execute(union_all(facet_counts, page_rows)):
        if kind == "f":
            facets.setdefault(facet, []).append((value, n))
        else:
            positions[pk] = n
    count = sum(n for _, n in facets.get("access_rights", []))
    if "access_rights" not in query.facet_fields:
        facets.pop("access_rights", None)
    for values in facets.values():
        values.sort(key=lambda item: (-item[1], item[0]))
        del values[query.facet_limit:]

    rows = sorted(session.scalars(select(Dataset).where(Dataset.pk.in_(list(positions)))),
                  key=lambda d: positions[d.pk]) if positions else []
    next_cursor = None
    if len(rows) > query.limit:
        rows = rows[: query.limit]
        if rows:  # a limit of 0 asks for the count and the facets only (CKAN's rows=0)
            last = rows[-1]
            next_cursor = _encode_cursor(query.sort, getattr(last, column_name), last.id)
    return SearchResult(count=count, datasets=rows, facets=facets, next_cursor=next_cursor)
