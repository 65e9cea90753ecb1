"""How a run imports its records: in chunks, each its own transaction, renewing the lease.

Records are committed in chunks (``HarvestSettings.chunk``): a commit per record costs more
than the record itself on SQLite. Each chunk is one ``with uow:`` block ending in
``uow.commit()``; the catalog's use cases called inside it get a :class:`_ChunkUnitOfWork`,
whose ``commit()`` only flushes, so that their writes land in the chunk's transaction.

In a chunk, updates go one by one in a savepoint each; new records that pass the schema and
whose identifier is free are registered together (``register_datasets``, one insert per
table), and if that batch fails they go one by one too. A complete listing then withdraws,
chunk by chunk too, the datasets it no longer names (:func:`withdraw_missing`). The rules a
run follows are in :mod:`connector.catalog.harvest.runs`.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import SessionTransaction

from connector.catalog import service as catalog
from connector.catalog.harvest.models import HarvestLink, HarvestSource, Outcome
from connector.catalog.harvest.records import PageError, RemoteRecord, change_stamp
from connector.catalog.harvest.settings import HarvestSettings
from connector.catalog.models import DatasetState
from connector.errors import Conflict, ConnectorError, NotFound
from connector.identity.principal import Principal
from connector.uow import UnitOfWork

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=4)
def _schema_store(directory: str | None):  # -> SchemaStore
    from connector.config import default_schemas_dir
    from connector.schemas import SchemaStore

    return SchemaStore(Path(directory) if directory else default_schemas_dir())


class _ChunkUnitOfWork(UnitOfWork):
    """The run's unit of work as the catalog's use cases see it inside a chunk: the same
    session and repositories, but their ``commit()`` only flushes (into the record's
    savepoint), so that the chunk ends in the run's one ``uow.commit()``."""

    def __init__(self, outer: UnitOfWork) -> None:  # owns no session: borrows the outer one
        self._outer = outer

    def __getattr__(self, name: str) -> Any:  # session and repositories: the outer ones, per chunk
        return getattr(self._outer, name)

    def __enter__(self) -> _ChunkUnitOfWork:
        self._outer.__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._outer.__exit__(*exc_info)

    def commit(self) -> None:
        self.session.flush()

    def savepoint(self) -> SessionTransaction:
        """A nested transaction: ``with uow.savepoint():`` keeps one record's writes, or
        rolls them back alone when it raises."""
        return self.session.begin_nested()


class LeaseLost(Exception):
    pass


@dataclass
class RunProgress:
    """The state of one run while it runs (plain values; rows are re-read per chunk)."""

    run_pk: int
    run_id: str
    source: HarvestSource
    principal: Principal
    worker: str
    settings: HarvestSettings
    clock: Callable[[], dt.datetime]
    counts: dict[str, int] = field(default_factory=lambda: {o.value: 0 for o in Outcome})
    newest: str | None = None  # the newest change stamp seen
    held: str | None = None  # the oldest stamp of a fetched record that failed
    seen: int = 0

    def next_since(self) -> str | None:
        """The ``since`` of the next incremental run: the newest stamp, held back at the
        oldest failed record's (a harvester's ``since`` range includes its own stamp)."""
        return self.held if self.held is not None else self.newest


def _chunks(records: Iterator[RemoteRecord], size: int) -> Iterator[list[RemoteRecord]]:
    """Records in lists of ``size``; when a page fails, the records read before it come
    first, then the PageError."""
    chunk: list[RemoteRecord] = []
    try:
        for record in records:
            chunk.append(record)
            if len(chunk) >= size:
                yield chunk
                chunk = []
    except PageError:
        if chunk:
            yield chunk
        raise
    if chunk:
        yield chunk


def import_all(uow: UnitOfWork, state: RunProgress, records: Iterator[RemoteRecord]) -> None:
    """Import every record, a transaction per chunk; a PageError from the harvester passes
    through after the records before it are committed."""
    schemas = _schema_store(state.settings.schemas_dir)
    records_uow = _ChunkUnitOfWork(uow)
    for chunk in _chunks(records, state.settings.chunk):
        chunk = [_checked_stamp(record) for record in chunk]
        state.seen += len(chunk)
        with uow:
            _renew_lease(uow, state)
            links = uow.harvest_links.for_remote_ids(state.source.pk, {r.remote_id[:1024] for r in chunk})
            results, seen = [], []
            for record, (outcome, dataset_id, reason) in zip(
                    chunk, _import_chunk(records_uow, state, schemas, chunk, links), strict=True):
                state.counts[outcome] += 1
                results.append({"run_pk": state.run_pk, "remote_id": record.remote_id[:1024],
                                "outcome": outcome, "dataset_id": dataset_id, "reason": reason})
                failed = outcome == Outcome.FAILED
                link = links.get(record.remote_id[:1024])
                if link is not None:  # listed: not withdrawn; its stamp only moves with a success
                    seen.append({"pk": link.pk, "seen_run_pk": state.run_pk,
                                 "modified": link.modified if failed else record.modified or link.modified})
                if record.modified and (state.newest is None or record.modified > state.newest):
                    state.newest = record.modified
                if failed and record.modified and (state.held is None or record.modified < state.held):
                    state.held = record.modified
            uow.harvest_runs.add_records(results)
            if seen:
                uow.harvest_links.mark_seen(seen)
            uow.harvest_runs.set_progress(state.run_pk, state.counts, newest_modified=state.next_since())
            uow.commit()


