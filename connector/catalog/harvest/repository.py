"""Queries over the harvest tables, one repository per aggregate. They add and read; they never
commit (the unit of work does).

* :class:`HarvestSourceRepository`: the sources stewards registered;
* :class:`HarvestRunRepository`: runs, their leases and their per-record results;
* :class:`HarvestLinkRepository`: (source, remote id) -> dataset, the upsert key of every run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Sequence
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.orm import Session

from connector.catalog.harvest.models import HarvestLink, HarvestRecord, HarvestRun, HarvestSource, RunState
from connector.catalog.models import Dataset, DatasetState
from connector.identity.models import Organisation


class HarvestSourceRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, source: HarvestSource) -> None:
        self.session.add(source)
        self.session.flush()

    def name_taken(self, name: str) -> bool:
        return self.session.scalar(select(HarvestSource.pk).where(HarvestSource.name == name)) is not None

    def get(self, id_or_name: str) -> HarvestSource | None:
        """The source with this id, or else with this name."""
        return self.session.scalar(select(HarvestSource).where(
            or_(HarvestSource.id == id_or_name, HarvestSource.name == id_or_name)))

    def by_name(self, organisation_ids: Collection[int] | None = None) -> list[HarvestSource]:
        """Every source by name, or those of ``organisation_ids``."""
        query = select(HarvestSource).order_by(HarvestSource.name)
        if organisation_ids is not None:
            query = query.where(HarvestSource.organisation_id.in_(sorted(organisation_ids)))
        return list(self.session.scalars(query))

    def scheduled(self) -> list[HarvestSource]:
        """The sources with a schedule, oldest first."""
        return list(self.session.scalars(select(HarvestSource).where(
            HarvestSource.schedule_seconds.is_not(None)).order_by(HarvestSource.pk)))

    def organisation_of(self, source: HarvestSource) -> Organisation | None:
        """The organisation a source harvests for, in this session (``source`` may be detached)."""
        return self.session.get(Organisation, source.organisation_id)


class HarvestRunRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, run: HarvestRun) -> None:
        self.session.add(run)
        self.session.flush()

    def get(self, run_id: str, *, source_pk: int | None = None) -> HarvestRun | None:
        """The run with this id (of this source, when given)."""
        query = select(HarvestRun).where(HarvestRun.id == run_id)
        if source_pk is not None:
            query = query.where(HarvestRun.source_pk == source_pk)
        return self.session.scalar(query)

    def get_by_pk(self, pk: int) -> HarvestRun | None:
        return self.session.scalar(select(HarvestRun).where(HarvestRun.pk == pk))

    def of_source(self, source_pk: int) -> list[HarvestRun]:
        """The runs of a source, newest first."""
        return list(self.session.scalars(select(HarvestRun).where(HarvestRun.source_pk == source_pk)
                                         .order_by(HarvestRun.pk.desc())))

    def active(self, source_pk: int, states: Iterable[str]) -> HarvestRun | None:
        """The oldest run of the source in one of ``states``."""
        return self.session.scalar(select(HarvestRun).where(
            HarvestRun.source_pk == source_pk, HarvestRun.state.in_(list(states))).order_by(HarvestRun.pk))

    def last_created_at(self, source_pk: int) -> dt.datetime | None:
        """When the source's newest run was queued; None if it never ran."""
        return self.session.scalar(select(HarvestRun.created_at).where(
            HarvestRun.source_pk == source_pk).order_by(HarvestRun.pk.desc()).limit(1))

    def last_complete_stamp(self, source_pk: int) -> str | None:
        """The change stamp the source's last complete run left (the next run's ``since``)."""
        return self.session.scalar(
            select(HarvestRun.newest_modified).where(HarvestRun.source_pk == source_pk,
                                                     HarvestRun.complete.is_(True))
            .order_by(HarvestRun.pk.desc()).limit(1))

    def expired(self, now: dt.datetime) -> list[HarvestRun]:
        """The running runs whose lease ran out before ``now``."""
        return list(self.session.scalars(select(HarvestRun).where(
            HarvestRun.state == RunState.RUNNING, HarvestRun.lease_expires < now)))

    def queued(self, *, run_id: str | None = None, limit: int = 5) -> list[tuple[int, str]]:
        """(pk, id) of the oldest queued runs (only ``run_id``, when given)."""
        query = select(HarvestRun.pk, HarvestRun.id).where(HarvestRun.state == RunState.QUEUED)
        if run_id is not None:
            query = query.where(HarvestRun.id == run_id)
        return [(pk, found) for pk, found in self.session.execute(query.order_by(HarvestRun.pk).limit(limit))]

    def claim(self, pk: int, worker: str, *, now: dt.datetime, lease_expires: dt.datetime) -> bool:
        """Start the run under ``worker`` if it is still queued (a conditional update, so that
        only one of several workers gets it)."""
        claimed = self.session.execute(
            update(HarvestRun).where(HarvestRun.pk == pk, HarvestRun.state == RunState.QUEUED)
            .values(state=RunState.RUNNING, lease_owner=worker, started_at=now, lease_expires=lease_expires)
            .execution_options(synchronize_session=False))
        return claimed.rowcount == 1

    def renew_lease(self, pk: int, worker: str, *, lease_expires: dt.datetime) -> bool:
        """Extend the lease if ``worker`` still runs the run; False when it does not."""
        renewed = self.session.execute(
            update(HarvestRun).where(HarvestRun.pk == pk, HarvestRun.state == RunState.RUNNING,
                                     HarvestRun.lease_owner == worker)
            .values(lease_expires=lease_expires)
            .execution_options(synchronize_session=False))
        return renewed.rowcount == 1

    def set_progress(self, pk: int, counts: dict[str, int], **values: Any) -> None:
        """Store the counts so far (and other columns, e.g. ``newest_modified``)."""
        self.session.execute(update(HarvestRun).where(HarvestRun.pk == pk)
                             .values(counts=dict(counts), **values))

    def add_records(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert per-record results (HarvestRecord columns) in one executemany."""
        self.session.execute(insert(HarvestRecord), list(rows))

    def records(self, run_pk: int, *, outcome: str | None = None, after: int | None = None,
                limit: int) -> list[HarvestRecord]:
        """A run's per-record results in the order the run met them, after the record ``after``."""
        query = select(HarvestRecord).where(HarvestRecord.run_pk == run_pk)
        if outcome is not None:
            query = query.where(HarvestRecord.outcome == outcome)
        if after is not None:
            query = query.where(HarvestRecord.pk > after)
        return list(self.session.scalars(query.order_by(HarvestRecord.pk).limit(limit)))


class HarvestLinkRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, link: HarvestLink) -> None:
        self.session.add(link)
        self.session.flush()

    def for_remote_ids(self, source_pk: int, remote_ids: Collection[str]) -> dict[str, HarvestLink]:
        """The links of these remote ids by remote id, with their datasets loaded into the
        session (one query each), so that :meth:`dataset_of` needs none."""
        links = {link.remote_id: link for link in self.session.scalars(select(HarvestLink).where(
            HarvestLink.source_pk == source_pk, HarvestLink.remote_id.in_(remote_ids)))}
        if links:
            list(self.session.scalars(select(Dataset).where(
                Dataset.pk.in_({link.dataset_pk for link in links.values()}))))
        return links

    def dataset_of(self, link: HarvestLink) -> Dataset | None:
        return self.session.get(Dataset, link.dataset_pk)

    def add_for_datasets(self, source_pk: int, run_pk: int,
                         rows: Iterable[tuple[str, str, str | None]]) -> None:
        """Link datasets to their records, from (dataset id, remote id, change stamp), in one
        executemany; the datasets are in the session's transaction already."""
        rows = list(rows)
        pks = dict(self.session.execute(select(Dataset.id, Dataset.pk).where(
            Dataset.id.in_([dataset_id for dataset_id, _, _ in rows]))).all())
        self.session.execute(insert(HarvestLink), [
            {"source_pk": source_pk, "remote_id": remote_id, "dataset_pk": pks[dataset_id],
             "modified": modified, "seen_run_pk": run_pk}
            for dataset_id, remote_id, modified in rows])

    def mark_seen(self, rows: Sequence[dict[str, Any]]) -> None:
        """Update links by pk (``pk``, ``seen_run_pk``, ``modified``) in one executemany."""
        self.session.execute(update(HarvestLink), list(rows))

    def unseen_active(self, source_pk: int, run_pk: int, *, after: int, limit: int
                      ) -> list[tuple[int, str, str]]:
        """(link pk, remote id, dataset id) of the source's active datasets that run ``run_pk``
        did not see listed, by link pk after ``after``."""
        not_seen = and_(HarvestLink.source_pk == source_pk,
                        or_(HarvestLink.seen_run_pk.is_(None), HarvestLink.seen_run_pk != run_pk),
                        Dataset.state == DatasetState.ACTIVE)
        return [(pk, remote_id, dataset_id) for pk, remote_id, dataset_id in self.session.execute(
            select(HarvestLink.pk, HarvestLink.remote_id, Dataset.id)
            .join(Dataset, Dataset.pk == HarvestLink.dataset_pk)
            .where(not_seen, HarvestLink.pk > after).order_by(HarvestLink.pk).limit(limit))]
