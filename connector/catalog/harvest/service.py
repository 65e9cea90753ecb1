"""Use cases of harvesting: sources, runs, and running a run record by record.

A run reads its source through a harvester (picked by kind from :data:`HARVESTERS`, imported
on first use) and writes through the catalog's own use cases (``register_dataset``,
``update_dataset``, ``withdraw_dataset``) under a principal that stewards the source's
organisation, so versions, the search index and the audit log behave as for a steward's edit.

Rules of a run:

* every record gets one outcome (created, updated, unchanged, withdrawn, failed + reason);
  one bad record never stops the run (it fails alone: see below);
* a :class:`~connector.catalog.harvest.records.PageError` stops the run: ``partial`` when
  something was imported, else ``failed``; what was imported stays; nothing is withdrawn;
* only a complete listing withdraws the datasets of this source that it no longer lists
  (and not when the listing is empty while the source had datasets: that is a broken portal
  far more often than a portal that deleted everything);
* incremental: the harvester gets ``since``, the stamp the last complete run left: the newest
  change stamp it saw, but never past that of a record it fetched and failed to import, so the
  next run fetches that record again (a link's stamp is that of its last successful import);
* change stamps are kept only when they are timestamps (:func:`records.change_stamp`, normalised
  so that they compare as strings); another value is dropped with a note on the record;
* a run whose worker stopped (lease ran out) is marked failed with the reason.

Records are committed in chunks (``HarvestSettings.chunk``): a commit per record costs more
than the record itself on SQLite. In a chunk, updates go one by one in a savepoint each; new
records that pass the schema and whose identifier is free are registered together
(``register_datasets``, one insert per table), and if that batch fails they go one by one too.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib
import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.exc import SQLAlchemyError

from connector.adapters.errors import SourceRefused, TerminalSourceError, TransientSourceError
from connector.adapters.safety import Allowlist, check_url
from connector.catalog import service as catalog
from connector.catalog.harvest.fetch import FetchSettings, HttpFetch
from connector.catalog.harvest.models import (
    HarvestLink,
    HarvestRecord,
    HarvestRun,
    HarvestSource,
    Outcome,
    RunState,
)
from connector.catalog.harvest.records import (
    Fetch,
    Harvester,
    HarvestSourceSpec,
    PageError,
    RemoteRecord,
    change_stamp,
)
from connector.catalog.models import Dataset, DatasetState
from connector.db import utcnow
from connector.errors import Conflict, ConnectorError, NotFound, ValidationFailed
from connector.identity.models import Organisation
from connector.identity.principal import Principal
from connector.uow import UnitOfWork

log = logging.getLogger(__name__)

#: Harvesters by source kind, as ``module:Class``; imported when a run first needs one.
HARVESTERS: dict[str, str] = {
    "ckan": "connector.catalog.harvest.ckan:CkanHarvester",
    "dcat": "connector.catalog.harvest.dcat_rdf:DcatHarvester",
}
ACTIVE_STATES = (RunState.QUEUED, RunState.RUNNING)


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


@dataclass(frozen=True)
class HarvestSettings:
    """What runs need from the configuration."""

    allowlist: tuple[str, ...] = ()
    lease_seconds: int = 300
    fetch: FetchSettings = field(default_factory=FetchSettings)
    schemas_dir: str | None = None
    chunk: int = 200

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> HarvestSettings:
        return cls(allowlist=tuple(config["SOURCE_ALLOWLIST"]),
                   lease_seconds=config["HARVEST_LEASE_SECONDS"],
                   fetch=FetchSettings(max_bytes=config["HARVEST_MAX_PAGE_BYTES"],
                                       read_timeout=config["HARVEST_TIMEOUT_SECONDS"],
                                       max_json_depth=config["SOURCE_MAX_JSON_DEPTH"]),
                   schemas_dir=config["SCHEMAS_DIR"])


@functools.lru_cache(maxsize=4)
def _schema_store(directory: str | None):  # -> SchemaStore
    from connector.config import default_schemas_dir
    from connector.schemas import SchemaStore

    return SchemaStore(Path(directory) if directory else default_schemas_dir())


def _principal(source: HarvestSource) -> Principal:
    """The harvest acts as a steward of the source's organisation, named after the source."""
    return Principal(name=f"harvest:{source.name}"[:64], role="steward",
                     stewarded_org_ids=frozenset({source.organisation_id}))


