"""``connector negotiations|transfers``: Dataspace Protocol negotiations and transfers from the
command line, as the operator, over the same use cases as ``/api/v1/negotiations`` and
``/api/v1/transfers``.

Whatever a command leaves to send goes out before it returns (the outbox of this process, as
``connector serve`` does after a request); the rest of the conversation (the peer's answers)
reaches the running server. ``PUBLIC_BASE_URL`` must be set: it is our callback address.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import click

from connector.cli.common import Context, emit, handle_errors, json_option, pass_context

ROLE = click.Choice(["provider", "consumer"])


def _app(ctx: Context) -> Any:
    """The application (the DSP runtime lives in its extensions), built once per command."""
    if getattr(ctx, "_dsp_app", None) is None:
        from connector.app import create_app
        from connector.config import load_config

        ctx._dsp_app = create_app(load_config({"AUTO_MIGRATE": False}))  # type: ignore[attr-defined]
    return ctx._dsp_app  # type: ignore[attr-defined]


def _callback(app: Any) -> str:
    from connector.dsp.api import BASE_PATH
    from connector.dsp.negotiation_api import CALLBACK

    return app.config["PUBLIC_BASE_URL"].rstrip("/") + BASE_PATH + CALLBACK


def _operator():
    from connector.identity.principal import OPERATOR

    return OPERATOR


def _member(app: Any, user: str):
    from connector.identity.service import principal_named

    return principal_named(_uow(app), user)


def _uow(app: Any):
    from connector.uow import UnitOfWork

    return UnitOfWork(app.extensions["connector"].session_factory)


def _deliver(app: Any) -> None:
    from connector.dsp.transfer_api import deliver

    deliver(app)


def _reason(item: dict[str, Any]) -> str:
    reason = item.get("reason") or {}
    return f"  {reason.get('code')}: {'; '.join(reason.get('reason') or [])}" if reason else ""


def _negotiation_line(item: dict[str, Any]) -> str:
    return (f"{item['id']}  {item['role']:<8}  {item['state']:<10}  {item['participant']}  "
            f"{item['dataset']}{_reason(item)}")


def _transfer_line(item: dict[str, Any]) -> str:
    return (f"{item['id']}  {item['role']:<8}  {item['state']:<10}  {item['participant']}  "
            f"{item['format']}  job={item['stagingJob'] or '-'}{_reason(item)}")


def _read_json(value: str, what: str) -> Any:
    from connector.errors import ValidationFailed

    try:
        text = Path(value[1:]).read_text(encoding="utf-8") if value.startswith("@") else value
        return json.loads(text)
    except (OSError, ValueError) as exc:
        raise ValidationFailed([{"path": f"$.{what}", "message": f"not readable JSON: {exc}"}]) from exc


def _with_app(func=None, *, calls_back: bool = False):
    """Give the command the application and close its engine afterwards; with ``calls_back``,
    refuse first when ``PUBLIC_BASE_URL`` (our callback address) is not set."""
    if func is None:
        return functools.partial(_with_app, calls_back=calls_back)

    @functools.wraps(func)
    def wrapper(ctx: Context, *args: Any, **kwargs: Any) -> Any:
        if calls_back:
            from connector.config import load_config
            from connector.errors import BadRequest

            if not load_config({"AUTO_MIGRATE": False}).get("PUBLIC_BASE_URL"):
                raise BadRequest("set PUBLIC_BASE_URL: peers call us back there")
        app = _app(ctx)
        try:
            return func(app, *args, **kwargs)
        finally:
            app.extensions["connector"].engine.dispose()

    return wrapper


# --- negotiations -------------------------------------------------------------------------

@click.group()
def negotiations() -> None:
    """Contract negotiations (Dataspace Protocol): start, list, show."""


@negotiations.command("start")
@click.option("--participant", required=True, help="A configured participant id (DSP_PARTICIPANTS).")
@click.option("--project", required=True, help="Our project the data is for.")
@click.option("--dataset", required=True, help="Their dataset @id.")
@click.option("--offer", required=True,
              help="Their offer @id, or the Offer as JSON (inline, or @file.json).")
@click.option("--as", "user", required=True, help="The project member asking.")
@json_option
@pass_context
@handle_errors
@_with_app(calls_back=True)
def negotiations_start(app: Any, participant: str, project: str, dataset: str, offer: str, user: str,
                       as_json: bool) -> None:
    """Ask PARTICIPANT for DATASET under OFFER (the request leaves at once)."""
    from connector.dsp import negotiation_management as service
    from connector.dsp.negotiation_api import runtime_of, serialize

    chosen: Any = _read_json(offer, "offer") if offer.lstrip().startswith(("{", "@")) else offer
    body = {"participant": participant, "project": project, "dataset": dataset, "offer": chosen}
    negotiation = service.consumer_start(_uow(app), runtime_of(app), _member(app, user), body, _callback(app))
    _deliver(app)
    shown = serialize(service.get(_uow(app), _operator(), negotiation.id))
    emit(as_json, shown, _negotiation_line(shown))


@negotiations.command("list")
@click.option("--role", type=ROLE)
@json_option
@pass_context
@handle_errors
@_with_app
def negotiations_list(app: Any, role: str | None, as_json: bool) -> None:
    """List negotiations, ours as consumer and as provider."""
    from connector.dsp import negotiation_management as service
    from connector.dsp.negotiation_api import serialize

    items = [serialize(n) for n in service.list_negotiations(_uow(app), _operator(), role=role)]
    emit(as_json, items, "\n".join(_negotiation_line(i) for i in items) or "no negotiations")


@negotiations.command("show")
@click.argument("negotiation_id")
@json_option
@pass_context
@handle_errors
@_with_app
def negotiations_show(app: Any, negotiation_id: str, as_json: bool) -> None:
    """Show one negotiation, with the agreement when there is one."""
    from connector.dsp import negotiation_management as service
    from connector.dsp.negotiation_api import serialize

    shown = serialize(service.get(_uow(app), _operator(), negotiation_id))
    emit(as_json, shown, _negotiation_line(shown) + (
        f"\nagreement {shown['agreement']['@id']}" if shown.get("agreement") else ""))


# --- transfers ----------------------------------------------------------------------------

@click.group()
def transfers() -> None:
    """Transfer processes (Dataspace Protocol): start, list, show, suspend, resume, terminate."""


@transfers.command("start")
@click.argument("negotiation_id")
@click.option("--push-to", "push_to", metavar="JSON",
              help="Have the provider push to this S3 DataAddress (AmazonS3-PUSH), inline or @file.json; "
                   "else the data is pulled and staged here.")
@click.option("--as", "user", required=True, help="The project member asking.")
@json_option
@pass_context
@handle_errors
@_with_app(calls_back=True)
def transfers_start(app: Any, negotiation_id: str, push_to: str | None, user: str, as_json: bool) -> None:
    """Ask for the data of the FINALIZED negotiation NEGOTIATION_ID (the request leaves at once)."""
    from connector.dsp import transfer_management as service
    from connector.dsp.push import read_s3_address
    from connector.dsp.transfer_api import serialize, transfer_runtime
    from connector.errors import ValidationFailed

    target = None
    if push_to is not None:
        try:
            target = read_s3_address(_read_json(push_to, "dataAddress"))
        except ValueError as exc:
            raise ValidationFailed([{"path": "$.dataAddress", "message": str(exc)}]) from exc
    transfer, _ = service.consumer_start(_uow(app), _runtime(app, transfer_runtime), _member(app, user),
                                         negotiation_id, _callback(app), target=target)
    _deliver(app)  # push credentials live in this process only: send before it ends
    shown = serialize(service.get(_uow(app), _operator(), transfer.id))
    emit(as_json, shown, _transfer_line(shown))


def _runtime(app: Any, transfer_runtime: Any) -> Any:
    import dataclasses

    from connector.dsp.negotiation_api import runtime_of

    return dataclasses.replace(transfer_runtime(app), base=runtime_of(app))


@transfers.command("list")
@click.option("--role", type=ROLE)
@json_option
@pass_context
@handle_errors
@_with_app
def transfers_list(app: Any, role: str | None, as_json: bool) -> None:
    """List transfer processes, ours as consumer and as provider."""
    from connector.dsp import transfer_management as service
    from connector.dsp.transfer_api import serialize

    items = [serialize(t) for t in service.list_transfers(_uow(app), _operator(), role=role)]
    emit(as_json, items, "\n".join(_transfer_line(i) for i in items) or "no transfers")


@transfers.command("show")
@click.argument("transfer_id")
@json_option
@pass_context
@handle_errors
@_with_app
def transfers_show(app: Any, transfer_id: str, as_json: bool) -> None:
    """Show one transfer process."""
    from connector.dsp import transfer_management as service
    from connector.dsp.transfer_api import serialize

    shown = serialize(service.get(_uow(app), _operator(), transfer_id))
    emit(as_json, shown, _transfer_line(shown))


def _act(action: str):
    @transfers.command(action, help=f"{action.capitalize()} transfer TRANSFER_ID; the other side is told.")
    @click.argument("transfer_id")
    @click.option("--reason", help="Told to the other side.")
    @json_option
    @pass_context
    @handle_errors
    @_with_app
    def command(app: Any, transfer_id: str, reason: str | None, as_json: bool) -> None:
        from connector.dsp import transfer_management as service
        from connector.dsp.transfer_api import serialize, transfer_runtime
        from connector.errors import ValidationFailed

        if reason is not None and not reason.strip():
            raise ValidationFailed([{"path": "$.reason", "message": "a non-empty string"}])
        transfer = service.act(_uow(app), _runtime(app, transfer_runtime), _operator(), transfer_id, action,
                               reason)
        _deliver(app)
        shown = serialize(service.get(_uow(app), _operator(), transfer.id))
        emit(as_json, shown, _transfer_line(shown))

    return command


for _action in ("suspend", "resume", "terminate"):
    _act(_action)

COMMANDS = (negotiations, transfers)
