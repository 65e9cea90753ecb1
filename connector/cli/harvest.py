"""``connector harvest add|run|show|list``: harvest sources and runs from the command line."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from connector.cli.common import Context, emit, handle_errors, json_option, pass_context

OUTCOMES = ("created", "updated", "unchanged", "withdrawn", "failed")


def _operator():
    from connector.identity.principal import OPERATOR

    return OPERATOR


def _counts(run: dict[str, Any]) -> str:
    return " ".join(f"{name}={run['counts'].get(name, 0)}" for name in OUTCOMES)


def _run_line(run: dict[str, Any]) -> str:
    line = f"{run['id']}  {run['state']:<9}  {_counts(run)}"
    return line + (f"\n  reason: {run['reason']}" if run["reason"] else "")


def _option(value: str) -> tuple[str, Any]:
    key, sep, raw = value.partition("=")
    if not sep or not key:
        raise click.BadParameter(f"expected KEY=VALUE, got {value!r}")
    try:
        return key, json.loads(raw)
    except ValueError:
        return key, raw


@click.group("harvest")
def harvest() -> None:
    """Harvest sources (CKAN portals, DCAT-AP catalogs) and their runs."""


@harvest.command("add")
@click.argument("name")
@click.option("--kind", type=click.Choice(["ckan", "dcat"]), required=True)
@click.option("--url", required=True, help="CKAN: the portal's base URL; DCAT: the catalog URL.")
@click.option("--org", "organisation", required=True, help="The owning organisation (slug).")
@click.option("--schedule", "schedule_seconds", type=int, help="Run every so many seconds.")
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE",
              help="A source option (rows=500, fq=organization:x, minInterval=1); repeatable.")
@json_option
@pass_context
@handle_errors
def harvest_add(ctx: Context, name: str, kind: str, url: str, organisation: str,
                schedule_seconds: int | None, options: tuple[str, ...], as_json: bool) -> None:
    """Register the harvest source NAME."""
    from connector.catalog.harvest import serialize, sources
    from connector.catalog.harvest.settings import HarvestSettings

    body: dict[str, Any] = {"name": name, "kind": kind, "url": url, "organisation": organisation}
    if schedule_seconds is not None:
        body["scheduleSeconds"] = schedule_seconds
    if options:
        body["options"] = dict(_option(o) for o in options)
    ctx.extension.schemas.validate("harvest-source", body)
    settings = HarvestSettings.from_config(ctx.extension.config)
    shown = serialize.source(sources.add_source(ctx.uow(), _operator(), body, allowlist=settings.allowlist))
    emit(as_json, shown, f"{shown['id']}  {shown['name']}  {shown['kind']}  {shown['url']}")


@harvest.command("list")
@json_option
@pass_context
@handle_errors
def harvest_list(ctx: Context, as_json: bool) -> None:
    """List the harvest sources."""
    from connector.catalog.harvest import serialize, sources

    items = [serialize.source(s) for s in sources.list_sources(ctx.uow(), _operator())]
    emit(as_json, items, "\n".join(f"{i['id']}  {i['name']:<24} {i['kind']:<5} {i['url']}" for i in items))


@harvest.command("run")
@click.argument("source")
@click.option("--full", is_flag=True, help="Every record, not only those changed since the last run.")
@json_option
@pass_context
@handle_errors
def harvest_run(ctx: Context, source: str, full: bool, as_json: bool) -> None:
    """Run a harvest of SOURCE (id or name) here and print the count of each outcome.

    Exits 1 when the run failed (no record came through), 0 when it succeeded or was partial."""
    from connector.catalog.harvest import runs, serialize
    from connector.catalog.harvest.settings import HarvestSettings
    from connector.db import utcnow
    from connector.errors import Conflict
    from connector.worker import worker_name

    settings = HarvestSettings.from_config(ctx.extension.config)
    run, _ = runs.enqueue_run(ctx.uow(), _operator(), source, full=full)
    name = worker_name()
    claimed = runs.claim_run(ctx.uow(), name, now=utcnow(), lease_seconds=settings.lease_seconds,
                                run_id=run.id)
    if claimed is None:
        raise Conflict(f"run {run.id} of {source!r} is running under another worker already")
    shown = serialize.run(runs.run_run(ctx.uow(), claimed, name, settings))
    emit(as_json, shown, _run_line(shown))
    if shown["state"] == "failed":
        sys.exit(1)


@harvest.command("show")
@click.argument("source")
@click.argument("run_id", required=False)
@click.option("--outcome", type=click.Choice(OUTCOMES), help="Only records with this outcome.")
@click.option("--limit", type=click.IntRange(1, 100000), default=1000, show_default=True)
@json_option
@pass_context
@handle_errors
def harvest_show(ctx: Context, source: str, run_id: str | None, outcome: str | None, limit: int,
                 as_json: bool) -> None:
    """Show SOURCE and its runs, or one run of it with its per-record results."""
    from connector.catalog.harvest import runs, serialize, sources

    if run_id is None:
        shown = serialize.source(sources.get_source(ctx.uow(), _operator(), source))
        shown["runs"] = [serialize.run(r) for r in runs.list_runs(ctx.uow(), _operator(), source)]
        text = "\n".join([f"{shown['id']}  {shown['name']}  {shown['kind']}  {shown['url']}",
                          *(_run_line(r) for r in shown["runs"])])
        emit(as_json, shown, text)
        return
    shown = serialize.run(runs.get_run(ctx.uow(), _operator(), source, run_id))
    rows, following = runs.list_records(ctx.uow(), _operator(), source, run_id, outcome=outcome,
                                           limit=limit)
    shown["records"] = [serialize.record(r) for r in rows]
    shown["more"] = following is not None
    lines = [_run_line(shown), *(f"  {r['outcome']:<9} {r['remoteId']}  {r['dataset'] or ''}"
                                 f"{'  ' + r['reason'] if r['reason'] else ''}" for r in shown["records"])]
    emit(as_json, shown, "\n".join(lines))


COMMANDS = (harvest,)
