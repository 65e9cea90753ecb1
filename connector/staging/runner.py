"""A worker's side of a staging job: claim it, run it, record how it ended.

A job is a row; workers claim it with a lease (a conditional update), run the hot path
(:func:`connector.staging.pipeline.stage_batches`) over the batches of a source adapter, and
record progress, success or failure. Transient failures are retried with exponential back-off;
terminal ones are not. A job runs in a child process (:mod:`connector.sandbox`); when that
child dies, its parent reports it (:func:`worker_died`); when a whole worker process dies, its
lease runs out and the next claim counts the death. Either way the job's temporary prefix is
removed, nothing it wrote was ever visible, and a job its worker died on ``max_crashes`` times
fails (a poison job) instead of taking down one worker after another.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import errno
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from connector.catalog.dcat import preferred_text
from connector.catalog.models import Dataset
from connector.errors import ConnectorError, NotFound
from connector.policies.models import AgreementState
from connector.staging.errors import VersionExists
from connector.staging.jobs import project_usage, quota_of
from connector.staging.models import JobState, StagingJob
from connector.staging.settings import StagingSettings
from connector.staging.source import choose_distribution, open_stream, source_spec
from connector.staging.storage import StorageTier
from connector.uow import UnitOfWork

log = logging.getLogger(__name__)


class JobCancelled(Exception):
    """Raised inside a running job when its row says it was cancelled or lost its lease."""


def claim_job(uow: UnitOfWork, worker: str, settings: StagingSettings, *, now: dt.datetime,
              job_id: str | None = None) -> str | None:
    """Take the next runnable job (queued and due, or running with a lapsed lease); None if
    there is none. The conditional update makes a claim exclusive across workers; ``attempts``
    counts claims. A lapsed lease means the worker running the job died: that counts as a
    crash, and a job at ``max_crashes`` is failed here rather than claimed."""
    with uow:
        for pk, state, lease, owner, crashes in uow.jobs.runnable(now, job_id=job_id):
            lapsed = state == JobState.RUNNING
            crashes += lapsed
            if lapsed and crashes >= settings.max_crashes:
                cause = (f"the worker {owner} stopped while running the job: its lease ran out at "
                         f"{lease.isoformat().replace('+00:00', 'Z')}")
                _poisoned(uow, pk, owner, lease, cause, crashes, settings, now)
                continue
            if uow.jobs.claim(pk, state, lease, worker=worker, now=now,
                              lease_seconds=settings.lease_seconds, crashes=crashes):
                uow.commit()
                claimed_id = uow.jobs.id_of(pk)
                if lapsed:
                    _remove_temporary(uow, claimed_id, settings)
                return claimed_id
        return None


def _poisoned(uow: UnitOfWork, pk: int, owner: str | None, lease: dt.datetime | None, cause: str,
              crashes: int, settings: StagingSettings, now: dt.datetime) -> None:
    """Fail a job whose worker died ``crashes`` times (the last time as ``cause`` says), if its
    row is still as it was read (worker ``owner`` holding lease ``lease``)."""
    error = {"code": "worker-died", "status": 500, "transient": False, "crashes": crashes,
             "detail": f"{cause}; the worker died {crashes} time(s) while running this job, "
                       f"the most CONNECTOR_JOB_MAX_CRASHES ({settings.max_crashes}) allows"}
    with uow:
        if not uow.jobs.fail_lapsed(pk, owner, lease, now=now, error=error, crashes=crashes):
            uow.rollback()
            return
        job_id = uow.jobs.id_of(pk)
        uow.audit.record(None, "staging.fail", "staging_job", job_id, detail=error)
        uow.commit()
    log.warning("job %s failed: %s", job_id, error["detail"])
    _remove_temporary(uow, job_id, settings)


def worker_died(uow: UnitOfWork, job_id: str, worker: str, cause: str, settings: StagingSettings, *,
                clock: Callable[[], dt.datetime]) -> StagingJob:
    """Record that the child process running ``job_id`` under ``worker`` died (``cause``, in
    words): the job is queued again, or failed once its worker died ``max_crashes`` times.
    Its temporary prefix is removed either way."""
    now = clock()
    with uow:
        job = uow.jobs.get(job_id)
        if job.state != JobState.RUNNING or job.lease_owner != worker:
            return job  # cancelled or taken over meanwhile: its new owner decides
        crashes = job.crashes + 1
        if crashes < settings.max_crashes:
            error = {"code": "worker-died", "status": 500, "transient": True, "crashes": crashes,
                     "detail": f"{cause}; the job is tried again (the worker died {crashes} "
                               f"time(s); CONNECTOR_JOB_MAX_CRASHES is {settings.max_crashes})"}
            job.state, job.not_before, job.crashes, job.error = JobState.QUEUED, now, crashes, error
            job.lease_owner = job.lease_expires = None
            uow.audit.record(None, "staging.retry", "staging_job", job_id, detail=error)
            uow.commit()
            log.warning("job %s: %s", job_id, error["detail"])
        pk, lease = job.pk, job.lease_expires
    if crashes >= settings.max_crashes:
        _poisoned(uow, pk, worker, lease, cause, crashes, settings, now)
    else:
        _remove_temporary(uow, job_id, settings)
    with uow:
        return uow.jobs.get(job_id)


def _remove_temporary(uow: UnitOfWork, job_id: str, settings: StagingSettings,
                      tier: StorageTier | None = None) -> None:
    """Remove what an earlier attempt of the job left under a temporary prefix."""
    with uow:
        job = uow.jobs.get(job_id)
        where = (job.project.slug, job.dataset.id, str(job.dataset_version))
    try:
        tier = tier or StorageTier.from_url(settings.storage_url, **settings.storage_options)
        removed = tier.remove_temporary(*where, owner=job_id)
    except Exception:  # noqa: BLE001  (collect_garbage removes what is left here)
        log.exception("job %s: could not remove its temporary prefixes", job_id)
        return
    if removed:
        log.info("job %s: removed %s", job_id, ", ".join(removed))



def _duties(obligations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Agreement obligations the writer enforces: pseudonymise and anonymise (drop) columns."""
    pseudonymise, drop = [], []
    for obligation in obligations:
        target = (obligation.get("duty") or {}).get("target") or ""
        if not target.startswith("column:"):
            continue
        column = unquote(target.removeprefix("column:"))  # column:Individual%20ID
        if obligation["action"] == "pseudonymize":
            pseudonymise.append(column)
        elif obligation["action"] == "anonymize":
            drop.append(column)
    duties = []
    if drop:
        duties.append({"action": "drop", "columns": drop})
    if pseudonymise:
        duties.append({"action": "pseudonymise", "columns": pseudonymise})
    return duties



