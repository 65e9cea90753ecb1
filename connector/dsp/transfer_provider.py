"""Use cases of the transfer process (Dataspace Protocol 2025-1), provider and consumer.

Every inbound message moves the transfer through :data:`connector.dsp.states.TRANSFER` (an
illegal move raises :class:`TransferRefused`, 400, and changes nothing); every message we owe
goes to the outbox in the same transaction as the state it leads to.

Provider, pull (``HttpData-PULL``): a request names an agreement reached with the same
participant by a FINALIZED negotiation; the agreed dataset version is staged on our tier by
the ordinary staging job of that agreement, and once it is published :func:`advance` sends
``TransferStartMessage`` with a data address: our data endpoint for the transfer and a bearer
token stored only as its SHA-256. The token is honoured while the transfer is STARTED, before
its expiry and while the agreement is active.

Consumer: a team asks for the data of a FINALIZED negotiation of its project; the local
agreement mirroring the remote one (:mod:`connector.dsp.mirror`) is recorded first, then
``TransferRequestMessage`` leaves. On ``TransferStartMessage`` the staging job of the mirror
agreement is queued; :func:`advance` (inline, or each worker tick) runs it and, once
published, sends ``TransferCompletionMessage`` and forgets the token.

Provider, push (``AmazonS3-PUSH``, :mod:`connector.dsp.push`): the request carries the
consumer's S3 address, admitted by the push SSRF rule; once the version is staged :func:`advance`
sends ``TransferStartMessage`` (no data address), copies the parts and the manifest to the
bucket, then sends ``TransferCompletionMessage`` (or terminates with ``push-failed``). The
address's credentials live only in :attr:`Runtime.secrets`, never in a row.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import posixpath
import secrets
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select, update

from connector.dsp import catalog as catalog_messages
from connector.dsp import process, push
from connector.dsp import transfer as messages
from connector.dsp.errors import TransferRefused
from connector.dsp.mirror import mirror_agreement
from connector.dsp.models import Negotiation, Transfer
from connector.dsp.negotiation_service import Runtime, agreement_ended
from connector.dsp.participants import Participant
from connector.dsp.principals import principal_for, requester_for
from connector.dsp.process import enqueue, new_pid, pids
from connector.dsp.states import NegotiationState, Role, TransferState
from connector.errors import BadRequest, Conflict, ConnectorError, NotFound, Unauthorized, ValidationFailed
from connector.identity.models import Project
from connector.identity.principal import Principal
from connector.policies.models import Agreement
from connector.staging import service as staging
from connector.staging.models import JobState, StagingJob
from connector.staging.settings import StagingSettings
from connector.staging.storage import StorageTier
from connector.uow import UnitOfWork

T = TransferState
OPEN = (T.REQUESTED, T.STARTED, T.SUSPENDED)
DEFAULT_TOKEN_TTL_SECONDS = 3600
#: How long a STARTED push may go without renewing its lease (each file copied renews it).
DEFAULT_PUSH_LEASE_SECONDS = 900


class DataAccessDenied(Unauthorized):
    code, title = "data-token-refused", "Data token refused"


@dataclass(frozen=True)
class TransferRuntime:
    """The negotiation runtime plus what transfers need: staging settings and the schemas."""

    base: Runtime
    staging: StagingSettings
    schemas: Any
    token_ttl_seconds: float = DEFAULT_TOKEN_TTL_SECONDS
    push_lease_seconds: float = DEFAULT_PUSH_LEASE_SECONDS
    run_jobs_inline: bool = True

    @property
    def clock(self):  # noqa: ANN201
        return self.base.clock


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def ack(transfer: Transfer) -> dict[str, Any]:
    return messages.ack(*pids(transfer), transfer.state)


def status(uow: UnitOfWork, participant: Participant, pid: str, role: Role) -> dict[str, Any]:
    """The ``TransferProcess`` of our transfer ``pid`` for ``participant`` (404 otherwise)."""
    with uow:
        return ack(process.own(uow, process.TRANSFERS, participant, pid, role))


_set_state = process.set_state
_move = process.move


def _send(uow: UnitOfWork, transfer: Transfer, runtime: TransferRuntime, suffix: str,
          message: dict[str, Any], now: dt.datetime) -> None:
    process.send(uow, transfer, runtime.base.participants, suffix, message, now)


def _terminate(uow: UnitOfWork, transfer: Transfer, runtime: TransferRuntime, code: str,
               reasons: list[str], now: dt.datetime) -> None:
    """End the transfer on our side with a reason and tell the peer."""
    process.end(transfer, code, reasons, now)
    runtime.base.secrets.drop(transfer.pid, session=uow.session)  # with the termination
    if transfer.counter_pid:
        _send(uow, transfer, runtime, "/termination", messages.termination(*pids(transfer), code, reasons),
              now)


# --- provider -----------------------------------------------------------------------------

def _provider_agreement(uow: UnitOfWork, participant: Participant, agreement_iri: str) -> Negotiation:
    local = catalog_messages.local_id(agreement_iri)
    negotiation = uow.session.scalar(select(Negotiation).where(
        Negotiation.role == Role.PROVIDER, Negotiation.agreement_id == local,
        Negotiation.participant_id == participant.id, Negotiation.state == NegotiationState.FINALIZED))
    if negotiation is None:
        raise NotFound(f"no agreement {agreement_iri!r} with {participant.id!r}")
    return negotiation


def provider_request(uow: UnitOfWork, runtime: TransferRuntime, participant: Participant,
                     message: Mapping[str, Any], callback_address: str, data_root: str) -> dict[str, Any]:
    """A ``TransferRequestMessage``: a new transfer (or the existing one for a repeated
    ``consumerPid``). Returns the ``TransferProcess`` ACK (``REQUESTED`` when new)."""
    now = runtime.clock()
    with uow:
        existing = uow.session.scalar(select(Transfer).where(
            Transfer.participant_id == participant.id, Transfer.role == Role.PROVIDER,
            Transfer.counter_pid == message["consumerPid"]))
        if existing is not None:
            return ack(existing)
        if message["format"] not in messages.FORMATS:
            raise TransferRefused(f"format {message['format']!r} is not offered; this connector offers "
                                  + ", ".join(sorted(messages.FORMATS)))
        target = _push_target(runtime, participant, message) if message["format"] == push.PUSH_FORMAT \
            else None
        negotiation = _provider_agreement(uow, participant, message["agreementId"])
        agreement = uow.session.scalar(select(Agreement).where(Agreement.id == negotiation.agreement_id))
        ended = agreement_ended(agreement, now)
        if ended:
            raise TransferRefused(f"{ended}; no transfer is possible under it")
        pid = new_pid()
        transfer = Transfer(
            id=str(uuid.uuid4()), pid=pid, counter_pid=message["consumerPid"], role=Role.PROVIDER,
            participant_id=participant.id, project_id=negotiation.project_id,
            state=_move_new(), agreement=message["agreementId"], agreement_id=negotiation.agreement_id,
            negotiation_id=negotiation.id, format=message["format"],
            callback_address=callback_address.rstrip("/"),
            endpoint=target.describe() if target else f"{data_root}/{pid}/",
            created_by=f"dsp:{participant.id}"[:64], created_at=now, updated_at=now)
        uow.session.add(transfer)
        uow.session.flush()
        answer = ack(transfer)
        uow.commit()
        if target is not None:
            runtime.base.secrets.put(pid, target)
        try:
            job, _ = staging.request_staging(uow, principal_for(uow, participant), negotiation.agreement_id,
                                             runtime.staging, now=now)
        except ConnectorError as exc:
            transfer = uow.session.get(Transfer, transfer.pk)
            _terminate(uow, transfer, runtime, exc.code,
                       [f"the agreed data cannot be staged: {exc.detail}"], now)
            uow.commit()
            return answer
        transfer = uow.session.get(Transfer, transfer.pk)
        transfer.staging_job_id = job.id
        if job.state == JobState.PUBLISHED and transfer.format != push.PUSH_FORMAT:
            _start(uow, transfer, runtime, now)  # a push starts in advance(), outside the request
        uow.commit()
        return answer


def _push_target(runtime: TransferRuntime, participant: Participant,
                 message: Mapping[str, Any]) -> push.S3Address:
    """The consumer's S3 address of a push request, admitted by the push SSRF rule."""
    try:
        target = push.read_s3_address(message.get("dataAddress"))
        push.admit_endpoint(target, participant.address, runtime.staging.source_allowlist)
    except ValueError as exc:
        raise TransferRefused(str(exc)) from exc
    return target


