"""Use cases of harvest runs: queue, claim (with a lease), run, fail, and read their results.

A run reads its source through a harvester (picked by kind from
:data:`~connector.catalog.harvest.sources.HARVESTERS`, imported on first use) and writes through
the catalog's own use cases (``register_dataset``, ``update_dataset``, ``withdraw_dataset``)
under a principal that stewards the source's organisation, so versions, the search index and
the audit log behave as for a steward's edit.

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

How a run imports its records, in chunks: :mod:`connector.catalog.harvest.importer`.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable
from dataclasses import replace

from connector.catalog.harvest.fetch import FetchSettings, HttpFetch
from connector.catalog.harvest.importer import (
    LeaseLost,
    RunProgress,
    import_all,
    withdraw_missing,
)
from connector.catalog.harvest.models import HarvestRecord, HarvestRun, HarvestSource, Outcome, RunState
from connector.catalog.harvest.records import Fetch, Harvester, HarvestSourceSpec, PageError, change_stamp
from connector.catalog.harvest.settings import HarvestSettings
from connector.catalog.harvest.sources import (
    HarvesterUnavailable,
    harvester_for,
    principal_for,
    visible_source,
)
from connector.db import utcnow
from connector.errors import NotFound, ValidationFailed
from connector.identity.principal import Principal
from connector.uow import UnitOfWork

log = logging.getLogger(__name__)


ACTIVE_STATES = (RunState.QUEUED, RunState.RUNNING)


def enqueue_run(uow: UnitOfWork, principal: Principal, source_id: str, *, full: bool = False,
                now: dt.datetime | None = None) -> tuple[HarvestRun, bool]:
    """Queue a run of the source; a queued or running one is returned instead (created=False).
    ``full`` harvests every record, not only those changed since the last complete run."""
    with uow:
        source = visible_source(uow, principal, source_id)
        run, created = _enqueue(uow, source, principal.name, full=full, now=now or utcnow())
        uow.commit()
        return run, created


def _enqueue(uow: UnitOfWork, source: HarvestSource, who: str, *, full: bool,
             now: dt.datetime) -> tuple[HarvestRun, bool]:
    active = uow.harvest_runs.active(source.pk, ACTIVE_STATES)
    if active is not None:
        return active, False
    run = HarvestRun(id=str(uuid.uuid4()), source_pk=source.pk, source=source, state=RunState.QUEUED,
                     full=full, requested_by=who[:64], counts={}, complete=False, created_at=now)
    uow.harvest_runs.add(run)
    return run, True


def enqueue_due(uow: UnitOfWork, *, now: dt.datetime) -> list[str]:
    """Queue a run of every scheduled source whose interval has passed since its last run."""
    queued = []
    with uow:
        for source in uow.harvest_sources.scheduled():
            last = uow.harvest_runs.last_created_at(source.pk)
            if last is None or last + dt.timedelta(seconds=source.schedule_seconds) <= now:
                run, created = _enqueue(uow, source, "scheduler", full=False, now=now)
                if created:
                    queued.append(run.id)
        uow.commit()
    return queued


def list_runs(uow: UnitOfWork, principal: Principal, source_id: str) -> list[HarvestRun]:
    """The runs of a source, newest first."""
    with uow:
        source = visible_source(uow, principal, source_id)
        return uow.harvest_runs.of_source(source.pk)


def get_run(uow: UnitOfWork, principal: Principal, source_id: str, run_id: str) -> HarvestRun:
    with uow:
        source = visible_source(uow, principal, source_id)
        run = uow.harvest_runs.get(run_id, source_pk=source.pk)
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
        rows = uow.harvest_runs.records(run.pk, outcome=outcome,
                                        after=None if cursor is None else int(cursor), limit=limit + 1)
        following = str(rows[limit - 1].pk) if len(rows) > limit else None
        return rows[:limit], following


def fail_expired_runs(uow: UnitOfWork, *, now: dt.datetime) -> int:
    """Mark failed every running run whose lease ran out (its worker stopped): no limbo runs."""
    with uow:
        stale = uow.harvest_runs.expired(now)
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
        run = uow.harvest_runs.get(run_id)
        if run is None or run.state != RunState.RUNNING or run.lease_owner != worker:
            return
        run.state, run.finished_at, run.lease_owner, run.lease_expires = RunState.FAILED, now, None, None
        run.reason = f"{reason}; what it imported is kept, nothing was withdrawn"
        audit.record(uow.session, principal_for(run.source), "harvest_run.failed", "harvest_run", run.id,
                     detail={"source": run.source.name, "reason": run.reason})
        uow.commit()


def claim_run(uow: UnitOfWork, worker: str, *, now: dt.datetime, lease_seconds: int,
              run_id: str | None = None) -> str | None:
    """Take the oldest queued run (or ``run_id``) with a lease; None if there is none. The
    conditional update makes the claim exclusive across workers."""
    fail_expired_runs(uow, now=now)
    with uow:
        for pk, found in uow.harvest_runs.queued(run_id=run_id):
            if uow.harvest_runs.claim(pk, worker, now=now,
                                      lease_expires=now + dt.timedelta(seconds=lease_seconds)):
                uow.commit()
                return found
        return None


def run_run(uow: UnitOfWork, run_id: str, worker: str, settings: HarvestSettings, *,
            clock: Callable[[], dt.datetime] = utcnow, fetch: Fetch | None = None,
            harvester: Harvester | None = None) -> HarvestRun:
    """Run a claimed run to its end (succeeded, partial or failed) and return it."""
    with uow:
        row = uow.harvest_runs.get(run_id)
        if row is None or row.state != RunState.RUNNING or row.lease_owner != worker:
            raise NotFound(f"run {run_id!r} is not running under {worker}")
        source = row.source
        since = None if row.full else uow.harvest_runs.last_complete_stamp(source.pk)
        since = change_stamp(since)[0]  # a stamp kept before stamps were checked may be anything
        row.since = since
        uow.commit()
        state = RunProgress(row.pk, row.id, source, principal_for(source), worker, settings, clock)
    spec = HarvestSourceSpec(url=source.url, kind=source.kind, since=since,
                             options=dict(source.options or {}))
    reason: str | None = None
    complete = False
    try:
        harvester = harvester or harvester_for(source.kind)
        fetch = fetch or HttpFetch(allowlist=settings.allowlist, settings=_fetch_settings(settings, spec))
        records = harvester.harvest(spec, fetch)
        try:
            import_all(uow, state, records)
            complete = True
        except PageError as exc:
            reason = " ".join(str(exc).split()) or "a page of the source could not be read"
        if complete:
            reason = withdraw_missing(uow, state)
    except LeaseLost:
        log.info("harvest run %s: lease lost; another worker or the reaper decides", run_id)
        with uow:
            return uow.harvest_runs.get(run_id)
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


def final_state(counts: dict[str, int], *, complete: bool) -> RunState:
    """``succeeded``: the listing was read to its end and no record failed; ``failed``: no
    record came through (every one failed, or none could be read); ``partial`` otherwise."""
    failed = counts[Outcome.FAILED]
    done = sum(counts[outcome] for outcome in Outcome if outcome is not Outcome.FAILED)
    if complete and not failed:
        return RunState.SUCCEEDED
    return RunState.PARTIAL if done else RunState.FAILED


def _finish(uow: UnitOfWork, state: RunProgress, *, complete: bool, reason: str | None) -> HarvestRun:
    counts = state.counts
    final = final_state(counts, complete=complete)
    if complete and counts[Outcome.FAILED] and reason is None:
        every = "all " if final is RunState.FAILED else ""
        reason = f"{every}{counts[Outcome.FAILED]} record(s) failed; see the per-record results"
    with uow:
        run = uow.harvest_runs.get_by_pk(state.run_pk)
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
