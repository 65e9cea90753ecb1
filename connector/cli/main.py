"""The ``connector`` command: serve the API, migrate the database, manage identities and datasets.

It talks to the database directly, as the operator (an administrator). ``--json`` prints
machine-readable output; every error is one line on stderr and a non-zero exit status.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import click

from connector.cli import dsp, harvest, policies, staging
from connector.cli.common import (
    EXIT_USAGE,
    Context,
    emit,
    fail,
    handle_errors,
    json_option,
    pass_context,
    read_document,
)
from connector.config import load_config


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="connector")
def main() -> None:
    """Data-space connector and catalog service."""


# --- server and database ---------------------------------------------------------------

@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 256))
@handle_errors
def serve(host: str, port: int, threads: int) -> None:
    """Serve the HTTP API (waitress)."""
    import waitress

    from connector.app import create_app

    app = create_app()
    ext = app.extensions["connector"]
    if ext.config["WORKER_IN_PROCESS"]:
        from connector.catalog.harvest.settings import HarvestSettings
        from connector.dsp.transfer_api import deliver
        from connector.worker import Worker

        Worker(ext.session_factory, ext.staging, poll_seconds=ext.config["WORKER_POLL_SECONDS"],
               harvest=HarvestSettings.from_config(ext.config),
               dsp_delivery=functools.partial(deliver, app)).start_thread()
        click.echo("connector: staging worker running in-process", err=True)
    click.echo(f"connector: serving on http://{host}:{port}", err=True)
    waitress.serve(app, host=host, port=port, threads=threads, ident="connector")


@main.group("db")
def db_group() -> None:
    """Database migrations."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@handle_errors
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION."""
    from connector import db
    from connector.app import build_extension

    config = load_config({"AUTO_MIGRATE": False})
    engine = build_extension(config).engine
    db.upgrade(engine, revision)
    click.echo(f"database at revision {db.current_revision(engine)}")


@db_group.command("current")
@handle_errors
def db_current() -> None:
    """Print the applied and the newest revision."""
    from connector import db
    from connector.app import build_extension

    engine = build_extension(load_config({"AUTO_MIGRATE": False})).engine
    click.echo(f"current {db.current_revision(engine)}, head {db.head_revision(engine)}")


@db_group.command("reindex")
@pass_context
@handle_errors
def db_reindex(ctx: Context) -> None:
    """Rebuild the search index of every dataset from its current version."""
    from connector.catalog import service

    click.echo(f"{service.reindex(ctx.uow())} dataset(s) reindexed")


# --- identities -------------------------------------------------------------------------

@main.group()
def users() -> None:
    """Users and their API tokens."""


@users.command("create")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(["admin", "steward", "member"]))
@click.option("--org", "organisation", help="The organisation a steward stewards.")
@click.option("--project", "projects", multiple=True, help="A project a member belongs to.")
@json_option
@pass_context
@handle_errors
def users_create(ctx: Context, name: str, role: str, organisation: str | None,
                 projects: tuple[str, ...], as_json: bool) -> None:
    """Create a user and print its token (shown once)."""
    from connector.identity import service

    user, token = service.create_user(ctx.uow(), name, role, organisation=organisation,
                                      projects=projects)
    emit(as_json, {"name": user.name, "role": user.role, "token": token}, token)


@users.command("rotate-token")
@click.argument("name")
@json_option
@pass_context
@handle_errors
def users_rotate(ctx: Context, name: str, as_json: bool) -> None:
    """Replace a user's token; the old one stops working."""
    from connector.identity import service

    token = service.rotate_token(ctx.uow(), name)
    emit(as_json, {"name": name, "token": token}, token)


@users.command("list")
@json_option
@pass_context
@handle_errors
def users_list(ctx: Context, as_json: bool) -> None:
    """List users and their roles."""
    from connector.identity import service

    rows = [{"name": u.name, "role": u.role,
             "organisation": u.organisation.slug if u.organisation else None,
             "projects": [p.slug for p in u.projects]} for u in service.list_users(ctx.uow())]
    emit(as_json, rows, "\n".join(
        f"{r['name']}\t{r['role']}\t{r['organisation'] or '-'}\t{','.join(r['projects']) or '-'}"
        for r in rows))


@main.group()
def orgs() -> None:
    """Organisations."""


@orgs.command("create")
@click.argument("slug")
@click.option("--name", help="Display name (default: the slug).")
@json_option
@pass_context
@handle_errors
def orgs_create(ctx: Context, slug: str, name: str | None, as_json: bool) -> None:
    """Create an organisation."""
    from connector.identity import service

    org = service.create_organisation(ctx.uow(), slug, name)
    emit(as_json, {"slug": org.slug, "name": org.name}, f"organisation {org.slug} created")


@orgs.command("list")
@json_option
@pass_context
@handle_errors
def orgs_list(ctx: Context, as_json: bool) -> None:
    """List organisations."""
    from connector.identity import service

    rows = [{"slug": o.slug, "name": o.name} for o in service.list_organisations(ctx.uow())]
    emit(as_json, rows, "\n".join(f"{r['slug']}\t{r['name']}" for r in rows))


@main.group()
def projects() -> None:
    """Projects and their members."""


@projects.command("create")
@click.argument("slug")
@click.option("--org", "organisation", required=True, help="The organisation running it.")
@click.option("--name", help="Display name (default: the slug).")
@json_option
@pass_context
@handle_errors
def projects_create(ctx: Context, slug: str, organisation: str, name: str | None,
                    as_json: bool) -> None:
    """Create a project."""
    from connector.identity import service

    project = service.create_project(ctx.uow(), slug, organisation, name)
    emit(as_json, {"slug": project.slug, "name": project.name, "organisation": organisation},
         f"project {project.slug} created")


