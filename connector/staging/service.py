"""Use cases of staging: request a job, run it, watch it, cancel it, remove what expired.

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
import functools
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from connector import audit
from connector.catalog.access import may_see_project_object, project_or_steward_clause
from connector.catalog.dcat import preferred_text
from connector.catalog.models import Dataset
from connector.errors import Conflict, ConnectorError, NotFound
from connector.identity.principal import Principal
from connector.policies.models import Agreement, AgreementState
from connector.staging.errors import QuotaExceeded, StagingError, VersionExists
from connector.staging.models import JobState, StagingJob
from connector.staging.settings import StagingSettings
from connector.staging.storage import StorageTier
from connector.uow import UnitOfWork

log = logging.getLogger(__name__)

ACTIVE_STATES = (JobState.QUEUED, JobState.RUNNING)
#: Table formats the adapters read, in the order a distribution is preferred.
STAGEABLE = ("PARQUET", "ARROW", "FEATHER", "CSV", "TSV", "JSONL", "NDJSON", "JSON")


class JobCancelled(Exception):
    """Raised inside a running job when its row says it was cancelled or lost its lease."""


# --- requests from users ----------------------------------------------------------------

def _visible_agreement(uow: UnitOfWork, principal: Principal, agreement_id: str) -> Agreement:
    agreement = uow.session.scalar(select(Agreement).where(Agreement.id == agreement_id))
    if agreement is None or not may_see_project_object(principal, agreement.project_id,
                                                       agreement.dataset):
        raise NotFound(f"no agreement {agreement_id!r}")
    return agreement


def project_usage(uow: UnitOfWork, project_id: int) -> int:
    """Bytes the project's published versions hold on the tier."""
    return uow.session.scalar(select(func.coalesce(func.sum(StagingJob.bytes), 0)).where(
        StagingJob.project_id == project_id, StagingJob.state == JobState.PUBLISHED)) or 0


def quota_of(settings: StagingSettings, project: Any) -> int:
    return project.quota_bytes if project.quota_bytes is not None else settings.default_quota_bytes


def request_staging(uow: UnitOfWork, principal: Principal, agreement_id: str,
                    settings: StagingSettings, *, now: dt.datetime) -> tuple[StagingJob, bool]:
    """Queue the staging of an agreement's dataset version; a second request returns the
    first job (a failed or cancelled one is queued again). Returns (job, created)."""
    with uow:
        agreement = _visible_agreement(uow, principal, agreement_id)
        if agreement.state != AgreementState.ACTIVE or agreement.end <= now:
            raise StagingError(f"the agreement is {agreement.state if agreement.end > now else 'expired'};"
                               " nothing can be staged under it")
        job = uow.session.scalar(select(StagingJob).where(
            StagingJob.agreement_pk == agreement.pk,
            StagingJob.dataset_version == agreement.dataset_version))
        if job is not None and job.state not in (JobState.FAILED, JobState.CANCELLED):
            return job, False
        used = project_usage(uow, agreement.project_id)
        quota = quota_of(settings, agreement.project)
        if used >= quota:
            raise QuotaExceeded(f"project {agreement.project.slug} uses {used} of its {quota} bytes")
        if job is None:
            job = StagingJob(id=str(uuid.uuid4()), agreement=agreement, dataset=agreement.dataset,
                             dataset_version=agreement.dataset_version, project=agreement.project,
                             state=JobState.QUEUED, attempts=0, not_before=now, progress={},
                             bytes=0, rows=0, requested_by=principal.name, created_at=now)
            uow.session.add(job)
        else:
            job.state, job.attempts, job.not_before, job.error = JobState.QUEUED, 0, now, None
            job.progress, job.lease_owner, job.lease_expires = {}, None, None
        audit.record(uow.session, principal, "staging.request", "staging_job", job.id,
                     detail={"agreement": agreement.id, "dataset": agreement.dataset.id,
                             "version": agreement.dataset_version})
        try:
            uow.commit()
        except IntegrityError:  # a concurrent request created the job first: return that one
            uow.rollback()
            return uow.session.scalar(select(StagingJob).where(
                StagingJob.agreement_pk == agreement.pk,
                StagingJob.dataset_version == agreement.dataset_version)), False
        return job, True


def _visible_job(uow: UnitOfWork, principal: Principal, job_id: str) -> StagingJob:
    job = uow.session.scalar(select(StagingJob).where(StagingJob.id == job_id))
    if job is None or not may_see_project_object(principal, job.project_id, job.dataset):
        raise NotFound(f"no staging job {job_id!r}")
    return job


