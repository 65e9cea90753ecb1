"""``connector stage|stagings|worker|verify``: staging from the command line."""

from __future__ import annotations

import functools
import json
import logging
import sys
import time
from typing import Any

import click

from connector.cli.common import Context, emit, handle_errors, json_option, pass_context


def _operator():
    from connector.identity.principal import OPERATOR

    return OPERATOR


def _line(job: dict[str, Any]) -> str:
    progress = job["progress"]
    where = job["location"] or (job["error"] or {}).get("detail", "")
    return (f"{job['id']}  {job['state']:<9}  {job['project']:<12}  {job['dataset']} "
            f"v{job['version']}  rows={progress.get('rows', 0)} bytes={progress.get('bytes', 0)}  {where}")


@click.command("stage")
@click.argument("agreement_id")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Run the job here and wait for its end (else leave it to a worker).")
@json_option
@pass_context
@handle_errors
def stage(ctx: Context, agreement_id: str, wait: bool, as_json: bool) -> None:
    """Stage the dataset version of AGREEMENT_ID into the storage tier as Parquet."""
    from connector.db import utcnow
    from connector.staging import jobs, runner, serialize
    from connector.staging.repository import ACTIVE_STATES
    from connector.worker import worker_name

    settings = ctx.extension.staging
    job, _ = jobs.request_staging(ctx.uow(), _operator(), agreement_id, settings, now=utcnow())
    if wait:
        name = worker_name()
        deadline = time.monotonic() + 24 * 3600
        while job.state in ACTIVE_STATES and time.monotonic() < deadline:
            claimed = runner.claim_job(ctx.uow(), name, settings, now=utcnow(), job_id=job.id)
            if claimed:
                job = runner.run_job(ctx.uow(), claimed, name, settings, clock=utcnow)
            else:  # running under another worker, or waiting out a back-off
                time.sleep(1)
                job = jobs.get_job(ctx.uow(), _operator(), job.id)
    shown = serialize.job(jobs.get_job(ctx.uow(), _operator(), job.id))
    emit(as_json, shown, _line(shown))
    if shown["state"] in ("failed", "cancelled"):
        sys.exit(1)


@click.group()
def stagings() -> None:
    """Staging jobs: list, show, cancel."""


@stagings.command("list")
@click.option("--state", type=click.Choice(["queued", "running", "published", "failed",
                                             "cancelled", "removed"]))
@json_option
@pass_context
@handle_errors
def stagings_list(ctx: Context, state: str | None, as_json: bool) -> None:
    """List staging jobs."""
    from connector.staging import jobs, serialize

    items = [serialize.job(j) for j in jobs.list_jobs(ctx.uow(), _operator(), state)]
    emit(as_json, items, "\n".join(_line(i) for i in items))


@stagings.command("show")
@click.argument("job_id")
@pass_context
@handle_errors
def stagings_show(ctx: Context, job_id: str) -> None:
    """Show one staging job (JSON)."""
    from connector.staging import jobs, serialize

    click.echo(json.dumps(serialize.job(jobs.get_job(ctx.uow(), _operator(), job_id)), indent=2))


@stagings.command("cancel")
@click.argument("job_id")
@pass_context
@handle_errors
def stagings_cancel(ctx: Context, job_id: str) -> None:
    """Cancel a queued or running job."""
    from connector.db import utcnow
    from connector.staging import jobs

    jobs.cancel_job(ctx.uow(), _operator(), job_id, now=utcnow())
    click.echo(f"{job_id} cancelled")


@click.command("worker")
@click.option("--once", is_flag=True, help="One round (maintenance and due jobs), then exit.")
@pass_context
@handle_errors
def worker(ctx: Context, once: bool) -> None:
    """Run staging jobs, expire agreements and remove the data they no longer cover."""
    from connector.catalog.harvest.settings import HarvestSettings
    from connector.worker import Worker

    logging.basicConfig(level=ctx.extension.config["LOG_LEVEL"])
    delivery = None
    if ctx.extension.config.get("DSP_PARTICIPANTS"):  # DSP outbox and transfers need the application
        from connector.app import create_app
        from connector.dsp.transfer_api import deliver

        delivery = functools.partial(deliver, create_app())
    runner = Worker(ctx.extension.session_factory, ctx.extension.staging,
                    poll_seconds=ctx.extension.config["WORKER_POLL_SECONDS"], dsp_delivery=delivery,
                    harvest=HarvestSettings.from_config(ctx.extension.config))
    if once:
        click.echo(f"{runner.tick()} job(s) run")
        return
    try:
        runner.run()
    except KeyboardInterrupt:
        runner.stop.set()


@click.command("verify")
@click.argument("path")
@handle_errors
def verify(path: str) -> None:
    """Check a staged version against its manifest (sizes and sha256 of every file)."""
    from connector.client import verify as verify_version

    manifest = verify_version(path)
    click.echo(f"ok: {manifest['rows']} rows in {len(manifest['files'])} file(s), "
               f"expires {manifest.get('expires') or 'never'}")


COMMANDS = (stage, stagings, worker, verify)
