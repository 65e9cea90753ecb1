"""The worker loop: expire agreements, remove what they no longer cover, run staging jobs.

``connector worker`` runs it in its own process; with the embedded default ``connector serve``
runs it in a thread beside the web server. Any number of workers may run against one database:
claims are exclusive, and a worker that dies leaves its lease to run out.

The loop claims; each staging job and harvest run then executes in a child process under the
limits of ``JOB_MEMORY_LIMIT``, ``JOB_CPU_SECONDS`` and ``JOB_OPEN_FILES`` (see
:mod:`connector.sandbox`), so a source that crashes its parser or eats the machine's memory
ends that child, not ``connector serve``. The loop keeps owning the job's state: when the child
dies, it records the failure with the cause (:func:`connector.staging.runner.worker_died`).

A composition root like :mod:`connector.app`: it drives staging, harvest runs and the DSP
outbox, so it sits above all of them (setup.cfg, the ``layers`` contract).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from typing import Any

from connector import sandbox
from connector.db import make_engine, make_session_factory, utcnow
from connector.identity.principal import OPERATOR
from connector.staging import expiry, jobs, runner
from connector.staging.settings import StagingSettings
from connector.staging.storage import StorageTier
from connector.uow import UnitOfWork

log = logging.getLogger(__name__)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    """Runs maintenance and jobs until ``stop`` is set."""

    def __init__(self, session_factory, settings: StagingSettings, *, poll_seconds: float = 2.0,
                 gc_every: int = 300, name: str | None = None, harvest: Any = None,
                 dsp_delivery: Any = None) -> None:
        self.session_factory = session_factory
        self.settings = settings
        self.harvest = harvest  # HarvestSettings; None: derived from the staging settings
        self.dsp_delivery = dsp_delivery  # callable sending the DSP outbox (dsp.negotiation_api.deliver)
        self.poll_seconds = poll_seconds
        self.gc_every = gc_every
        self.name = name or worker_name()
        self.stop = threading.Event()
        self._ticks = 0

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.session_factory)

    @property
    def database_url(self) -> str:
        return self.session_factory.kw["bind"].url.render_as_string(hide_password=False)

    def tick(self) -> int:
        """One round: maintenance, every staging job that is due, then at most one harvest run
        (a portal run can take hours: the next round's staging jobs go first). Returns the
        staging jobs run."""
        tier = StorageTier.from_url(self.settings.storage_url, **self.settings.storage_options)
        expiry.remove_ended(self.uow(), self.settings, now=utcnow(), tier=tier)
        if self._ticks % self.gc_every == 0:
            removed = tier.collect_garbage()
            if removed:
                log.info("removed %d stale temporary prefixes", len(removed))
        self._ticks += 1
        ran = 0
        while not self.stop.is_set():
            job_id = runner.claim_job(self.uow(), self.name, self.settings, now=utcnow())
            if job_id is None:
                break
            job = self._run_job(job_id, tier)
            log.info("job %s: %s", job.id, job.state)
            ran += 1
        self._harvest()
        if self.dsp_delivery is not None:
            self.dsp_delivery()
        return ran

    def _run_job(self, job_id: str, tier: StorageTier):  # -> StagingJob
        limits = self.settings.isolation
        if limits is None:
            return runner.run_job(self.uow(), job_id, self.name, self.settings, clock=utcnow,
                                  tier=tier)
        outcome = sandbox.run("connector.worker:run_job_in_child", self.database_url, job_id,
                              self.name, self.settings, limits=limits)
        if not outcome.ok:
            log.warning("job %s: %s", job_id, outcome.cause)
            return runner.worker_died(self.uow(), job_id, self.name, outcome.cause or "",
                                      self.settings, clock=utcnow)
        return jobs.get_job(self.uow(), OPERATOR, job_id)

    def _harvest(self) -> int:
        """Queue due scheduled harvest runs and run the oldest queued one. Returns the runs run."""
        from connector.catalog.harvest import runs
        from connector.catalog.harvest.settings import HarvestSettings

        settings = self.harvest or HarvestSettings(
            allowlist=self.settings.source_allowlist, lease_seconds=self.settings.lease_seconds)
        limits = self.settings.isolation
        if limits is None:
            return runs.run_queued(self.uow(), self.name, settings, clock=utcnow,
                                      should_stop=self.stop.is_set, max_runs=1)
        runs.enqueue_due(self.uow(), now=utcnow())
        run_id = None if self.stop.is_set() else runs.claim_run(
            self.uow(), self.name, now=utcnow(), lease_seconds=settings.lease_seconds)
        if run_id is None:
            return 0
        outcome = sandbox.run("connector.worker:run_harvest_in_child", self.database_url,
                              run_id, self.name, settings, limits=limits)
        if not outcome.ok:
            log.warning("harvest run %s: %s", run_id, outcome.cause)
            runs.fail_run(self.uow(), run_id, self.name, outcome.cause or "", now=utcnow())
        return 1

    def run(self) -> None:
        """Loop until stopped; one failing round is logged and the loop goes on."""
        log.info("worker %s started", self.name)
        while not self.stop.is_set():
            try:
                self.tick()
            except Exception:  # noqa: BLE001  (keep the worker alive; the job rows keep state)
                log.exception("worker round failed")
            self.stop.wait(self.poll_seconds)

    def start_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="connector-worker", daemon=True)
        thread.start()
        return thread


# --- what the child process runs (connector.sandbox) ---------------------------------------

def _child_uow(database_url: str) -> UnitOfWork:
    return UnitOfWork(make_session_factory(make_engine(database_url)))


def run_job_in_child(database_url: str, job_id: str, worker: str, settings: StagingSettings) -> None:
    """Run a job the parent claimed under ``worker``; the job row records how it ended."""
    logging.basicConfig(level=logging.INFO)
    runner.run_job(_child_uow(database_url), job_id, worker, settings, clock=utcnow)


def run_harvest_in_child(database_url: str, run_id: str, worker: str, settings: Any) -> None:
    """Run a harvest run the parent claimed under ``worker``."""
    from connector.catalog.harvest import runs

    logging.basicConfig(level=logging.INFO)
    runs.run_run(_child_uow(database_url), run_id, worker, settings, clock=utcnow)