def get_job(uow: UnitOfWork, principal: Principal, job_id: str) -> StagingJob:
    with uow:
        return _visible_job(uow, principal, job_id)


def list_jobs(uow: UnitOfWork, principal: Principal, state: str | None = None) -> list[StagingJob]:
    with uow:
        query = select(StagingJob).join(Dataset, Dataset.pk == StagingJob.dataset_pk)
        query = query.where(project_or_steward_clause(principal, StagingJob.project_id))
        if state:
            query = query.where(StagingJob.state == state)
        return list(uow.session.scalars(query.order_by(StagingJob.pk.desc())))


def cancel_job(uow: UnitOfWork, principal: Principal, job_id: str, *, now: dt.datetime) -> StagingJob:
    """Cancel a queued or running job (a running one stops at its next progress report)."""
    with uow:
        job = _visible_job(uow, principal, job_id)
        if job.state not in ACTIVE_STATES:
            raise Conflict(f"the job is {job.state}; only queued or running jobs can be cancelled")
        job.state, job.finished_at = JobState.CANCELLED, now
        audit.record(uow.session, principal, "staging.cancel", "staging_job", job.id)
        uow.commit()
        return job


# --- workers ----------------------------------------------------------------------------

def claim_job(uow: UnitOfWork, worker: str, settings: StagingSettings, *, now: dt.datetime,
              job_id: str | None = None) -> str | None:
    """Take the next runnable job (queued and due, or running with a lapsed lease); None if
    there is none. The conditional update makes a claim exclusive across workers; ``attempts``
    counts claims. A lapsed lease means the worker running the job died: that counts as a
    crash, and a job at ``max_crashes`` is failed here rather than claimed."""
    with uow:
        runnable = or_(
            (StagingJob.state == JobState.QUEUED) & (StagingJob.not_before <= now),
            (StagingJob.state == JobState.RUNNING) & (StagingJob.lease_expires < now))
        query = select(StagingJob.pk, StagingJob.state, StagingJob.lease_expires,
                       StagingJob.lease_owner, StagingJob.crashes).where(runnable)
        if job_id:
            query = query.where(StagingJob.id == job_id)
        candidates = uow.session.execute(query.order_by(StagingJob.pk).limit(5)).all()
        for pk, state, lease, owner, crashes in candidates:
            lapsed = state == JobState.RUNNING
            crashes += lapsed
            if lapsed and crashes >= settings.max_crashes:
                cause = (f"the worker {owner} stopped while running the job: its lease ran out at "
                         f"{lease.isoformat().replace('+00:00', 'Z')}")
                _poisoned(uow, pk, owner, lease, cause, crashes, settings, now)
                continue
            claimed = uow.session.execute(
                update(StagingJob)
                .where(StagingJob.pk == pk, StagingJob.state == state,
                       (StagingJob.lease_expires == lease) if lease is not None
                       else StagingJob.lease_expires.is_(None))
                .values(state=JobState.RUNNING, lease_owner=worker, attempts=StagingJob.attempts + 1,
                        lease_expires=now + dt.timedelta(seconds=settings.lease_seconds),
                        started_at=now, crashes=crashes)
                .execution_options(synchronize_session=False))
            if claimed.rowcount == 1:
                uow.commit()
                claimed_id = uow.session.scalar(select(StagingJob.id).where(StagingJob.pk == pk))
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
        failed = uow.session.execute(
            update(StagingJob)
            .where(StagingJob.pk == pk, StagingJob.state == JobState.RUNNING,
                   StagingJob.lease_owner == owner,
                   (StagingJob.lease_expires == lease) if lease is not None
                   else StagingJob.lease_expires.is_(None))
            .values(state=JobState.FAILED, finished_at=now, error=error, crashes=crashes,
                    lease_owner=None, lease_expires=None)
            .execution_options(synchronize_session=False))
        if failed.rowcount != 1:
            uow.rollback()
            return
        job_id = uow.session.scalar(select(StagingJob.id).where(StagingJob.pk == pk))
        audit.record(uow.session, None, "staging.fail", "staging_job", job_id, detail=error)
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
        job = uow.session.scalar(select(StagingJob).where(StagingJob.id == job_id))
        if job.state != JobState.RUNNING or job.lease_owner != worker:
            return job  # cancelled or taken over meanwhile: its new owner decides
        crashes = job.crashes + 1
        if crashes < settings.max_crashes:
            error = {"code": "worker-died", "status": 500, "transient": True, "crashes": crashes,
                     "detail": f"{cause}; the job is tried again (the worker died {crashes} "
                               f"time(s); CONNECTOR_JOB_MAX_CRASHES is {settings.max_crashes})"}
            job.state, job.not_before, job.crashes, job.error = JobState.QUEUED, now, crashes, error
            job.lease_owner = job.lease_expires = None
            audit.record(uow.session, None, "staging.retry", "staging_job", job_id, detail=error)
            uow.commit()
            log.warning("job %s: %s", job_id, error["detail"])
        pk, lease = job.pk, job.lease_expires
    if crashes >= settings.max_crashes:
        _poisoned(uow, pk, worker, lease, cause, crashes, settings, now)
    else:
        _remove_temporary(uow, job_id, settings)
    with uow:
        return uow.session.scalar(select(StagingJob).where(StagingJob.id == job_id))