def _checked_stamp(record: RemoteRecord) -> RemoteRecord:
    """The record with its change stamp normalised, or dropped with a note when it is not a
    timestamp (any harvester's record goes into 64-character columns and string comparisons)."""
    if record.modified is None:
        return record
    stamp, note = change_stamp(record.modified)
    if stamp == record.modified:
        return record
    return replace(record, modified=stamp, note="; ".join(filter(None, [record.note, note])) or None)


def _renew_lease(uow: UnitOfWork, state: RunProgress) -> None:
    """Extend the lease (the first statement of each chunk, which also opens the transaction
    the savepoints nest in); :class:`LeaseLost` when the run is no longer ours."""
    expires = state.clock() + dt.timedelta(seconds=state.settings.lease_seconds)
    if not uow.harvest_runs.renew_lease(state.run_pk, state.worker, lease_expires=expires):
        uow.rollback()
        raise LeaseLost()


def _document(state: RunProgress, record: RemoteRecord) -> dict[str, Any]:
    """The record's document as this source registers it."""
    document = dict(record.document or {})
    document.pop("organisation", None)
    document["dataSpace"] = state.source.name[:512]
    return document


def _schema_failure(schemas: Any, document: dict[str, Any]) -> str | None:
    """Why ``document`` is not a valid dataset (its first five errors), or None."""
    if schemas.is_valid("dataset", document):
        return None
    errors = sorted(schemas.iter_errors("dataset", document), key=lambda e: list(e.absolute_path))
    return "; ".join(f"{e.json_path}: {e.message}" for e in errors[:5])


def _taken_reason(identifier: str, dataset_id: str) -> str:
    return (f"identifier {identifier!r} is used by dataset {dataset_id}, "
            "which was not harvested from this record of this source")


Result = tuple[str, str | None, str | None]


def _import_chunk(uow: _ChunkUnitOfWork, state: RunProgress, schemas: Any, chunk: list[RemoteRecord],
                  links: dict[str, HarvestLink]) -> list[Result]:
    """The outcome of each record of a chunk, in order. New records that pass validation and
    whose identifier is free are registered together (``catalog.register_datasets``); the
    others, and all of them when that batch fails, go record by record (:func:`_import_one`)."""
    outcomes: list[Result | None] = [None] * len(chunk)
    fresh: dict[int, dict[str, Any]] = {}  # position -> document, for the batch
    later: list[int] = []  # after the batch, one by one (a second record of a remote id...)
    remote_ids: set[str] = set()
    identifiers: set[str] = set()
    for position, record in enumerate(chunk):
        remote_id = record.remote_id[:1024]
        if remote_id in remote_ids:
            later.append(position)
            continue
        if remote_id in links or record.error or record.seen_only or record.document is None:
            outcomes[position] = _import_one(uow, state, schemas, record, links)
            continue
        document = _document(state, record)
        failure = _schema_failure(schemas, document)
        if failure is not None:
            outcomes[position] = (Outcome.FAILED, None, failure)
            continue
        identifier = document.get("identifier")
        if identifier in identifiers:
            later.append(position)
            continue
        remote_ids.add(remote_id)
        if identifier is not None:
            identifiers.add(identifier)
        fresh[position] = document
    taken = uow.datasets.ids_by_identifier(identifiers)
    for position, document in list(fresh.items()):
        if document.get("identifier") in taken:
            del fresh[position]
            outcomes[position] = (Outcome.FAILED, None,
                                  _taken_reason(document["identifier"], taken[document["identifier"]]))
    if fresh:
        created = _register_batch(uow, state, chunk, fresh)
        if created is None:
            later.extend(fresh)
        else:
            for position, dataset_id in created.items():
                outcomes[position] = (Outcome.CREATED, dataset_id, chunk[position].note)
    if later:
        links.update(uow.harvest_links.for_remote_ids(state.source.pk,
                                                      {chunk[p].remote_id[:1024] for p in later}))
        for position in sorted(later):
            outcomes[position] = _import_one(uow, state, schemas, chunk[position], links)
    assert all(outcome is not None for outcome in outcomes)
    return outcomes  # type: ignore[return-value]