# --- sources --------------------------------------------------------------------------------

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
        if uow.session.scalar(select(HarvestSource.pk).where(HarvestSource.name == body["name"])):
            raise Conflict(f"a harvest source named {body['name']!r} exists already")
        source = HarvestSource(id=str(uuid.uuid4()), name=body["name"], kind=body["kind"], url=body["url"],
                               organisation_id=org.id, organisation=org, options=body.get("options") or {},
                               schedule_seconds=body.get("scheduleSeconds"), created_by=principal.name,
                               created_at=utcnow())
        uow.session.add(source)
        uow.session.flush()
        from connector import audit

        audit.record(uow.session, principal, "harvest_source.create", "harvest_source", source.id,
                     detail={"name": source.name, "kind": source.kind, "url": source.url})
        uow.commit()
        return source


def _visible_source(uow: UnitOfWork, principal: Principal, source_id: str) -> HarvestSource:
    source = uow.session.scalar(select(HarvestSource).where(
        or_(HarvestSource.id == source_id, HarvestSource.name == source_id)))
    if source is None or not principal.stewards(source.organisation_id):
        raise NotFound(f"no harvest source {source_id!r}")
    return source


def list_sources(uow: UnitOfWork, principal: Principal) -> list[HarvestSource]:
    """The sources of the organisations ``principal`` stewards (every one for admins)."""
    with uow:
        query = select(HarvestSource).order_by(HarvestSource.name)
        if not principal.is_admin:
            query = query.where(HarvestSource.organisation_id.in_(sorted(principal.stewarded_org_ids)))
        return list(uow.session.scalars(query))


def get_source(uow: UnitOfWork, principal: Principal, source_id: str) -> HarvestSource:
    """One source, by id or name; 404 for callers who do not steward its organisation."""
    with uow:
        return _visible_source(uow, principal, source_id)


# --- runs -----------------------------------------------------------------------------------

def enqueue_run(uow: UnitOfWork, principal: Principal, source_id: str, *, full: bool = False,
                now: dt.datetime | None = None) -> tuple[HarvestRun, bool]:
    """Queue a run of the source; a queued or running one is returned instead (created=False).
    ``full`` harvests every record, not only those changed since the last complete run."""
    with uow:
        source = _visible_source(uow, principal, source_id)
        run, created = _enqueue(uow, source, principal.name, full=full, now=now or utcnow())
        uow.commit()
        return run, created


def _enqueue(uow: UnitOfWork, source: HarvestSource, who: str, *, full: bool,
             now: dt.datetime) -> tuple[HarvestRun, bool]:
    active = uow.session.scalar(select(HarvestRun).where(
        HarvestRun.source_pk == source.pk, HarvestRun.state.in_(ACTIVE_STATES)).order_by(HarvestRun.pk))
    if active is not None:
        return active, False
    run = HarvestRun(id=str(uuid.uuid4()), source_pk=source.pk, source=source, state=RunState.QUEUED,
                     full=full, requested_by=who[:64], counts={}, complete=False, created_at=now)
    uow.session.add(run)
    uow.session.flush()
    return run, True


def enqueue_due(uow: UnitOfWork, *, now: dt.datetime) -> list[str]:
    """Queue a run of every scheduled source whose interval has passed since its last run."""
    queued = []
    with uow:
        for source in uow.session.scalars(select(HarvestSource).where(
                HarvestSource.schedule_seconds.is_not(None)).order_by(HarvestSource.pk)):
            last = uow.session.scalar(select(HarvestRun.created_at).where(
                HarvestRun.source_pk == source.pk).order_by(HarvestRun.pk.desc()).limit(1))
            if last is None or last + dt.timedelta(seconds=source.schedule_seconds) <= now:
                run, created = _enqueue(uow, source, "scheduler", full=False, now=now)
                if created:
                    queued.append(run.id)
        uow.commit()
    return queued