def _remove_temporary(uow: UnitOfWork, job_id: str, settings: StagingSettings,
                      tier: StorageTier | None = None) -> None:
    """Remove what an earlier attempt of the job left under a temporary prefix."""
    with uow:
        job = uow.session.scalar(select(StagingJob).where(StagingJob.id == job_id))
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


def choose_distribution(document: dict[str, Any]) -> dict[str, Any]:
    """The distribution to stage: the first one in the most preferred table format."""
    candidates = [d for d in document.get("distribution", [])
                  if d.get("format", "").upper() in STAGEABLE or "format" not in d]
    if not candidates:
        formats = sorted({d.get("format", "?") for d in document.get("distribution", [])})
        raise StagingError("the dataset version has no distribution in a table format "
                           f"(has: {', '.join(formats) or 'none'}; stageable: {', '.join(STAGEABLE)})")
    return min(candidates, key=lambda d: STAGEABLE.index(d["format"].upper())
               if d.get("format", "").upper() in STAGEABLE else len(STAGEABLE))


def source_spec(distribution: dict[str, Any], settings: StagingSettings):  # -> SourceSpec
    from connector.adapters.base import SourceSpec

    fmt = (distribution.get("format") or "").lower()
    fmt = {"ndjson": "jsonl", "feather": "arrow"}.get(fmt, fmt) or None
    fields = tuple(distribution["schema"]["fields"]) if "schema" in distribution else None
    media = distribution.get("compressFormat", "")
    compression = {"application/gzip": "gzip", "application/x-bzip2": "bz2",
                   "application/zstd": "zstd", "application/zip": "zip"}.get(media)
    return SourceSpec(distribution.get("downloadURL") or distribution["accessURL"], format=fmt,
                      compression=compression, fields=fields, max_bytes=settings.max_source_bytes,
                      deadline=settings.source_deadline_seconds,
                      read_timeout=settings.source_read_timeout, csv_threads=settings.csv_parse_threads,
                      max_json_depth=settings.source_max_json_depth,
                      max_record_bytes=settings.source_max_record_bytes)


def open_stream(spec: Any, settings: StagingSettings, uow: UnitOfWork | None = None, *,
                organisation: str | None = None):  # -> SourceStream
    """Open ``spec`` with the options of its adapter; local files only under the roots of
    ``organisation``, the dataset's owner (without it, only roots shared by all)."""
    from connector.adapters import adapter_for, scheme_of

    scheme = scheme_of(spec.url)
    options: dict[str, Any] = {}
    if scheme == "dsp" and uow is not None:  # data of a DSP transfer: its data address and token
        from connector.dsp.transfer_service import source_options

        options = source_options(uow, spec.url)
    elif scheme == "file":
        options["roots"] = list(settings.source_roots.for_organisation(organisation))
    elif scheme in ("http", "https", "ckan", "ckan+http", "ckan+https"):
        options["allowlist"] = list(settings.source_allowlist)
        if scheme.startswith("ckan"):
            options["api_token"] = settings.ckan_api_token
    elif scheme == "s3":
        options["endpoint_url"] = settings.s3_endpoint_url
        options["use_instance_metadata"] = settings.s3_use_instance_metadata
        options["allowlist"] = list(settings.source_allowlist)
    return adapter_for(spec.url, **options).read(spec)


def _record(uow: UnitOfWork, job_id: str, **values: Any) -> None:
    with uow:
        uow.session.execute(update(StagingJob).where(StagingJob.id == job_id).values(**values)
                            .execution_options(synchronize_session=False))
        uow.commit()