def _register_batch(uow: _ChunkUnitOfWork, state: RunProgress, chunk: list[RemoteRecord],
                    fresh: dict[int, dict[str, Any]]) -> dict[int, str] | None:
    """Register the new records at once, with their links: position -> dataset id; None when
    the batch failed (rolled back; its records are then imported one by one)."""
    try:
        with uow.savepoint():
            organisation = uow.harvest_sources.organisation_of(state.source)
            if organisation is None:
                raise NotFound("the organisation of the source is gone")
            views = catalog.register_datasets(uow, state.principal, organisation, list(fresh.values()))
            ids = [view.id for view in views]
            uow.harvest_links.add_for_datasets(state.source.pk, state.run_pk, [
                (dataset_id, chunk[position].remote_id[:1024], chunk[position].modified)
                for position, dataset_id in zip(fresh, ids, strict=True)])
    except (ConnectorError, SQLAlchemyError) as exc:
        log.info("harvest run %s: a batch of %d new records failed (%s); importing them one by one",
                 state.run_id, len(fresh), exc)
        return None
    return dict(zip(fresh, ids, strict=True))


def _import_one(uow: _ChunkUnitOfWork, state: RunProgress, schemas: Any, record: RemoteRecord,
                links: dict[str, HarvestLink]) -> tuple[str, str | None, str | None]:
    """(outcome, dataset id, reason) of one record; never raises for the record's own faults."""
    link = links.get(record.remote_id[:1024])
    dataset = uow.harvest_links.dataset_of(link) if link is not None else None
    dataset_id = dataset.id if dataset is not None else None
    if record.error:
        return Outcome.FAILED, dataset_id, record.error
    if record.seen_only or record.document is None:
        if dataset is None:
            return Outcome.FAILED, None, ("listed as unchanged since the last complete run, but not in "
                                          "the catalog (it failed before): a full run imports it")
        return Outcome.UNCHANGED, dataset_id, None
    document = _document(state, record)
    failure = _schema_failure(schemas, document)
    if failure is not None:
        return Outcome.FAILED, dataset_id, failure
    try:
        with uow.savepoint():
            if dataset is not None:
                if dataset.state == DatasetState.WITHDRAWN:
                    raise Conflict(f"dataset {dataset.id} was withdrawn here; the source lists it again")
                _, changed = catalog.update_dataset(uow, state.principal, dataset.id, document)
                outcome = Outcome.UPDATED if changed else Outcome.UNCHANGED
            else:
                try:
                    view = catalog.register_dataset(uow, state.principal, document)
                except Conflict:
                    # register_dataset checked the identifier; name the dataset that holds it
                    taken = uow.datasets.get_by_identifier(document.get("identifier", ""))
                    if taken is None:
                        raise
                    raise Conflict(_taken_reason(document["identifier"], taken.id)) from None
                created = uow.datasets.get(view.id)
                assert created is not None
                new_link = HarvestLink(source_pk=state.source.pk, remote_id=record.remote_id[:1024],
                                       dataset_pk=created.pk, modified=record.modified,
                                       seen_run_pk=state.run_pk)
                uow.harvest_links.add(new_link)
                links[new_link.remote_id] = new_link
                dataset_id, outcome = view.id, Outcome.CREATED
    except ConnectorError as exc:
        return Outcome.FAILED, dataset_id, exc.detail
    except Exception as exc:  # noqa: BLE001  (one bad record never aborts the run)
        log.exception("harvest run %s: record %s failed unexpectedly", state.run_id, record.remote_id)
        return Outcome.FAILED, dataset_id, f"unexpected error: {type(exc).__name__}: {exc}"
    return outcome, dataset_id, record.note


def withdraw_missing(uow: UnitOfWork, state: RunProgress) -> str | None:
    """Withdraw the active datasets of this source that the complete listing did not name, a
    transaction per chunk. Returns a reason when it declines to (an empty listing)."""
    records_uow = _ChunkUnitOfWork(uow)
    last = 0
    while True:
        with uow:
            _renew_lease(uow, state)
            rows = uow.harvest_links.unseen_active(state.source.pk, state.run_pk, after=last,
                                                   limit=state.settings.chunk)
            if not rows:
                uow.commit()
                return None
            if state.seen == 0:
                uow.commit()
                return ("the source listed no records although datasets were harvested from it before; "
                        "nothing was withdrawn (run again when the portal lists its datasets)")
            results = []
            for pk, remote_id, dataset_id in rows:
                try:
                    with records_uow.savepoint():
                        catalog.withdraw_dataset(records_uow, state.principal, dataset_id)
                    outcome, reason = Outcome.WITHDRAWN, "no longer listed by the source"
                except ConnectorError as exc:
                    outcome, reason = Outcome.FAILED, f"could not withdraw: {exc.detail}"
                state.counts[outcome] += 1
                results.append({"run_pk": state.run_pk, "remote_id": remote_id, "outcome": outcome,
                                "dataset_id": dataset_id, "reason": reason})
                last = pk
            uow.harvest_runs.add_records(results)
            uow.harvest_runs.set_progress(state.run_pk, state.counts)
            uow.commit()