def list_runs(uow: UnitOfWork, principal: Principal, source_id: str) -> list[HarvestRun]:
    """The runs of a source, newest first."""
    with uow:
        source = _visible_source(uow, principal, source_id)
        return list(uow.session.scalars(select(HarvestRun).where(HarvestRun.source_pk == source.pk)
                                        .order_by(HarvestRun.pk.desc())))


def get_run(uow: UnitOfWork, principal: Principal, source_id: str, run_id: str) -> HarvestRun:
    with uow:
        source = _visible_source(uow, principal, source_id)
        run = uow.session.scalar(select(HarvestRun).where(HarvestRun.id == run_id,
                                                          HarvestRun.source_pk == source.pk))
        if run is None:
            raise NotFound(f"no run {run_id!r} of harvest source {source_id!r}")
        return run


def list_records(uow: UnitOfWork, principal: Principal, source_id: str, run_id: str, *,
                 outcome: str | None = None, limit: int = 100, cursor: str | None = None
                 ) -> tuple[list[HarvestRecord], str | None]:
    """A page of a run's per-record results (in the order the run met them) and the next cursor."""
    if cursor is not None and not cursor.isdigit():
        raise ValidationFailed([{"path": "$.cursor", "message": "not a cursor this list returned"}])
    with uow:
        run = get_run(uow, principal, source_id, run_id)
        query = select(HarvestRecord).where(HarvestRecord.run_pk == run.pk)
        if outcome is not None:
            query = query.where(HarvestRecord.outcome == outcome)
        if cursor is not None:
            query = query.where(HarvestRecord.pk > int(cursor))
        rows = list(uow.session.scalars(query.order_by(HarvestRecord.pk).limit(limit + 1)))
        following = str(rows[limit - 1].pk) if len(rows) > limit else None
        return rows[:limit], following


def fail_expired_runs(uow: UnitOfWork, *, now: dt.datetime) -> int:
    """Mark failed every running run whose lease ran out (its worker stopped): no limbo runs."""
    with uow:
        stale = list(uow.session.scalars(select(HarvestRun).where(
            HarvestRun.state == RunState.RUNNING, HarvestRun.lease_expires < now)))
        for run in stale:
            run.state, run.finished_at = RunState.FAILED, now
            run.reason = (f"the worker {run.lease_owner} stopped: its lease ran out at "
                          f"{run.lease_expires.isoformat().replace('+00:00', 'Z')}; "
                          "what it imported is kept, nothing was withdrawn")
            run.lease_owner = run.lease_expires = None
        uow.commit()
        return len(stale)


def fail_run(uow: UnitOfWork, run_id: str, worker: str, reason: str, *, now: dt.datetime) -> None:
    """Mark failed a run whose worker process died (``reason`` says how), if ``worker`` still
    holds it; what it imported is kept, nothing is withdrawn."""
    from connector import audit

    with uow:
        run = uow.session.scalar(select(HarvestRun).where(HarvestRun.id == run_id))
        if run is None or run.state != RunState.RUNNING or run.lease_owner != worker:
            return
        run.state, run.finished_at, run.lease_owner, run.lease_expires = RunState.FAILED, now, None, None
        run.reason = f"{reason}; what it imported is kept, nothing was withdrawn"
        audit.record(uow.session, _principal(run.source), "harvest_run.failed", "harvest_run", run.id,
                     detail={"source": run.source.name, "reason": run.reason})
        uow.commit()


