"""Queries over the catalog tables. Repositories add and read; they never commit."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, column, delete, func, insert, select, table
from sqlalchemy.orm import Session

from connector.catalog import dcat
from connector.catalog.access import visible_clause
from connector.catalog.models import Dataset, DatasetState, DatasetVersion
from connector.catalog.search import SearchQuery, SearchResult, index_body, index_for, search
from connector.identity.models import Organisation
from connector.identity.principal import Principal

# The index writes name their columns (not the mapped class), so that migrations that
# reindex keep working when later revisions add columns to the model.
_FACETS = table("dataset_facets", column("dataset_pk"), column("facet"), column("value"))


class DatasetRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, dataset_id: str) -> Dataset | None:
        return self.session.scalar(select(Dataset).where(Dataset.id == dataset_id))

    def get_by_identifier(self, identifier: str) -> Dataset | None:
        return self.session.scalar(select(Dataset).where(Dataset.identifier == identifier))

    def ids_by_identifier(self, identifiers: Iterable[str]) -> dict[str, str]:
        """identifier -> dataset id, for those of ``identifiers`` already taken (one query)."""
        wanted = sorted(set(identifiers))
        if not wanted:
            return {}
        return dict(self.session.execute(
            select(Dataset.identifier, Dataset.id).where(Dataset.identifier.in_(wanted))).all())

    def insert_many(self, rows: Sequence[dict[str, Any]]) -> dict[str, int]:
        """Insert dataset rows (multi-row INSERT ... RETURNING); their pks by dataset id."""
        # Keyed by id rather than in parameter order: asking for that order makes SQLAlchemy
        # send one statement per row on SQLite.
        return dict(self.session.execute(insert(Dataset).returning(Dataset.id, Dataset.pk), list(rows)).all())

    def insert_versions(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert version rows (DatasetVersion columns) in one executemany."""
        self.session.execute(insert(DatasetVersion), list(rows))

    def index_new(self, entries: Iterable[tuple[int, Iterable[tuple[str, str]], str]]) -> None:
        """The facet rows and full-text entries of datasets that have none yet, from
        (pk, facets, text) as :meth:`replace_index` takes them, in one executemany each."""
        facet_rows, bodies = [], []
        for pk, facets, words in entries:
            pairs = list(facets)
            facet_rows.extend({"dataset_pk": pk, "facet": f, "value": v} for f, v in pairs)
            bodies.append({"pk": pk, "body": index_body(words, pairs)})
        if facet_rows:
            self.session.execute(insert(_FACETS), facet_rows)
        if bodies:
            index_for(self.session).add(bodies)

    def add(self, dataset: Dataset) -> None:
        self.session.add(dataset)
        self.session.flush()

    def add_version(self, version: DatasetVersion) -> None:
        self.session.add(version)

    def version(self, dataset: Dataset, number: int) -> DatasetVersion | None:
        return self.session.scalar(
            select(DatasetVersion).where(
                DatasetVersion.dataset_pk == dataset.pk, DatasetVersion.version == number
            )
        )

    def versions(self, dataset: Dataset) -> list[DatasetVersion]:
        return list(
            self.session.scalars(
                select(DatasetVersion)
                .where(DatasetVersion.dataset_pk == dataset.pk)
                .order_by(DatasetVersion.version)
            )
        )

    def current_versions(self, datasets: Iterable[Dataset]) -> dict[int, DatasetVersion]:
        """The current version row of each dataset, keyed by dataset pk, in one query."""
        pks = [d.pk for d in datasets]
        if not pks:
            return {}
        # A join on (pk, version) uses the unique index; a row-value IN does not on SQLite.
        rows = self.session.scalars(
            select(DatasetVersion)
            .join(Dataset, (Dataset.pk == DatasetVersion.dataset_pk)
                  & (Dataset.version == DatasetVersion.version))
            .where(Dataset.pk.in_(pks))
        )
        return {v.dataset_pk: v for v in rows}

    def active_documents(self, *, after: int, limit: int) -> list[tuple[int, str, dict[str, Any]]]:
        """(pk, organisation slug, current document) of up to ``limit`` active datasets with
        a pk above ``after``, in pk order; the statement names only the columns it reads."""
        return [tuple(row) for row in self.session.execute(  # type: ignore[misc]
            select(Dataset.pk, Organisation.slug, DatasetVersion.document)
            .join(Organisation, Organisation.id == Dataset.organisation_id)
            .join(DatasetVersion, (DatasetVersion.dataset_pk == Dataset.pk)
                  & (DatasetVersion.version == Dataset.version))
            .where(Dataset.pk > after, Dataset.state == DatasetState.ACTIVE)
            .order_by(Dataset.pk).limit(limit))]

    def replace_index(self, pk: int, facets: Iterable[tuple[str, str]], text: str) -> None:
        """Make the facet rows and the full-text entry of dataset ``pk`` these; the entry
        holds the words and one token per facet value (see ``dcat.facet_token``)."""
        self.session.flush()
        self.remove_from_index(pk)
        self.index_new([(pk, facets, text)])

    def remove_from_index(self, pk: int) -> None:
        self.session.execute(delete(_FACETS).where(_FACETS.c.dataset_pk == pk))
        index_for(self.session).remove(pk)

    def reindex(self, *, batch: int = 1000) -> int:
        """Rebuild the index entries of every active dataset from its current version,
        ``batch`` at a time; returns how many."""
        done, last = 0, 0
        while True:
            rows = self.active_documents(after=last, limit=batch)
            if not rows:
                return done
            for pk, organisation, document in rows:
                self.replace_index(pk, dcat.facet_values(document, organisation),
                                   dcat.search_text(document))
            self.session.flush()
            done, last = done + len(rows), rows[-1][0]

    def search(self, principal: Principal, query: SearchQuery) -> SearchResult:
        """The active datasets ``principal`` may see that match ``query`` (see
        :func:`connector.catalog.search.search`)."""
        return search(self.session, principal, query)

    @staticmethod
    def _active_visible(principal: Principal,
                        modified_since: dt.datetime | None) -> ColumnElement[bool]:
        conditions = [Dataset.state == DatasetState.ACTIVE, visible_clause(principal)]
        if modified_since is not None:
            conditions.append(Dataset.updated_at >= modified_since)
        return and_(*conditions)

    def count_active(self, principal: Principal, *, modified_since: dt.datetime | None = None) -> int:
        """How many active datasets ``principal`` may see (changed since ``modified_since``)."""
        return self.session.scalar(select(func.count()).select_from(Dataset).where(
            self._active_visible(principal, modified_since))) or 0

    def active_page(self, principal: Principal, *, offset: int, limit: int | None,
                    modified_since: dt.datetime | None = None) -> list[Dataset]:
        """A page of the active datasets ``principal`` may see, in pk (registration) order."""
        return list(self.session.scalars(
            select(Dataset).where(self._active_visible(principal, modified_since))
            .order_by(Dataset.pk).offset(offset).limit(limit)))

    def active_names(self, principal: Principal, *, offset: int,
                     limit: int | None) -> list[tuple[str, str]]:
        """(id, identifier) of a page of the active datasets ``principal`` may see, in
        identifier order."""
        return [tuple(row) for row in self.session.execute(  # type: ignore[misc]
            select(Dataset.id, Dataset.identifier)
            .where(self._active_visible(principal, None))
            .order_by(Dataset.identifier).offset(offset).limit(limit))]
