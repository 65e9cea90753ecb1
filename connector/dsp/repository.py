"""Queries over the DSP process tables: negotiations, transfers and the outbox.

Hung off the unit of work (``uow.negotiations``, ``uow.transfers``, ``uow.outbox``). Each query
is written once here; repositories add, read and update rows, and never commit. The trust state
(issued token hashes, sealed secrets) keeps its own short transactions in
:class:`connector.dsp.trust.TrustStore`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any, Generic, TypeVar

from sqlalchemy import exists, or_, select, update
from sqlalchemy.orm import Session, aliased

from connector.dsp.models import Negotiation, OutboxMessage, OutboxState, Transfer
from connector.dsp.states import NegotiationState, Role, TransferState
from connector.policies.models import AccessRequest, Agreement, RequestState
from connector.staging.models import StagingJob

P = TypeVar("P", Negotiation, Transfer)


class _ProcessRepository(Generic[P]):
    """What negotiations and transfers are looked up by alike: id, our pid, the peer's pid."""

    model: type[P]

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: P) -> None:
        """Add ``row`` and flush it, so its ``pk`` is known (outbox entries point at it)."""
        self.session.add(row)
        self.session.flush()

    def get(self, process_id: str) -> P | None:
        return self.session.scalar(select(self.model).where(self.model.id == process_id))

    def by_pk(self, pk: int) -> P | None:
        return self.session.get(self.model, pk)

    def own(self, pid: str, role: str) -> P | None:
        """Ours with process id ``pid`` in ``role`` (whoever the participant)."""
        return self.session.scalar(select(self.model).where(self.model.pid == pid, self.model.role == role))

    def by_counter_pid(self, participant_id: str, role: str, counter_pid: str) -> P | None:
        """The one ``participant`` knows as ``counter_pid`` (a repeated initial message finds it)."""
        model = self.model
        return self.session.scalar(select(model).where(
            model.participant_id == participant_id, model.role == role, model.counter_pid == counter_pid))

    def all(self, *, role: str | None = None) -> list[P]:
        """Oldest first, of one role or both."""
        query = select(self.model).order_by(self.model.pk)
        if role is not None:
            query = query.where(self.model.role == role)
        return list(self.session.scalars(query))


class NegotiationRepository(_ProcessRepository[Negotiation]):
    model = Negotiation

    def finalized_with_agreement(self, participant_id: str, agreement_id: str) -> Negotiation | None:
        """Our FINALIZED provider negotiation with ``participant`` that reached our agreement."""
        return self.session.scalar(select(Negotiation).where(
            Negotiation.role == Role.PROVIDER, Negotiation.agreement_id == agreement_id,
            Negotiation.participant_id == participant_id, Negotiation.state == NegotiationState.FINALIZED))

    def finalized_consumer(self, participant_id: str, project_ids: Iterable[str]) -> list[Negotiation]:
        """Our FINALIZED consumer negotiations with ``participant`` for one of ``project_ids``."""
        return list(self.session.scalars(select(Negotiation).where(
            Negotiation.role == Role.CONSUMER, Negotiation.participant_id == participant_id,
            Negotiation.state == NegotiationState.FINALIZED, Negotiation.project_id.in_(list(project_ids)))))

    def decided_by_steward(self) -> list[tuple[Negotiation, AccessRequest]]:
        """Provider negotiations still waiting (REQUESTED, ACCEPTED) whose access request a
        steward has decided, with that request."""
        return [(n, r) for n, r in self.session.execute(
            select(Negotiation, AccessRequest)
            .join(AccessRequest, AccessRequest.id == Negotiation.access_request_id)
            .where(Negotiation.role == Role.PROVIDER,
                   Negotiation.state.in_([NegotiationState.REQUESTED, NegotiationState.ACCEPTED]),
                   AccessRequest.state.in_([RequestState.AGREED, RequestState.REJECTED])))]


T = TransferState


