"""The provider's side of the transfer process (Dataspace Protocol 2025-1).

Pull (``HttpData-PULL``): a request names an agreement reached with the same participant by
a FINALIZED negotiation; the agreed dataset version is staged on our tier by the ordinary
staging job of that agreement, and once it is published :func:`start` sends
``TransferStartMessage`` with a data address: our data endpoint for the transfer
(:mod:`connector.dsp.transfer_data`) and a bearer token stored only as its SHA-256. The token is
honoured while the transfer is STARTED, before its expiry and while the agreement is active.

Push (``AmazonS3-PUSH``): the request carries the consumer's S3 address, admitted by
:func:`connector.dsp.transfer_push.admit_target`; the copy itself is
:mod:`connector.dsp.transfer_push`'s, run from :func:`connector.dsp.transfer_progress.advance`.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from connector.dsp import catalog as catalog_messages
from connector.dsp import process, push, transfer_push
from connector.dsp import transfer as messages
from connector.dsp.errors import TransferRefused
from connector.dsp.models import Negotiation, Transfer
from connector.dsp.negotiation_steps import agreement_ended
from connector.dsp.participants import Participant
from connector.dsp.principals import principal_for
from connector.dsp.process import move, new_pid, pids, set_state
from connector.dsp.states import Role
from connector.dsp.transfer_steps import TransferRuntime, ack, first_state, send, terminate, token_hash
from connector.errors import ConnectorError, NotFound
from connector.policies.models import Agreement
from connector.staging import jobs as staging
from connector.staging.models import JobState
from connector.uow import UnitOfWork


def _provider_agreement(uow: UnitOfWork, participant: Participant, agreement_iri: str) -> Negotiation:
    local = catalog_messages.local_id(agreement_iri)
    negotiation = uow.negotiations.finalized_with_agreement(participant.id, local)
    if negotiation is None:
        raise NotFound(f"no agreement {agreement_iri!r} with {participant.id!r}")
    return negotiation


def provider_request(uow: UnitOfWork, runtime: TransferRuntime, participant: Participant,
                     message: Mapping[str, Any], callback_address: str, data_root: str) -> dict[str, Any]:
    """A ``TransferRequestMessage``: a new transfer (or the existing one for a repeated
    ``consumerPid``). Returns the ``TransferProcess`` ACK (``REQUESTED`` when new)."""
    now = runtime.clock()
    with uow:
        existing = uow.transfers.by_counter_pid(participant.id, Role.PROVIDER, message["consumerPid"])
        if existing is not None:
            return ack(existing)
        if message["format"] not in messages.FORMATS:
            raise TransferRefused(f"format {message['format']!r} is not offered; this connector offers "
                                  + ", ".join(sorted(messages.FORMATS)))
        pushed = message["format"] == push.PUSH_FORMAT
        target = transfer_push.admit_target(runtime, participant, message) if pushed else None
        negotiation = _provider_agreement(uow, participant, message["agreementId"])
        agreement = uow.session.scalar(select(Agreement).where(Agreement.id == negotiation.agreement_id))
        ended = agreement_ended(agreement, now)
        if ended:
            raise TransferRefused(f"{ended}; no transfer is possible under it")
        pid = new_pid()
        transfer = Transfer(
            id=str(uuid.uuid4()), pid=pid, counter_pid=message["consumerPid"], role=Role.PROVIDER,
            participant_id=participant.id, project_id=negotiation.project_id,
            state=first_state(), agreement=message["agreementId"], agreement_id=negotiation.agreement_id,
            negotiation_id=negotiation.id, format=message["format"],
            callback_address=callback_address.rstrip("/"),
            endpoint=target.describe() if target else f"{data_root}/{pid}/",
            created_by=f"dsp:{participant.id}"[:64], created_at=now, updated_at=now)
        uow.transfers.add(transfer)
        answer = ack(transfer)
        uow.commit()
        if target is not None:
            runtime.base.secrets.put(pid, target)
        try:
            job, _ = staging.request_staging(uow, principal_for(uow, participant), negotiation.agreement_id,
                                             runtime.staging, now=now)
        except ConnectorError as exc:
            transfer = uow.transfers.by_pk(transfer.pk)
            terminate(uow, transfer, runtime, exc.code,
                       [f"the agreed data cannot be staged: {exc.detail}"], now)
            uow.commit()
            return answer
        transfer = uow.transfers.by_pk(transfer.pk)
        transfer.staging_job_id = job.id
        if job.state == JobState.PUBLISHED and transfer.format != push.PUSH_FORMAT:
            start(uow, transfer, runtime, now)  # a push starts in advance(), outside the request
        uow.commit()
        return answer


def start(uow: UnitOfWork, transfer: Transfer, runtime: TransferRuntime, now: dt.datetime) -> None:
    """Issue a fresh data token and send ``TransferStartMessage`` with the data address."""
    token = "dspd_" + secrets.token_urlsafe(32)
    transfer.token_hash = token_hash(token)
    transfer.token_expires = now + dt.timedelta(seconds=runtime.token_ttl_seconds)
    set_state(transfer, move(transfer, "TransferStartMessage", Role.PROVIDER), now)
    send(uow, transfer, runtime, "/start",
         messages.start(*pids(transfer), messages.data_address(transfer.endpoint or "", token)), now)


def provider_message(uow: UnitOfWork, runtime: TransferRuntime, participant: Participant, provider_pid: str,
                     message: Mapping[str, Any]) -> dict[str, Any]:
    """A message from the consumer on transfer ``provider_pid``: start (resume), completion,
    suspension or termination. Returns the ACK (the state the message led to)."""
    now = runtime.clock()
    with uow:
        transfer = process.own(uow, process.TRANSFERS, participant, provider_pid, Role.PROVIDER)
        process.check_pids(transfer, message)
        kind = message["@type"]
        state = move(transfer, kind, Role.CONSUMER)
        if kind == "TransferStartMessage":
            agreement = uow.session.scalar(select(Agreement).where(Agreement.id == transfer.agreement_id))
            ended = agreement_ended(agreement, now)
            if ended:
                raise TransferRefused(f"{ended}; the transfer cannot resume")
        set_state(transfer, state, now)
        if kind in ("TransferTerminationMessage", "TransferSuspensionMessage"):
            process.record_end(transfer, message)
        uow.commit()
        return ack(transfer)

