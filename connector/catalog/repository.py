"""Queries over the catalog tables. Repositories add and read; they never commit."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete, insert, select, text
from sqlalchemy.orm import Session

from connector.catalog.dcat import facet_token
from connector.catalog.models import Dataset, DatasetFacet, DatasetVersion
from connector.catalog.search import SqliteFtsIndex, index_for


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
            bodies.append({"pk": pk, "body": " ".join([words, *(facet_token(f, v) for f, v in pairs)])})
        if facet_rows:
            self.session.execute(insert(DatasetFacet), facet_rows)
        if not bodies:
            return
        # the statements of SqliteFtsIndex.replace / PostgresIndex.replace, for new rows at once
        if isinstance(index_for(self.session), SqliteFtsIndex):
            statement = text("INSERT INTO dataset_search(rowid, body) VALUES (:pk, :body)")
        else:
            statement = text("INSERT INTO dataset_search (dataset_pk, body) "
                             "VALUES (:pk, to_tsvector('simple', :body))")
        self.session.execute(statement, bodies)

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

    def replace_index(self, dataset: Dataset, facets: Iterable[tuple[str, str]], text: str) -> None:
        """Make the facet rows and the full-text entry those of the dataset's current version;
        the entry holds the words and one token per facet value (see ``dcat.facet_token``)."""
        self.session.flush()
        self.session.execute(delete(DatasetFacet).where(DatasetFacet.dataset_pk == dataset.pk))
        pairs = list(facets)
        rows = [{"dataset_pk": dataset.pk, "facet": f, "value": v} for f, v in pairs]
        if rows:
            self.session.execute(insert(DatasetFacet), rows)
        body = " ".join([text, *(facet_token(f, v) for f, v in pairs)])
        index_for(self.session).replace(dataset.pk, body)

    def remove_from_index(self, dataset: Dataset) -> None:
        self.session.execute(delete(DatasetFacet).where(DatasetFacet.dataset_pk == dataset.pk))
        index_for(self.session).remove(dataset.pk)