def _record(uow: UnitOfWork, job_id: str, **values: Any) -> None:
    with uow:
        uow.jobs.record(job_id, **values)
        uow.commit()


def run_job(uow: UnitOfWork, job_id: str, worker: str, settings: StagingSettings, *,
            clock: Callable[[], dt.datetime], tier: StorageTier | None = None) -> StagingJob:
    """Run a claimed job to its end: published, queued again (transient failure), failed or
    cancelled. Returns the job as it ends."""
    from connector.adapters.dsp import DspStream
    from connector.staging.memory import configure_arrow_memory
    from connector.staging.pipeline import stage_batches, stage_verbatim

    configure_arrow_memory(settings.arrow_memory_pool)
    with uow:
        job = uow.jobs.get(job_id)
        if job is None or job.state != JobState.RUNNING or job.lease_owner != worker:
            raise NotFound(f"job {job_id!r} is not running under {worker}")
        agreement, dataset = job.agreement, job.dataset
        version = uow.datasets.version(dataset, job.dataset_version)
        assert version is not None
        document, project, owner = version.document, job.project.slug, dataset.organisation.slug
        quota_left = quota_of(settings, job.project) - project_usage(uow, job.project_id)
        policy_id, obligations, expires = agreement.policy["@id"], agreement.obligations, agreement.end
    started = time.monotonic()

    def still_ours(progress: dict[str, Any] | None = None) -> None:
        now = clock()
        with uow:
            ours = uow.jobs.renew_lease(
                job_id, worker, expires=now + dt.timedelta(seconds=settings.lease_seconds),
                progress=progress)
            agreement_state = uow.agreements.state_of(agreement.pk)
            uow.commit()
        if not ours:
            raise JobCancelled("the job was cancelled or its lease passed to another worker")
        if agreement_state != AgreementState.ACTIVE or now >= expires:
            raise JobCancelled("the agreement ended while staging")

    def on_progress(state: Any) -> None:
        elapsed = max(time.monotonic() - started, 1e-6)
        still_ours({"rows": state.rows, "bytes": state.bytes, "files": state.parts,
                    "rowGroups": state.row_groups, "bytesPerSecond": round(state.bytes / elapsed)})

    tier = dataclasses.replace(
        tier or StorageTier.from_url(settings.storage_url, **settings.storage_options), owner=job_id)
    try:
        spec = source_spec(choose_distribution(document), settings)
        with open_stream(spec, settings, uow, organisation=owner) as stream:
            duties = _duties(obligations)
            # The Parquet parts of a DSP transfer are copied verbatim, keeping their checksums,
            # when no duty changes the data.
            stage = stage_verbatim if isinstance(stream, DspStream) and not duties else stage_batches
            published = stage(
                stream, tier=tier, project=project, dataset=dataset.id,
                version=str(job.dataset_version), agreement=agreement.id, policy=policy_id,
                provenance=lambda: _provenance(stream.provenance), duties=duties,
                secret=settings.secret, metadata=_croissant_metadata(document, dataset),
                writer_options={"encode_threads": settings.parquet_encode_threads},
                expires=expires, dataset_id=dataset.id, job=job_id, max_bytes=max(quota_left, 0),
                on_progress=on_progress, before_publish=lambda pending: still_ours(), now=clock())
        manifest, location = published.manifest, published.url
    except VersionExists:
        manifest = tier.read_manifest(project, dataset.id, str(job.dataset_version))
        if manifest.get("job") != job_id:
            return _fail(uow, job_id, worker, VersionExists("another job published this version"),
                         settings, clock, tier)
        location = tier.version_url(project, dataset.id, str(job.dataset_version))
    except JobCancelled as exc:
        log.info("job %s stopped: %s", job_id, exc)
        return _stop(uow, job_id, worker, str(exc), clock)
    except Exception as exc:  # noqa: BLE001  (every failure is recorded on the job, then judged)
        return _fail(uow, job_id, worker, exc, settings, clock, tier)
    now, written, rows = clock(), int(manifest["bytes"]), int(manifest["rows"])
    rate = round(written / max(time.monotonic() - started, 1e-6))
    _record(uow, job_id, state=JobState.PUBLISHED, finished_at=now, location=location,
            bytes=written, rows=rows, manifest=manifest, lease_owner=None, lease_expires=None,
            error=None, progress={"rows": rows, "bytes": written, "files": len(manifest["files"]),
                                  "bytesPerSecond": rate})
    with uow:
        uow.audit.record(None, "staging.publish", "staging_job", job_id,
                     detail={"location": location, "rows": manifest["rows"],
                             "bytes": manifest["bytes"], "agreement": agreement.id})
        uow.commit()
        return uow.jobs.get(job_id)