def claim_run(uow: UnitOfWork, worker: str, *, now: dt.datetime, lease_seconds: int,
              run_id: str | None = None) -> str | None:
    """Take the oldest queued run (or ``run_id``) with a lease; None if there is none. The
    conditional update makes the claim exclusive across workers."""
    fail_expired_runs(uow, now=now)
    with uow:
        query = select(HarvestRun.pk, HarvestRun.id).where(HarvestRun.state == RunState.QUEUED)
        if run_id is not None:
            query = query.where(HarvestRun.id == run_id)
        for pk, found in uow.session.execute(query.order_by(HarvestRun.pk).limit(5)).all():
            claimed = uow.session.execute(
                update(HarvestRun).where(HarvestRun.pk == pk, HarvestRun.state == RunState.QUEUED)
                .values(state=RunState.RUNNING, lease_owner=worker, started_at=now,
                        lease_expires=now + dt.timedelta(seconds=lease_seconds))
                .execution_options(synchronize_session=False))
            if claimed.rowcount == 1:
                uow.commit()
                return found
        return None


class _BatchUnitOfWork(UnitOfWork):
    """One session across many use-case calls: their ``commit()`` flushes into the current
    savepoint, and the run commits a chunk at a time."""

    def commit(self) -> None:
        self.session.flush()


class _LeaseLost(Exception):
    pass


@dataclass
class _Run:
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


def run_run(uow: UnitOfWork, run_id: str, worker: str, settings: HarvestSettings, *,
            clock: Callable[[], dt.datetime] = utcnow, fetch: Fetch | None = None,
            harvester: Harvester | None = None) -> HarvestRun:
    """Run a claimed run to its end (succeeded, partial or failed) and return it."""
    with uow:
        row = uow.session.scalar(select(HarvestRun).where(HarvestRun.id == run_id))
        if row is None or row.state != RunState.RUNNING or row.lease_owner != worker:
            raise NotFound(f"run {run_id!r} is not running under {worker}")
        source = row.source
        since = None if row.full else uow.session.scalar(
            select(HarvestRun.newest_modified).where(HarvestRun.source_pk == source.pk,
                                                     HarvestRun.complete.is_(True))
            .order_by(HarvestRun.pk.desc()).limit(1))
        since = change_stamp(since)[0]  # a stamp kept before stamps were checked may be anything
        row.since = since
        uow.commit()
        state = _Run(row.pk, row.id, source, _principal(source), worker, settings, clock)
    spec = HarvestSourceSpec(url=source.url, kind=source.kind, since=since,
                             options=dict(source.options or {}))
    reason: str | None = None
    complete = False
    batch = _BatchUnitOfWork(uow._session_factory)
    try:
        harvester = harvester or harvester_for(source.kind)
        fetch = fetch or HttpFetch(allowlist=settings.allowlist, settings=_fetch_settings(settings, spec))
        records = harvester.harvest(spec, fetch)
        try:
            _import_all(batch, state, records)
            complete = True
        except PageError as exc:
            reason = " ".join(str(exc).split()) or "a page of the source could not be read"
        if complete:
            reason = _withdraw_missing(batch, state)
    except _LeaseLost:
        log.info("harvest run %s: lease lost; another worker or the reaper decides", run_id)
        with uow:
            return uow.session.scalar(select(HarvestRun).where(HarvestRun.id == run_id))
    except HarvesterUnavailable as exc:
        reason = exc.detail
    except Exception as exc:  # noqa: BLE001  (a run always ends in a state, with the reason)
        log.exception("harvest run %s failed unexpectedly", run_id)
        reason = f"unexpected error: {type(exc).__name__}: {exc}"
    return _finish(uow, state, complete=complete, reason=reason)


def _fetch_settings(settings: HarvestSettings, spec: HarvestSourceSpec) -> FetchSettings:
    interval = spec.options.get("minInterval")
    if isinstance(interval, int | float) and not isinstance(interval, bool) and interval > 0:
        return replace(settings.fetch, min_interval=float(interval))
    return settings.fetch


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