def _move_new() -> str:
    return process.first_state(process.TRANSFERS, "TransferRequestMessage", Role.CONSUMER)


def _start(uow: UnitOfWork, transfer: Transfer, runtime: TransferRuntime, now: dt.datetime) -> None:
    """Issue a fresh data token and send ``TransferStartMessage`` with the data address."""
    token = "dspd_" + secrets.token_urlsafe(32)
    transfer.token_hash = _hash(token)
    transfer.token_expires = now + dt.timedelta(seconds=runtime.token_ttl_seconds)
    _set_state(transfer, _move(transfer, "TransferStartMessage", Role.PROVIDER), now)
    _send(uow, transfer, runtime, "/start",
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
        state = _move(transfer, kind, Role.CONSUMER)
        if kind == "TransferStartMessage":
            agreement = uow.session.scalar(select(Agreement).where(Agreement.id == transfer.agreement_id))
            ended = agreement_ended(agreement, now)
            if ended:
                raise TransferRefused(f"{ended}; the transfer cannot resume")
        _set_state(transfer, state, now)
        if kind in ("TransferTerminationMessage", "TransferSuspensionMessage"):
            process.record_end(transfer, message)
        uow.commit()
        return ack(transfer)


# --- the data endpoint (provider) ----------------------------------------------------------

@dataclass(frozen=True)
class PublishedData:
    """The published version a data token opens: where it lies on our tier and its manifest."""

    project: str
    dataset: str
    version: str
    manifest: dict[str, Any]

    def names(self) -> list[str]:
        return ["_manifest.json", *(item["path"] for item in self.manifest["files"])]


def open_data(uow: UnitOfWork, provider_pid: str, token: str | None, *, now: dt.datetime) -> PublishedData:
    """What the bearer of ``token`` may read of transfer ``provider_pid``; DataAccessDenied (401)
    for a missing, wrong, expired or ended token, or an agreement no longer active."""
    if not token:
        raise DataAccessDenied("send the token of the transfer's data address as Authorization: Bearer")
    with uow:
        transfer = uow.session.scalar(select(Transfer).where(Transfer.token_hash == _hash(token),
                                                             Transfer.role == Role.PROVIDER))
        if transfer is None or transfer.pid != provider_pid:
            raise DataAccessDenied("unknown or ended data token")
        if transfer.state != T.STARTED:
            raise DataAccessDenied(f"the transfer is {transfer.state}; its token is not honoured")
        if transfer.token_expires is None or transfer.token_expires <= now:
            raise DataAccessDenied("the data token expired")
        agreement = uow.session.scalar(select(Agreement).where(Agreement.id == transfer.agreement_id))
        ended = agreement_ended(agreement, now)
        if ended:
            raise DataAccessDenied(ended)
        job = uow.session.scalar(select(StagingJob).where(StagingJob.id == transfer.staging_job_id))
        if job is None or job.state != JobState.PUBLISHED or job.manifest is None:
            raise DataAccessDenied("the agreed data is no longer staged")
        return PublishedData(job.project.slug, job.dataset.id, str(job.dataset_version), job.manifest)


# --- consumer -----------------------------------------------------------------------------

def _team_principal(uow: UnitOfWork, transfer: Transfer) -> Principal:
    project = uow.session.get(Project, transfer.project_id)
    return Principal(name=transfer.created_by, role="member", project_ids=frozenset({project.id}),
                     project_org_ids=frozenset({project.organisation_id}))


def consumer_start(uow: UnitOfWork, runtime: TransferRuntime, principal: Principal, negotiation_id: str,
                   callback_address: str, *, target: push.S3Address | None = None) -> tuple[Transfer, bool]:
    """A team asks for the data of a FINALIZED negotiation of its project: pulled and staged
    here, or, with ``target``, pushed by the provider to that S3 address. The open transfer
    of that negotiation is returned when there is one. Returns (transfer, created)."""
    from connector.dsp import negotiation_service

    now = runtime.clock()
    with uow:
        negotiation = negotiation_service.get(uow, principal, negotiation_id)
        if negotiation.role != Role.CONSUMER:
            raise BadRequest("data is asked for on a negotiation in which we are the consumer")
        if negotiation.state != NegotiationState.FINALIZED or not negotiation.agreement:
            raise Conflict(f"the negotiation is {negotiation.state}; data follows only a FINALIZED one")
        participant = runtime.base.participants.get(negotiation.participant_id)
        if participant is None:
            raise Conflict(f"participant {negotiation.participant_id!r} is no longer configured")
        existing = uow.session.scalar(select(Transfer).where(
            Transfer.negotiation_id == negotiation.id, Transfer.role == Role.CONSUMER,
            Transfer.state.in_(OPEN)))
        if existing is not None:
            return existing, False
        project = uow.session.get(Project, negotiation.project_id)
        agreement = uow.session.scalar(select(Agreement).where(Agreement.id == negotiation.agreement_id)) \
            if negotiation.agreement_id else None
        if agreement is None:
            agreement = mirror_agreement(uow, principal, negotiation, project, runtime.schemas,
                                         site=runtime.base.site, now=now)
        ended = agreement_ended(agreement, now)
        if ended:
            raise Conflict(f"the local agreement {agreement.id} mirroring the remote one: {ended}")
        transfer = Transfer(
            id=str(uuid.uuid4()), pid=new_pid(), counter_pid=None, role=Role.CONSUMER,
            participant_id=participant.id, project_id=project.id, state=_move_new(),
            agreement=str(negotiation.agreement["@id"]), agreement_id=agreement.id,
            negotiation_id=negotiation.id, callback_address=callback_address,
            format=push.PUSH_FORMAT if target else messages.PULL_FORMAT,
            endpoint=target.describe() if target else None,
            created_by=principal.name, created_at=now, updated_at=now)
        uow.session.add(transfer)
        uow.session.flush()
        address = push.document(target) if target else None  # credentials withheld in the outbox
        enqueue(uow, transfer, f"{participant.address}/transfers/request",
                messages.request(transfer.pid, transfer.agreement, callback_address, transfer.format,
                                 address), now)
        uow.commit()
        if target is not None:
            runtime.base.secrets.put(transfer.pid, target)
        return transfer, True


def trigger_start(uow: UnitOfWork, runtime: TransferRuntime, participant: Participant,
                  body: Mapping[str, Any], callback_address: str) -> tuple[Transfer, bool]:
    """The Dataspace TCK's transfer trigger: ``participant`` has us, as consumer, ask it for the
    data of ``agreementId``, an agreement a FINALIZED negotiation of its configured project
    reached with it (:func:`consumer_start`, as if a member of the project asked). Only
    ``HttpData-PULL``: a push needs the team's bucket and credentials, which a trigger cannot name."""
    from connector.dsp import negotiation_service

    negotiation_service.check_trigger(participant, body)
    if body["format"] != messages.PULL_FORMAT:
        raise ValidationFailed([{"path": "$.format", "message": f"a trigger asks for {messages.PULL_FORMAT} "
                                 "only; a push names its bucket through /api/v1/transfers"}])
    with uow:  # one transaction: the requesting user requester_for creates is kept with the transfer
        principal = requester_for(uow, participant)
        finalized = uow.session.scalars(select(Negotiation).where(
            Negotiation.role == Role.CONSUMER, Negotiation.participant_id == participant.id,
            Negotiation.state == NegotiationState.FINALIZED,
            Negotiation.project_id.in_(principal.project_ids)))
        found = [negotiation.id for negotiation in finalized
                 if (negotiation.agreement or {}).get("@id") == body["agreementId"]]
        if not found:
            raise NotFound(f"no FINALIZED negotiation with {participant.id!r} reached agreement "
                           f"{body['agreementId']!r}")
        return consumer_start(uow, runtime, principal, found[0], callback_address)


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
        state = _move(transfer, kind, Role.PROVIDER)
        pulled = transfer.format != push.PUSH_FORMAT  # a push lands in the team's bucket, not here
        if kind == "TransferStartMessage" and pulled:
            address = _accept_address(transfer, participant, message.get("dataAddress"))
            transfer.endpoint, transfer.token = address.endpoint, address.token
        _set_state(transfer, state, now)
        if kind in ("TransferTerminationMessage", "TransferSuspensionMessage"):
            process.record_end(transfer, message)
        answer = ack(transfer)
        uow.commit()
        if kind == "TransferStartMessage" and pulled:
            _queue_staging(uow, runtime, transfer.pk, now)
        return answer


def _queue_staging(uow: UnitOfWork, runtime: TransferRuntime, transfer_pk: int, now: dt.datetime) -> None:
    with uow:
        transfer = uow.session.get(Transfer, transfer_pk)
        try:
            job, _ = staging.request_staging(uow, _team_principal(uow, transfer), transfer.agreement_id,
                                             runtime.staging, now=now)
        except ConnectorError as exc:
            transfer = uow.session.get(Transfer, transfer_pk)
            _terminate(uow, transfer, runtime, exc.code,
                       [f"the data cannot be staged here: {exc.detail}"], now)
            uow.commit()
            return
        transfer = uow.session.get(Transfer, transfer_pk)
        transfer.staging_job_id = job.id
        uow.commit()


# --- progress: staging jobs, starts, completions ---------------------------------------------

def _run_job(uow: UnitOfWork, runtime: TransferRuntime, job_id: str, worker: str) -> None:
    claimed = staging.claim_job(uow, worker, runtime.staging, now=runtime.clock(), job_id=job_id)
    if claimed is not None:
        staging.run_job(uow, claimed, worker, runtime.staging, clock=runtime.clock)


def advance(uow: UnitOfWork, runtime: TransferRuntime, *, worker: str = "dsp-transfer") -> int:
    """Move transfers whose staging job has progressed: provider REQUESTED -> STARTED (or
    TERMINATED when staging failed), consumer STARTED -> COMPLETED once staged; STARTED
    provider transfers whose agreement ended are terminated. With ``run_jobs_inline`` the due
    jobs of these transfers run here first. Returns how many transfers moved."""
    with uow:
        rows = uow.session.execute(
            select(Transfer.pk, Transfer.role, Transfer.staging_job_id, StagingJob.state)
            .join(StagingJob, StagingJob.id == Transfer.staging_job_id)
            .where(((Transfer.role == Role.PROVIDER) & (Transfer.state == T.REQUESTED))
                   | ((Transfer.role == Role.CONSUMER) & (Transfer.state == T.STARTED)))).all()
    if runtime.run_jobs_inline:
        for _, _, job_id, job_state in rows:
            if job_state in staging.ACTIVE_STATES:
                _run_job(uow, runtime, job_id, worker)
    moved = 0
    now = runtime.clock()
    pushes: list[int] = []
    with uow:
        candidates = uow.session.execute(
            select(Transfer, StagingJob).join(StagingJob, StagingJob.id == Transfer.staging_job_id)
            .where(Transfer.pk.in_([row[0] for row in rows]))).all()
        for transfer, job in candidates:
            if transfer.state not in (T.REQUESTED, T.STARTED):
                continue
            if job.state == JobState.PUBLISHED:
                if transfer.role == Role.PROVIDER and transfer.format == push.PUSH_FORMAT:
                    if _begin_push(uow, transfer, runtime, now):
                        pushes.append(transfer.pk)
                elif transfer.role == Role.PROVIDER:
                    _start(uow, transfer, runtime, now)
                else:
                    _set_state(transfer, _move(transfer, "TransferCompletionMessage", Role.CONSUMER), now)
                    _send(uow, transfer, runtime, "/completion", messages.completion(*pids(transfer)), now)
                moved += 1
            elif job.state in (JobState.FAILED, JobState.CANCELLED, JobState.REMOVED):
                detail = (job.error or {}).get("detail") or f"the staging job is {job.state}"
                _terminate(uow, transfer, runtime, "staging-failed", [f"staging failed: {detail}"], now)
                moved += 1
        for transfer, agreement in uow.session.execute(
                select(Transfer, Agreement).join(Agreement, Agreement.id == Transfer.agreement_id)
                .where(Transfer.role == Role.PROVIDER, Transfer.state.in_(OPEN))).all():
            ended = agreement_ended(agreement, now)
            if ended:
                _terminate(uow, transfer, runtime, "agreement-ended", [ended], now)
                moved += 1
        moved += _end_interrupted_pushes(uow, runtime, now)
        uow.commit()
    for pk in pushes:
        _push(uow, runtime, pk)
    return moved


def _end_interrupted_pushes(uow: UnitOfWork, runtime: TransferRuntime, now: dt.datetime) -> int:
    """Terminate STARTED pushes whose lease ran out: the process copying them died (their
    address lived only in its memory), so nobody will complete them."""
    expired = now - dt.timedelta(seconds=runtime.push_lease_seconds)
    stale = uow.session.scalars(select(Transfer).where(
        Transfer.role == Role.PROVIDER, Transfer.format == push.PUSH_FORMAT, Transfer.state == T.STARTED,
        Transfer.updated_at < expired)).all()
    for transfer in stale:
        _terminate(uow, transfer, runtime, "push-interrupted",
                   [f"the push stopped making progress (no file copied for {runtime.push_lease_seconds:g} s; "
                    "the provider probably restarted); what reached the bucket may be incomplete: "
                    "request the transfer again"], now)
    return len(stale)


def _renew_lease(uow: UnitOfWork, runtime: TransferRuntime, transfer_pk: int) -> None:
    with uow:
        uow.session.execute(update(Transfer).where(Transfer.pk == transfer_pk, Transfer.state == T.STARTED)
                            .values(updated_at=runtime.clock()).execution_options(synchronize_session=False))
        uow.commit()


def _begin_push(uow: UnitOfWork, transfer: Transfer, runtime: TransferRuntime, now: dt.datetime) -> bool:
    """STARTED, and ``TransferStartMessage`` (no data address) queued; False when the push
    address is no longer kept (the transfer is terminated)."""
    if runtime.base.secrets.get(transfer.pid) is None:
        _terminate(uow, transfer, runtime, "push-credentials-lost",
                   ["the push address and its credentials are no longer kept (expired or dropped); "
                    "request the transfer again"], now)
        return False
    _set_state(transfer, _move(transfer, "TransferStartMessage", Role.PROVIDER), now)
    _send(uow, transfer, runtime, "/start", messages.start(*pids(transfer)), now)
    return True


def _push(uow: UnitOfWork, runtime: TransferRuntime, transfer_pk: int) -> None:
    """Copy the staged parts and the manifest to the consumer's bucket (no transaction held
    meanwhile), then complete the transfer, or terminate it with ``push-failed``."""
    with uow:
        transfer = uow.session.get(Transfer, transfer_pk)
        job = uow.session.scalar(select(StagingJob).where(StagingJob.id == transfer.staging_job_id))
        pid = transfer.pid
        tier = StorageTier.from_url(runtime.staging.storage_url, **runtime.staging.storage_options)
        folder = tier.version_path(job.project.slug, job.dataset.id, str(job.dataset_version))
        names = [item["path"] for item in job.manifest["files"]] + ["_manifest.json"]
    target = runtime.base.secrets.get(pid)
    failure = None
    try:
        if target is None:
            raise push.PushFailed("the push address was lost")
        push.copy_files(tier.fs, folder, names, target,
                        before_each=lambda _name: _renew_lease(uow, runtime, transfer_pk))
    except push.PushFailed as exc:
        failure = str(exc)
    now = runtime.clock()
    with uow:
        transfer = uow.session.get(Transfer, transfer_pk)
        runtime.base.secrets.drop(pid)
        if transfer.state == T.STARTED:
            if failure is not None:
                where = target.describe() if target else "the consumer's bucket"
                _terminate(uow, transfer, runtime, "push-failed", [f"the push to {where} failed: {failure}"],
                           now)
            else:
                _set_state(transfer, _move(transfer, "TransferCompletionMessage", Role.PROVIDER), now)
                _send(uow, transfer, runtime, "/completion", messages.completion(*pids(transfer)), now)
        uow.commit()


# --- management (our teams and stewards) ----------------------------------------------------

def _may_see(uow: UnitOfWork, principal: Principal, transfer: Transfer) -> bool:
    if principal.is_admin or transfer.project_id in principal.project_ids:
        return transfer.role == Role.CONSUMER or principal.is_admin
    if transfer.role == Role.PROVIDER:
        agreement = uow.session.scalar(select(Agreement).where(Agreement.id == transfer.agreement_id))
        return agreement is not None and principal.stewards(agreement.dataset.organisation_id)
    return False


def get(uow: UnitOfWork, principal: Principal, transfer_id: str) -> Transfer:
    with uow:
        return process.visible(uow, process.TRANSFERS, principal, transfer_id, _may_see)


def list_transfers(uow: UnitOfWork, principal: Principal, *, role: str | None = None) -> list[Transfer]:
    with uow:
        return process.all_visible(uow, process.TRANSFERS, principal, _may_see, role=role)


def act(uow: UnitOfWork, runtime: TransferRuntime, principal: Principal, transfer_id: str, action: str,
        reason: str | None) -> Transfer:
    """Our side suspends, resumes, completes or terminates a transfer; the peer is told. A
    provider that resumes sends a fresh data address; a consumer that resumes keeps the one it
    has. Only the provider completes by hand (a pull it has served; the data token ends): our
    consumer side completes on its own once the data is staged."""
    now = runtime.clock()
    kinds = {"suspend": "TransferSuspensionMessage", "resume": "TransferStartMessage",
             "complete": "TransferCompletionMessage", "terminate": "TransferTerminationMessage"}
    with uow:
        transfer = get(uow, principal, transfer_id)
        role = Role(transfer.role)
        if not transfer.counter_pid:
            raise Conflict("the provider has not acknowledged the request yet; try again shortly")
        if transfer.format == push.PUSH_FORMAT and action != "terminate":
            raise TransferRefused("a push transfer runs to its end; it can only be terminated")
        if action == "complete" and role != Role.PROVIDER:
            raise TransferRefused("our consumer side completes a transfer itself once the data is staged")
        reasons = [reason or f"{action} by the {role} ({principal.name})"]
        state = _move(transfer, kinds[action], role)
        if action == "terminate":
            _terminate(uow, transfer, runtime, f"terminated-by-{role}", reasons, now)
        elif action == "complete":
            _set_state(transfer, state, now)
            transfer.token_hash = None
            _send(uow, transfer, runtime, "/completion", messages.completion(*pids(transfer)), now)
        elif action == "suspend":
            _set_state(transfer, state, now)
            transfer.termination_code, transfer.termination_reason = f"suspended-by-{role}", reasons
            _send(uow, transfer, runtime, "/suspension",
                  messages.suspension(*pids(transfer), f"suspended-by-{role}", reasons), now)
        elif role == Role.PROVIDER:
            _start(uow, transfer, runtime, now)
        else:
            _set_state(transfer, state, now)
            _send(uow, transfer, runtime, "/start", messages.start(*pids(transfer)), now)
        uow.commit()
        if action == "resume" and role == Role.CONSUMER:
            _queue_staging(uow, runtime, transfer.pk, now)
        return transfer


def source_options(uow: UnitOfWork, url: str) -> dict[str, Any]:
    """Options of the ``dsp`` source adapter for ``dsp://negotiation/<id>``: the data endpoint
    and bearer token of that negotiation's started transfer, and its host admitted by the
    SSRF guard (it was checked to be the participant's configured host when received)."""
    parts = urlsplit(url)
    if parts.netloc != "negotiation":
        raise NotFound(f"{url!r} is not a dsp://negotiation/<id> source")
    negotiation_id = parts.path.strip("/")
    with uow:
        transfer = uow.session.scalar(select(Transfer).where(
            Transfer.negotiation_id == negotiation_id, Transfer.role == Role.CONSUMER,
            Transfer.state == T.STARTED).order_by(Transfer.pk.desc()).limit(1))
        if transfer is None or not transfer.token or not transfer.endpoint:
            from connector.adapters.errors import TerminalSourceError

            raise TerminalSourceError(f"{url}: no started transfer holds a data address")
        return {"endpoint": transfer.endpoint, "authorization": f"Bearer {transfer.token}",
                "allowlist": [urlsplit(transfer.endpoint).hostname or ""]}



def data_file(tier: StorageTier, data: PublishedData, name: str, *,
              chunk_size: int = 1 << 20) -> tuple[int, Iterator[bytes]]:
    """The size and the bytes of one file of the published version (the manifest or a part it
    lists); NotFound for any other name."""
    if name not in data.names():
        raise NotFound(f"no file {name!r} in this transfer")
    path = posixpath.join(tier.version_path(data.project, data.dataset, data.version), name)
    size = int(tier.fs.size(path))

    def chunks() -> Iterator[bytes]:
        with tier.fs.open(path, "rb") as handle:
            while True:
                chunk = handle.read(chunk_size)
                if not chunk:
                    return
                yield chunk

    return size, chunks()