def _provenance(provenance: Any) -> list[dict[str, Any]]:
    return [{"url": f.url, "bytes": f.bytes, "sha256": f.sha256, "finalUrl": f.final_url}
            for f in provenance.files]


def _croissant_metadata(document: dict[str, Any], dataset: Dataset) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": preferred_text(document["title"]),
                                "description": preferred_text(document["description"]),
                                "identifier": dataset.identifier}
    if "license" in document:
        metadata["license"] = document["license"]
    if "landingPage" in document:
        metadata["url"] = document["landingPage"]
    if "publisher" in document:
        metadata["creator"] = preferred_text(document["publisher"]["name"])
    return metadata


def _stop(uow: UnitOfWork, job_id: str, worker: str, reason: str, clock: Callable[[], dt.datetime]):
    with uow:
        job = uow.jobs.get(job_id)
        if job.state == JobState.RUNNING and job.lease_owner == worker:
            job.state, job.finished_at = JobState.CANCELLED, clock()
            job.error = {"code": "cancelled", "detail": reason, "transient": False}
            job.lease_owner = job.lease_expires = None
            uow.audit.record(None, "staging.cancel", "staging_job", job_id,
                             detail={"reason": reason})
        uow.commit()
        return job


def _fail(uow: UnitOfWork, job_id: str, worker: str, exc: BaseException, settings: StagingSettings,
          clock: Callable[[], dt.datetime], tier: StorageTier | None = None) -> StagingJob:
    transient = bool(getattr(exc, "transient", False))
    if isinstance(exc, ConnectorError):
        error = {"code": exc.code, "status": exc.status, "detail": exc.detail, "transient": transient}
    elif (cause := _limit_cause(exc, settings)) is not None:
        error = {"code": "resource-limit", "status": 500, "detail": cause, "transient": False}
        transient = False
    else:
        log.exception("job %s failed unexpectedly", job_id)
        error = {"code": "internal-error", "status": 500, "detail": f"{type(exc).__name__}: {exc}",
                 "transient": transient}
    now = clock()
    with uow:
        job = uow.jobs.get(job_id)
        if job.state != JobState.RUNNING or job.lease_owner != worker:
            return job  # cancelled or taken over meanwhile: its new owner decides
        if transient and job.attempts < settings.max_attempts:
            delay = settings.backoff_seconds * 2 ** (job.attempts - 1)
            retry_after = getattr(exc, "retry_after", None)
            job.state, job.not_before = JobState.QUEUED, now + dt.timedelta(
                seconds=max(delay, retry_after or 0))
            error["retryAt"] = job.not_before.isoformat().replace("+00:00", "Z")
        else:
            job.state, job.finished_at = JobState.FAILED, now
        job.error, job.lease_owner, job.lease_expires = error, None, None
        uow.audit.record(None, "staging.fail" if job.state == JobState.FAILED
                         else "staging.retry", "staging_job", job_id, detail=error)
        uow.commit()
    _remove_temporary(uow, job_id, settings, tier)
    with uow:
        return uow.jobs.get(job_id)


def _limit_cause(exc: BaseException, settings: StagingSettings) -> str | None:
    """The job's resource limit ``exc`` says it reached, in words; None for other errors."""
    from connector.sandbox import Limits, memory_cause, open_files_cause

    limits = settings.isolation or Limits(memory_bytes=None, open_files=None)
    if isinstance(exc, MemoryError) and limits.memory_bytes is not None:
        return memory_cause(limits)
    if isinstance(exc, OSError) and exc.errno in (errno.EMFILE, errno.ENFILE) \
            and limits.open_files is not None:
        return open_files_cause(limits)
    return None