class TransferRepository(_ProcessRepository[Transfer]):
    model = Transfer

    def open_of_negotiation(self, negotiation_id: str, states: Iterable[str]) -> Transfer | None:
        """Our consumer transfer of ``negotiation_id`` in one of ``states``, the newest."""
        return self.session.scalar(select(Transfer).where(
            Transfer.negotiation_id == negotiation_id, Transfer.role == Role.CONSUMER,
            Transfer.state.in_(list(states))).order_by(Transfer.pk.desc()).limit(1))

    def by_data_token(self, token_hash: str) -> Transfer | None:
        """The provider transfer whose data token hashes to ``token_hash``."""
        return self.session.scalar(select(Transfer).where(Transfer.token_hash == token_hash,
                                                          Transfer.role == Role.PROVIDER))

    def waiting_on_staging(self) -> list[tuple[int, str, str, str]]:
        """(pk, role, job id, job state) of provider REQUESTED and consumer STARTED transfers
        with a staging job: those that move when their job does."""
        return [tuple(row) for row in self.session.execute(  # type: ignore[misc]
            select(Transfer.pk, Transfer.role, Transfer.staging_job_id, StagingJob.state)
            .join(StagingJob, StagingJob.id == Transfer.staging_job_id)
            .where(((Transfer.role == Role.PROVIDER) & (Transfer.state == T.REQUESTED))
                   | ((Transfer.role == Role.CONSUMER) & (Transfer.state == T.STARTED))))]

    def with_jobs(self, pks: Iterable[int]) -> list[tuple[Transfer, StagingJob]]:
        return [(t, j) for t, j in self.session.execute(
            select(Transfer, StagingJob).join(StagingJob, StagingJob.id == Transfer.staging_job_id)
            .where(Transfer.pk.in_(list(pks))))]

    def job_of(self, transfer: Transfer) -> StagingJob | None:
        """The staging job that stages ``transfer``'s version."""
        return self.session.scalar(select(StagingJob).where(StagingJob.id == transfer.staging_job_id))

    def open_provider_with_agreements(self, states: Iterable[str]) -> list[tuple[Transfer, Agreement]]:
        """Our provider transfers in one of ``states``, each with its agreement."""
        return [(t, a) for t, a in self.session.execute(
            select(Transfer, Agreement).join(Agreement, Agreement.id == Transfer.agreement_id)
            .where(Transfer.role == Role.PROVIDER, Transfer.state.in_(list(states))))]

    def stale_pushes(self, push_format: str, before: dt.datetime) -> list[Transfer]:
        """STARTED provider pushes last renewed before ``before``."""
        return list(self.session.scalars(select(Transfer).where(
            Transfer.role == Role.PROVIDER, Transfer.format == push_format, Transfer.state == T.STARTED,
            Transfer.updated_at < before)))

    def renew_lease(self, pk: int, now: dt.datetime) -> None:
        """Touch a STARTED transfer (a push renewing its lease) without loading it."""
        self.session.execute(update(Transfer).where(Transfer.pk == pk, Transfer.state == T.STARTED)
                             .values(updated_at=now).execution_options(synchronize_session=False))


class OutboxRepository:
    """The messages we owe participants."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, message: OutboxMessage) -> None:
        self.session.add(message)

    def get(self, pk: int) -> OutboxMessage | None:
        return self.session.get(OutboxMessage, pk)

    def due(self, now: dt.datetime, limit: int) -> list[int]:
        """Pending messages due by ``now``, not leased, and with no earlier pending message of
        the same negotiation or transfer (messages of one process leave in order)."""
        earlier = aliased(OutboxMessage)
        same_process = or_(earlier.negotiation_pk == OutboxMessage.negotiation_pk,
                           earlier.transfer_pk == OutboxMessage.transfer_pk)
        blocked = exists(select(earlier.pk).where(same_process, earlier.pk < OutboxMessage.pk,
                                                  earlier.state == OutboxState.PENDING))
        query = (select(OutboxMessage.pk)
                 .where(OutboxMessage.state == OutboxState.PENDING, OutboxMessage.next_attempt_at <= now,
                        or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until < now), ~blocked)
                 .order_by(OutboxMessage.pk).limit(limit))
        return list(self.session.scalars(query))

    def lease(self, pk: int, now: dt.datetime, until: dt.datetime) -> bool:
        """Lease a pending message unless another worker holds it; whether we got it."""
        claimed: Any = self.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.pk == pk, OutboxMessage.state == OutboxState.PENDING,
                   or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until < now))
            .values(lease_until=until)
            .execution_options(synchronize_session=False))
        return claimed.rowcount == 1