def _import_all(batch: _BatchUnitOfWork, state: _Run, records: Iterator[RemoteRecord]) -> None:
    """Import every record; a PageError from the harvester passes through after the records
    before it are committed."""
    schemas = _schema_store(state.settings.schemas_dir)
    for chunk in _chunks(records, state.settings.chunk):
        chunk = [_checked_stamp(record) for record in chunk]
        state.seen += len(chunk)
        with batch:
            session = batch.session
            _renew_lease(batch, state)
            links = _links(batch, state, {r.remote_id[:1024] for r in chunk})
            results, seen = [], []
            for record, (outcome, dataset_id, reason) in zip(
                    chunk, _import_chunk(batch, state, schemas, chunk, links), strict=True):
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
            session.execute(insert(HarvestRecord), results)
            if seen:
                session.execute(update(HarvestLink), seen)
            session.execute(update(HarvestRun).where(HarvestRun.pk == state.run_pk).values(
                counts=dict(state.counts), newest_modified=state.next_since()))
            session.commit()
            session.expunge_all()


def _checked_stamp(record: RemoteRecord) -> RemoteRecord:
    """The record with its change stamp normalised, or dropped with a note when it is not a
    timestamp (any harvester's record goes into 64-character columns and string comparisons)."""
    if record.modified is None:
        return record
    stamp, note = change_stamp(record.modified)
    if stamp == record.modified:
        return record
    return replace(record, modified=stamp, note="; ".join(filter(None, [record.note, note])) or None)


def _renew_lease(batch: _BatchUnitOfWork, state: _Run) -> None:
    """Extend the lease (the first statement of each chunk, which also opens the transaction
    the savepoints nest in); :class:`_LeaseLost` when the run is no longer ours."""
    now = state.clock()
    renewed = batch.session.execute(
        update(HarvestRun).where(HarvestRun.pk == state.run_pk, HarvestRun.state == RunState.RUNNING,
                                 HarvestRun.lease_owner == state.worker)
        .values(lease_expires=now + dt.timedelta(seconds=state.settings.lease_seconds))
        .execution_options(synchronize_session=False))
    if renewed.rowcount != 1:
        batch.session.rollback()
        raise _LeaseLost()


def _links(batch: _BatchUnitOfWork, state: _Run, remote_ids: set[str]) -> dict[str, HarvestLink]:
    """The links of these remote ids, with their datasets loaded into the session (one query
    each), so that the records of a chunk look up neither."""
    links = {link.remote_id: link for link in batch.session.scalars(select(HarvestLink).where(
        HarvestLink.source_pk == state.source.pk, HarvestLink.remote_id.in_(remote_ids)))}
    if links:
        list(batch.session.scalars(select(Dataset).where(
            Dataset.pk.in_({link.dataset_pk for link in links.values()}))))
    return links


def _document(state: _Run, record: RemoteRecord) -> dict[str, Any]:
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


