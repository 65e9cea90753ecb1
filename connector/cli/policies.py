"""``connector offers|evaluate|requests|agreements|audit``: usage control from the command line.

The operator acts as an administrator; ``requests create --as USER`` files a request in the
name of a project member.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from connector.cli.common import Context, emit, handle_errors, json_option, pass_context, read_document


def _site(ctx: Context):
    from connector.policies.service import Site

    config = ctx.extension.config
    return Site(location=config["SITE_LOCATION"], region=config["SITE_REGION"])


def _params(pairs: tuple[str, ...]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--param")
        try:
            result[key] = json.loads(raw)
        except ValueError:
            result[key] = raw
    return result


def _operator():
    from connector.identity.principal import OPERATOR

    return OPERATOR


@click.group()
def offers() -> None:
    """ODRL offers attached to datasets."""


@offers.command("add")
@click.argument("dataset_id")
@click.option("--file", "path", help="An ODRL policy (JSON-LD; - for standard input).")
@click.option("--template", type=click.Choice(["open-data", "research-eu", "health-secondary-use",
                                               "defence-restricted"]))
@click.option("--param", "params", multiple=True, help="Template parameter KEY=VALUE (JSON value).")
@click.option("--approval", type=click.Choice(["automatic", "steward"]), default="automatic",
              show_default=True)
@json_option
@pass_context
@handle_errors
def offers_add(ctx: Context, dataset_id: str, path: str | None, template: str | None,
               params: tuple[str, ...], approval: str, as_json: bool) -> None:
    """Attach an offer to DATASET_ID, from --file or a --template."""
    from connector.policies import serialize, service

    if bool(path) == bool(template):
        raise click.UsageError("give exactly one of --file and --template")
    body: dict[str, Any] = {"approval": approval}
    if path:
        body["policy"] = read_document(path)
    else:
        body["template"], body["parameters"] = template, _params(params)
    ctx.extension.schemas.validate("offer-request", body)
    offer, _ = service.attach_offer(ctx.uow(), _operator(), dataset_id, body, ctx.extension.schemas)
    emit(as_json, serialize.offer(offer), f"offer {offer.id} ({offer.policy_uid}) attached")


@offers.command("list")
@click.argument("dataset_id")
@json_option
@pass_context
@handle_errors
def offers_list(ctx: Context, dataset_id: str, as_json: bool) -> None:
    """The active offers of DATASET_ID."""
    from connector.policies import serialize, service

    items = [serialize.offer(o) for o, _ in service.list_offers(ctx.uow(), _operator(), dataset_id)]
    emit(as_json, items, "\n".join(f"{o['id']}  {o['approval']:<9}  {o['policy']['@id']}"
                                   for o in items))


@click.command("evaluate")
@click.argument("file")
@pass_context
@handle_errors
def evaluate_cmd(ctx: Context, file: str) -> None:
    """Dry run: FILE holds {"policy": ..., "request": {...}, "at": ...}; prints the decision."""
    from connector.db import utcnow
    from connector.policies import service

    body = read_document(file)
    ctx.extension.schemas.validate("evaluate-request", body)
    decision = service.dry_run(ctx.uow(), _operator(), body, ctx.extension.schemas,
                               site=_site(ctx), now=utcnow())
    click.echo(json.dumps(decision.to_dict(), indent=2, ensure_ascii=False))
    if decision.outcome != "permit":
        sys.exit(3)


@click.group()
def requests() -> None:
    """Access requests: file, list, approve, reject."""


def _request_line(item: dict[str, Any]) -> str:
    agreement = f"agreement {item['agreement']}  " if item.get("agreement") else ""
    return (f"{item['id']}  {item['state']:<16}  {item['project']:<12}  {item['dataset']} "
            f"v{item['version']}  {agreement}{'; '.join(item['decision']['reasons'])[:120]}")


@requests.command("create")
@click.argument("file")
@click.option("--as", "user", required=True, help="The project member filing it.")
@json_option
@pass_context
@handle_errors
def requests_create(ctx: Context, file: str, user: str, as_json: bool) -> None:
    """File the access request in FILE in the name of USER."""
    from connector.db import utcnow
    from connector.identity.service import principal_named
    from connector.policies import serialize, service

    body = read_document(file)
    ctx.extension.schemas.validate("access-request", body)
    caller = principal_named(ctx.uow(), user)
    item, _ = service.request_access(ctx.uow(), caller, body, site=_site(ctx), now=utcnow())
    shown = serialize.access_request(service.get_request(ctx.uow(), caller, item.id))
    emit(as_json, shown, _request_line(shown))


@requests.command("list")
@click.option("--state", type=click.Choice(["requested", "pending_approval", "agreed", "rejected"]))
@json_option
@pass_context
@handle_errors
def requests_list(ctx: Context, state: str | None, as_json: bool) -> None:
    """List access requests."""
    from connector.policies import serialize, service

    items = [serialize.access_request(r) for r in service.list_requests(ctx.uow(), _operator(), state)]
    emit(as_json, items, "\n".join(_request_line(i) for i in items))


@requests.command("show")
@click.argument("request_id")
@pass_context
@handle_errors
def requests_show(ctx: Context, request_id: str) -> None:
    """Show one access request with its decision (JSON)."""
    from connector.policies import serialize, service

    item = service.get_request(ctx.uow(), _operator(), request_id)
    click.echo(json.dumps(serialize.access_request(item), indent=2, ensure_ascii=False))


@requests.command("approve")
@click.argument("request_id")
@click.option("--comment")
@json_option
@pass_context
@handle_errors
def requests_approve(ctx: Context, request_id: str, comment: str | None, as_json: bool) -> None:
    """Approve a pending request: records the agreement."""
    from connector.db import utcnow
    from connector.policies import serialize, service

    service.approve_request(ctx.uow(), _operator(), request_id, comment, site=_site(ctx),
                            now=utcnow())
    shown = serialize.access_request(service.get_request(ctx.uow(), _operator(), request_id))
    emit(as_json, shown, f"{request_id} agreed: agreement {shown['agreement']}")


@requests.command("reject")
@click.argument("request_id")
@click.option("--comment", required=True)
@pass_context
@handle_errors
def requests_reject(ctx: Context, request_id: str, comment: str) -> None:
    """Reject a pending request, saying why."""
    from connector.db import utcnow
    from connector.policies import service

    service.reject_request(ctx.uow(), _operator(), request_id, comment, now=utcnow())
    click.echo(f"{request_id} rejected")


@click.group()
def agreements() -> None:
    """Agreements: list, show, revoke, expire."""


@agreements.command("list")
@click.option("--state", type=click.Choice(["active", "revoked", "expired"]))
@json_option
@pass_context
@handle_errors
def agreements_list(ctx: Context, state: str | None, as_json: bool) -> None:
    """List agreements."""
    from connector.db import utcnow
    from connector.policies import serialize, service

    items = [serialize.agreement(a) for a in service.list_agreements(
        ctx.uow(), _operator(), now=utcnow(), state=state)]
    emit(as_json, items, "\n".join(
        f"{a['id']}  {a['state']:<8}  {a['project']:<12}  {a['dataset']} v{a['version']}  "
        f"until {a['end']}" for a in items))


@agreements.command("show")
@click.argument("agreement_id")
@pass_context
@handle_errors
def agreements_show(ctx: Context, agreement_id: str) -> None:
    """Show one agreement with its policy snapshot (JSON)."""
    from connector.db import utcnow
    from connector.policies import serialize, service

    item = service.get_agreement(ctx.uow(), _operator(), agreement_id, now=utcnow())
    click.echo(json.dumps(serialize.agreement(item), indent=2, ensure_ascii=False))


@agreements.command("revoke")
@click.argument("agreement_id")
@click.option("--comment", required=True, help="Why: it goes into the audit log.")
@pass_context
@handle_errors
def agreements_revoke(ctx: Context, agreement_id: str, comment: str) -> None:
    """Revoke an agreement."""
    from connector.db import utcnow
    from connector.policies import service

    service.revoke_agreement(ctx.uow(), _operator(), agreement_id, comment, now=utcnow())
    click.echo(f"{agreement_id} revoked")


@agreements.command("expire")
@pass_context
@handle_errors
def agreements_expire(ctx: Context) -> None:
    """Mark every agreement whose period has ended as expired."""
    from connector.db import utcnow
    from connector.policies import service

    expired = service.expire_due(ctx.uow(), utcnow())
    click.echo(f"{len(expired)} agreement(s) expired")


@click.group()
def audit() -> None:
    """The audit log."""


@audit.command("export")
@click.option("--since", help="Only events at or after this ISO 8601 time.")
@click.option("--object-type", help="dataset, access_request, agreement, ...")
@pass_context
@handle_errors
def audit_export(ctx: Context, since: str | None, object_type: str | None) -> None:
    """Print the audit log as JSON Lines."""
    from connector import audit as audit_log
    from connector.errors import ValidationFailed
    from connector.policies.operands import parse_datetime

    try:
        start = parse_datetime(since) if since else None
    except ValueError as exc:
        raise ValidationFailed([{"path": "--since", "message": str(exc)}]) from exc
    unit = ctx.uow()
    with unit:
        for event in audit_log.export(unit.session, since=start, object_type=object_type):
            click.echo(json.dumps(event, ensure_ascii=False))


COMMANDS = (offers, evaluate_cmd, requests, agreements, audit)