def run_job(uow: UnitOfWork, job_id: str, worker: str, settings: StagingSettings, *,
            clock: Callable[[], dt.datetime], tier: StorageTier | None = None) -> StagingJob:
    """Run a claimed job to its end: published, queued again (transient failure), failed or
    cancelled. Returns the job as it ends."""
    from connector.staging.memory import configure_arrow_memory
    from connector.staging.pipeline import stage_batches

    configure_arrow_memory(settings.arrow_memory_pool)
    with uow:
        job = uow.session.scalar(select(StagingJob).where(StagingJob.id == job_id))
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
            values: dict[str, Any] = {"lease_expires": now + dt.timedelta(seconds=settings.lease_seconds)}
            if progress is not None:
                values["progress"] = progress
            claimed = uow.session.execute(
                update(StagingJob).where(StagingJob.id == job_id, StagingJob.lease_owner == worker,
                                         StagingJob.state == JobState.RUNNING)
                .values(**values).execution_options(synchronize_session=False))
            agreement_state = uow.session.scalar(select(Agreement.state).where(
                Agreement.pk == agreement.pk))
            uow.commit()
        if claimed.rowcount != 1:
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
            # A source that can hand over Parquet parts as they are (DSP transfers) is copied
            # verbatim, keeping its checksums, when no duty changes the data.
            verbatim = getattr(stream, "stage_verbatim", None) if not duties else None
            published = (verbatim or functools.partial(stage_batches, stream))(
                tier=tier, project=project, dataset=dataset.id,
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
        audit.record(uow.session, None, "staging.publish", "staging_job", job_id,
                     detail={"location": location, "rows": manifest["rows"],
                             "bytes": manifest["bytes"], "agreement": agreement.id})
        uow.commit()
        return uow.session.scalar(select(StagingJob).where(StagingJob.id == job_id))


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
        job = uow.session.scalar(select(StagingJob).where(StagingJob.id == job_id))
        if job.state == JobState.RUNNING and job.lease_owner == worker:
            job.state, job.finished_at = JobState.CANCELLED, clock()
            job.error = {"code": "cancelled", "detail": reason, "transient": False}
            job.lease_owner = job.lease_expires = None
            audit.record(uow.session, None, "staging.cancel", "staging_job", job_id,
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
        job = uow.session.scalar(select(StagingJob).where(StagingJob.id == job_id))
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
        audit.record(uow.session, None, "staging.fail" if job.state == JobState.FAILED
                     else "staging.retry", "staging_job", job_id, detail=error)
        uow.commit()
    _remove_temporary(uow, job_id, settings, tier)
    with uow:
        return uow.session.scalar(select(StagingJob).where(StagingJob.id == job_id))


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


# --- expiry and revocation ----------------------------------------------------------------

def remove_ended(uow: UnitOfWork, settings: StagingSettings, *, now: dt.datetime,
                 tier: StorageTier | None = None) -> list[StagingJob]:
    """Delete from the tier the versions staged under agreements that expired or were revoked;
    cancel their unfinished jobs. Each removal is an audit event."""
    from connector.policies.service import expire_due

    expire_due(uow, now)
    with uow:
        ended = list(uow.session.scalars(
            select(StagingJob).join(Agreement, Agreement.pk == StagingJob.agreement_pk).where(
                Agreement.state != AgreementState.ACTIVE,
                StagingJob.state.in_([JobState.PUBLISHED, *ACTIVE_STATES]))))
    if not ended:
        return []
    tier = tier or StorageTier.from_url(settings.storage_url, **settings.storage_options)
    for job in ended:
        with uow:
            row = uow.session.scalar(select(StagingJob).where(StagingJob.pk == job.pk))
            reason = f"agreement {row.agreement.state}: {row.agreement.end_reason or ''}".strip(": ")
            if row.state == JobState.PUBLISHED:
                removed = tier.remove_version(row.project.slug, row.dataset.id, str(row.dataset_version))
                row.state, row.removed_at = JobState.REMOVED, now
                audit.record(uow.session, None, "staging.remove", "staging_job", row.id,
                             detail={"location": row.location, "bytes": removed, "reason": reason,
                                     "agreement": row.agreement.id})
            else:
                row.state, row.finished_at = JobState.CANCELLED, now
                row.error = {"code": "agreement-ended", "detail": reason, "transient": False}
                audit.record(uow.session, None, "staging.cancel", "staging_job", row.id,
                             detail={"reason": reason})
            uow.commit()
    return ended