@projects.command("add-member")
@click.argument("project")
@click.argument("user")
@pass_context
@handle_errors
def projects_add_member(ctx: Context, project: str, user: str) -> None:
    """Add USER to PROJECT."""
    from connector.identity import service

    service.add_member(ctx.uow(), project, user)
    click.echo(f"{user} is a member of {project}")


@projects.command("list")
@json_option
@pass_context
@handle_errors
def projects_list(ctx: Context, as_json: bool) -> None:
    """List projects."""
    from connector.identity import service

    rows = [{"slug": p.slug, "name": p.name, "organisation": p.organisation.slug}
            for p in service.list_projects(ctx.uow())]
    emit(as_json, rows, "\n".join(f"{r['slug']}\t{r['organisation']}\t{r['name']}" for r in rows))


# --- datasets ---------------------------------------------------------------------------

@main.group()
def datasets() -> None:
    """Register, show and search datasets."""


def _summary(view: Any) -> str:
    from connector.catalog.dcat import preferred_text

    return (f"{view.id}  v{view.version}  {view.document['accessRights']:<10}  "
            f"{preferred_text(view.document['title'])}")


@datasets.command("add")
@click.argument("file")
@click.option("--org", "organisation", help="Owning organisation (else the document's).")
@json_option
@pass_context
@handle_errors
def datasets_add(ctx: Context, file: str, organisation: str | None, as_json: bool) -> None:
    """Register the dataset in FILE (JSON; - for standard input)."""
    from connector.catalog import serialize, service
    from connector.identity.principal import OPERATOR

    body = read_document(file)
    if organisation and isinstance(body, dict):
        body["organisation"] = organisation
    ctx.extension.schemas.validate("dataset", body)
    if "organisation" not in body:
        fail("name the owning organisation with --org", EXIT_USAGE)
    view = service.register_dataset(ctx.uow(), OPERATOR, body,
                                    source_roots=ctx.extension.staging.source_roots)
    emit(as_json, serialize.dataset(view), _summary(view))


@datasets.command("show")
@click.argument("dataset_id")
@click.option("--version", "number", type=click.IntRange(1), help="A past version.")
@json_option
@pass_context
@handle_errors
def datasets_show(ctx: Context, dataset_id: str, number: int | None, as_json: bool) -> None:
    """Show a dataset (always JSON; --json is accepted for symmetry)."""
    from connector.catalog import serialize, service
    from connector.identity.principal import OPERATOR

    view = service.get_dataset(ctx.uow(), OPERATOR, dataset_id, version=number)
    click.echo(json.dumps(serialize.dataset(view), ensure_ascii=False, indent=2))


def _search(ctx: Context, text: str, filters: dict[str, tuple[str, ...]], limit: int,
            as_json: bool) -> None:
    from connector.catalog import serialize, service
    from connector.catalog.search import SearchQuery
    from connector.identity.principal import OPERATOR

    query = SearchQuery(text=text, filters={k: v for k, v in filters.items() if v}, limit=limit)
    result, views = service.search_datasets(ctx.uow(), OPERATOR, query)
    lines = [_summary(v) for v in views] + [f"{result.count} dataset(s)"]
    emit(as_json, serialize.search_result(result, views), "\n".join(lines))


@datasets.command("list")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@json_option
@pass_context
@handle_errors
def datasets_list(ctx: Context, limit: int, as_json: bool) -> None:
    """List the newest datasets."""
    _search(ctx, "", {}, limit, as_json)


@datasets.command("search")
@click.argument("words", nargs=-1)
@click.option("--theme", multiple=True)
@click.option("--publisher", multiple=True)
@click.option("--format", "format_", multiple=True)
@click.option("--access-rights", multiple=True)
@click.option("--sector", multiple=True)
@click.option("--keyword", multiple=True)
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@json_option
@pass_context
@handle_errors
def datasets_search(ctx: Context, words: tuple[str, ...], theme: tuple[str, ...],
                    publisher: tuple[str, ...], format_: tuple[str, ...],
                    access_rights: tuple[str, ...], sector: tuple[str, ...],
                    keyword: tuple[str, ...], limit: int, as_json: bool) -> None:
    """Search datasets by WORDS and facets."""
    filters = {"theme": theme, "publisher": publisher, "format": format_,
               "access_rights": access_rights, "sector": sector, "keyword": keyword}
    _search(ctx, " ".join(words), filters, limit, as_json)


@datasets.command("withdraw")
@click.argument("dataset_id")
@pass_context
@handle_errors
def datasets_withdraw(ctx: Context, dataset_id: str) -> None:
    """Withdraw a dataset (it leaves search; its versions stay readable)."""
    from connector.catalog import service
    from connector.identity.principal import OPERATOR

    view = service.withdraw_dataset(ctx.uow(), OPERATOR, dataset_id)
    click.echo(f"{view.id} withdrawn")


@projects.command("set")
@click.argument("project")
@click.argument("key", type=click.Choice(["securityClearance", "ethicsApproval"]))
@click.argument("value")
@pass_context
@handle_errors
def projects_set(ctx: Context, project: str, key: str, value: str) -> None:
    """Record a fact about PROJECT that policies read (VALUE as JSON, or text; null removes)."""
    from connector.identity import service

    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = value
    service.set_project_attribute(ctx.uow(), project, key, parsed)
    click.echo(f"{project}: {key} = {json.dumps(parsed)}")


for _command in (*policies.COMMANDS, *staging.COMMANDS, *harvest.COMMANDS, *dsp.COMMANDS):
    main.add_command(_command)
