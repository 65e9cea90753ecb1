"""Our consumer's side of the transfer process (Dataspace Protocol 2025-1): the provider's
messages, and the data they lead to.

On ``TransferStartMessage`` of a pull, the data address is accepted only on the participant's
configured host, and the staging job of the local agreement mirroring the remote one
(:mod:`connector.dsp.mirror`) is queued (:func:`queue_staging`);
:func:`connector.dsp.transfer_progress.advance` runs it and, once published, sends
``TransferCompletionMessage`` and forgets the token. Meanwhile the ``dsp`` source adapter reads
through that address (:func:`source_options`). How a transfer starts on our side is a team's
use case (:func:`connector.dsp.transfer_management.consumer_start`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from connector.dsp import process, push
from connector.dsp import transfer as messages
from connector.dsp.errors import TransferRefused
from connector.dsp.models import Transfer
from connector.dsp.participants import Participant
from connector.dsp.process import move, set_state
from connector.dsp.states import Role
from connector.dsp.transfer_steps import T, TransferRuntime, ack, terminate
from connector.errors import ConnectorError, NotFound
from connector.identity.models import Project
from connector.identity.principal import Principal
from connector.staging import jobs as staging
from connector.uow import UnitOfWork


def _team_principal(uow: UnitOfWork, transfer: Transfer) -> Principal:
    project = uow.session.get(Project, transfer.project_id)
    return Principal(name=transfer.created_by, role="member", project_ids=frozenset({project.id}),
                     project_org_ids=frozenset({project.organisation_id}))


def _accept_address(transfer: Transfer, participant: Participant, address: Any) -> messages.HttpAddress:
    try:
        found = messages.read_data_address(address)
    except ValueError as exc:
        raise TransferRefused(str(exc)) from exc
    ours = urlsplit(participant.address)
    theirs = urlsplit(found.endpoint)
    if (theirs.scheme, theirs.hostname, theirs.port) != (ours.scheme, ours.hostname, ours.port):
        raise TransferRefused(f"the data endpoint {found.endpoint!r} is not on the participant's "
                              f"configured address {participant.address!r}")
    return found


def consumer_message(uow: UnitOfWork, runtime: TransferRuntime, participant: Participant, consumer_pid: str,
                     message: Mapping[str, Any]) -> dict[str, Any]:
    """A message from the provider on transfer ``consumer_pid``: start (with the data address),
    completion, suspension or termination. Returns the ACK."""
    now = runtime.clock()
    with uow:
        transfer = process.own(uow, process.TRANSFERS, participant, consumer_pid, Role.CONSUMER)
        process.check_pids(transfer, message)
        kind = message["@type"]
        state = move(transfer, kind, Role.PROVIDER)
        pulled = transfer.format != push.PUSH_FORMAT  # a push lands in the team's bucket, not here
        if kind == "TransferStartMessage" and pulled:
            address = _accept_address(transfer, participant, message.get("dataAddress"))
            transfer.endpoint, transfer.token = address.endpoint, address.token
        set_state(transfer, state, now)
        if kind in ("TransferTerminationMessage", "TransferSuspensionMessage"):
            process.record_end(transfer, message)
        answer = ack(transfer)
        uow.commit()
        if kind == "TransferStartMessage" and pulled:
            queue_staging(uow, runtime, transfer.pk, now)
        return answer


def queue_staging(uow: UnitOfWork, runtime: TransferRuntime, transfer_pk: int, now: dt.datetime) -> None:
    with uow:
        transfer = uow.transfers.by_pk(transfer_pk)
        try:
            job, _ = staging.request_staging(uow, _team_principal(uow, transfer), transfer.agreement_id,
                                             runtime.staging, now=now)
        except ConnectorError as exc:
            transfer = uow.transfers.by_pk(transfer_pk)
            terminate(uow, transfer, runtime, exc.code,
                       [f"the data cannot be staged here: {exc.detail}"], now)
            uow.commit()
            return
        transfer = uow.transfers.by_pk(transfer_pk)
        transfer.staging_job_id = job.id
        uow.commit()



def source_options(uow: UnitOfWork, url: str) -> dict[str, Any]:
    """Options of the ``dsp`` source adapter for ``dsp://negotiation/<id>``: the data endpoint
    and bearer token of that negotiation's started transfer, and its host admitted by the
    SSRF guard (it was checked to be the participant's configured host when received)."""
    parts = urlsplit(url)
    if parts.netloc != "negotiation":
        raise NotFound(f"{url!r} is not a dsp://negotiation/<id> source")
    negotiation_id = parts.path.strip("/")
    with uow:
        transfer = uow.transfers.open_of_negotiation(negotiation_id, [T.STARTED])
        if transfer is None or not transfer.token or not transfer.endpoint:
            from connector.adapters.errors import TerminalSourceError

            raise TerminalSourceError(f"{url}: no started transfer holds a data address")
        return {"endpoint": transfer.endpoint, "authorization": f"Bearer {transfer.token}",
                "allowlist": [urlsplit(transfer.endpoint).hostname or ""]}