def _import_chunk(batch: _BatchUnitOfWork, state: _Run, schemas: Any, chunk: list[RemoteRecord],
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
            outcomes[position] = _import_one(batch, state, schemas, record, links)
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
    taken = batch.datasets.ids_by_identifier(identifiers)
    for position, document in list(fresh.items()):
        if document.get("identifier") in taken:
            del fresh[position]
            outcomes[position] = (Outcome.FAILED, None,
                                  _taken_reason(document["identifier"], taken[document["identifier"]]))
    if fresh:
        created = _register_batch(batch, state, chunk, fresh)
        if created is None:
            later.extend(fresh)
        else:
            for position, dataset_id in created.items():
                outcomes[position] = (Outcome.CREATED, dataset_id, chunk[position].note)
    if later:
        links.update(_links(batch, state, {chunk[p].remote_id[:1024] for p in later}))
        for position in sorted(later):
            outcomes[position] = _import_one(batch, state, schemas, chunk[position], links)
    assert all(outcome is not None for outcome in outcomes)
    return outcomes  # type: ignore[return-value]


def _register_batch(batch: _BatchUnitOfWork, state: _Run, chunk: list[RemoteRecord],
                    fresh: dict[int, dict[str, Any]]) -> dict[int, str] | None:
    """Register the new records at once, with their links: position -> dataset id; None when
    the batch failed (rolled back; its records are then imported one by one)."""
    session = batch.session
    savepoint = session.begin_nested()
    try:
        organisation = session.get(Organisation, state.source.organisation_id)
        if organisation is None:
            raise NotFound("the organisation of the source is gone")
        views = catalog.register_datasets(batch, state.principal, organisation, list(fresh.values()))
        ids = [view.id for view in views]
        pks = dict(session.execute(select(Dataset.id, Dataset.pk).where(Dataset.id.in_(ids))).all())
        session.execute(insert(HarvestLink), [
            {"source_pk": state.source.pk, "remote_id": chunk[position].remote_id[:1024],
             "dataset_pk": pks[dataset_id], "modified": chunk[position].modified, "seen_run_pk": state.run_pk}
            for position, dataset_id in zip(fresh, ids, strict=True)])
        savepoint.commit()
    except (ConnectorError, SQLAlchemyError) as exc:
        savepoint.rollback()
        log.info("harvest run %s: a batch of %d new records failed (%s); importing them one by one",
                 state.run_id, len(fresh), exc)
        return None
    return dict(zip(fresh, ids, strict=True))


def _import_one(batch: _BatchUnitOfWork, state: _Run, schemas: Any, record: RemoteRecord,
                links: dict[str, HarvestLink]) -> tuple[str, str | None, str | None]:
    """(outcome, dataset id, reason) of one record; never raises for the record's own faults."""
    link = links.get(record.remote_id[:1024])
    dataset = batch.session.get(Dataset, link.dataset_pk) if link is not None else None
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
    savepoint = batch.session.begin_nested()
    try:
        if dataset is not None:
            if dataset.state == DatasetState.WITHDRAWN:
                raise Conflict(f"dataset {dataset.id} was withdrawn here; the source lists it again")
            _, changed = catalog.update_dataset(batch, state.principal, dataset.id, document)
            outcome = Outcome.UPDATED if changed else Outcome.UNCHANGED
        else:
            try:
                view = catalog.register_dataset(batch, state.principal, document)
            except Conflict:
                # register_dataset checked the identifier; name the dataset that holds it
                taken = batch.datasets.get_by_identifier(document.get("identifier", ""))
                if taken is None:
                    raise
                raise Conflict(_taken_reason(document["identifier"], taken.id)) from None
            created = batch.datasets.get(view.id)
            assert created is not None
            new_link = HarvestLink(source_pk=state.source.pk, remote_id=record.remote_id[:1024],
                                   dataset_pk=created.pk, modified=record.modified, seen_run_pk=state.run_pk)
            batch.session.add(new_link)
            batch.session.flush()
            links[new_link.remote_id] = new_link
            dataset_id, outcome = view.id, Outcome.CREATED
        savepoint.commit()
    except ConnectorError as exc:
        savepoint.rollback()
        return Outcome.FAILED, dataset_id, exc.detail
    except Exception as exc:  # noqa: BLE001  (one bad record never aborts the run)
        savepoint.rollback()
        log.exception("harvest run %s: record %s failed unexpectedly", state.run_id, record.remote_id)
        return Outcome.FAILED, dataset_id, f"unexpected error: {type(exc).__name__}: {exc}"
    return outcome, dataset_id, record.note


def _withdraw_missing(batch: _BatchUnitOfWork, state: _Run) -> str | None:
    """Withdraw the active datasets of this source that the complete listing did not name.
    Returns a reason when it declines to (an empty listing)."""
    not_seen = and_(HarvestLink.source_pk == state.source.pk,
                    or_(HarvestLink.seen_run_pk.is_(None), HarvestLink.seen_run_pk != state.run_pk),
                    Dataset.state == DatasetState.ACTIVE)
    last = 0
    while True:
        with batch:
            session = batch.session
            _renew_lease(batch, state)
            rows = session.execute(
                select(HarvestLink.pk, HarvestLink.remote_id, Dataset.id)
                .join(Dataset, Dataset.pk == HarvestLink.dataset_pk)
                .where(not_seen, HarvestLink.pk > last).order_by(HarvestLink.pk)
                .limit(state.settings.chunk)).all()
            if not rows:
                session.commit()
                return None
            if state.seen == 0:
                session.commit()
                return ("the source listed no records although datasets were harvested from it before; "
                        "nothing was withdrawn (run again when the portal lists its datasets)")
            results = []
            for pk, remote_id, dataset_id in rows:
                savepoint = session.begin_nested()
                try:
                    catalog.withdraw_dataset(batch, state.principal, dataset_id)
                    savepoint.commit()
                    outcome, reason = Outcome.WITHDRAWN, "no longer listed by the source"
                except ConnectorError as exc:
                    savepoint.rollback()
                    outcome, reason = Outcome.FAILED, f"could not withdraw: {exc.detail}"
                state.counts[outcome] += 1
                results.append({"run_pk": state.run_pk, "remote_id": remote_id, "outcome": outcome,
                                "dataset_id": dataset_id, "reason": reason})
                last = pk
            session.execute(insert(HarvestRecord), results)
            session.execute(update(HarvestRun).where(HarvestRun.pk == state.run_pk).values(
                counts=dict(state.counts)))
            session.commit()
            session.expunge_all()


def final_state(counts: dict[str, int], *, complete: bool) -> RunState:
    """``succeeded``: the listing was read to its end and no record failed; ``failed``: no
    record came through (every one failed, or none could be read); ``partial`` otherwise."""
    failed = counts[Outcome.FAILED]
    done = sum(counts[outcome] for outcome in Outcome if outcome is not Outcome.FAILED)
    if complete and not failed:
        return RunState.SUCCEEDED
    return RunState.PARTIAL if done else RunState.FAILED


def _finish(uow: UnitOfWork, state: _Run, *, complete: bool, reason: str | None) -> HarvestRun:
    counts = state.counts
    final = final_state(counts, complete=complete)
    if complete and counts[Outcome.FAILED] and reason is None:
        every = "all " if final is RunState.FAILED else ""
        reason = f"{every}{counts[Outcome.FAILED]} record(s) failed; see the per-record results"
    with uow:
        run = uow.session.scalar(select(HarvestRun).where(HarvestRun.pk == state.run_pk))
        if run.state != RunState.RUNNING or run.lease_owner != state.worker:
            return run  # failed by the reaper meanwhile: its reason stands
        run.state, run.finished_at, run.reason = final, state.clock(), reason
        run.complete, run.counts, run.newest_modified = complete, dict(counts), state.next_since()
        run.lease_owner = run.lease_expires = None
        from connector import audit

        audit.record(uow.session, state.principal, f"harvest_run.{final}", "harvest_run", run.id,
                     detail={"source": state.source.name, "counts": dict(counts), "reason": reason})
        uow.commit()
        return run


def run_queued(uow: UnitOfWork, worker: str, settings: HarvestSettings, *,
               clock: Callable[[], dt.datetime] = utcnow, should_stop: Callable[[], bool] = lambda: False,
               max_runs: int | None = None) -> int:
    """What a worker does each round: queue due scheduled runs, then run the queued runs, at
    most ``max_runs`` of them (None: all). Returns the runs run."""
    enqueue_due(uow, now=clock())
    ran = 0
    while not should_stop() and (max_runs is None or ran < max_runs):
        run_id = claim_run(uow, worker, now=clock(), lease_seconds=settings.lease_seconds)
        if run_id is None:
            return ran
        run = run_run(uow, run_id, worker, settings, clock=clock)
        log.info("harvest run %s: %s %s", run.id, run.state, run.counts)
        ran += 1
    return ran
