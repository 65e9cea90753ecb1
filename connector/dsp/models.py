"""Tables of the contract-negotiation and transfer protocols, and the outbox of messages to send.

A :class:`Negotiation` is one DSP contract negotiation, seen from our side: ``pid`` is our
process id (the ``providerPid`` when we provide, the ``consumerPid`` when we consume),
``counter_pid`` the other side's. Agreements and access requests are referenced by their
public ids, not foreign keys: a negotiation outlives neither, and the usage-control tables
stay unaware of DSP.

A :class:`Transfer` is one DSP transfer process, on the same terms.

An :class:`OutboxMessage` is a message we owe a participant, on a negotiation or a transfer.
It is written in the same transaction as the state change that calls for it, so a crash in
between loses nothing;
:mod:`connector.dsp.outbox` delivers it, retrying with back-off.

The trust state every process shares (:mod:`connector.dsp.trust`): an :class:`IssuedToken` is
an access token our token endpoint gave a participant, kept only as its SHA-256; a
:class:`SealedSecret` is a secret we must use again (a token another connector gave us, a push
address's credentials), encrypted under ``SECRETS_KEY``. Neither is honoured once
``expires_at`` has passed; the worker deletes such rows.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from connector.db import Base, JSONDocument, UTCDateTime, utcnow


class Negotiation(Base):
    __tablename__ = "dsp_negotiations"
    __table_args__ = (UniqueConstraint("participant_id", "role", "counter_pid",
                                       name="uq_dsp_negotiations_participant_id"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    id: Mapped[str] = mapped_column(String(36), unique=True)  # our API id
    pid: Mapped[str] = mapped_column(String(64), unique=True)  # urn:uuid:<uuid>, ours
    counter_pid: Mapped[str | None] = mapped_column(String(512))
    role: Mapped[str] = mapped_column(String(16))
    participant_id: Mapped[str] = mapped_column(String(512), index=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    dataset: Mapped[str] = mapped_column(String(512))  # the DSP target (its @id)
    offer: Mapped[dict[str, Any]] = mapped_column(JSONDocument)  # last offer received or sent
    callback_address: Mapped[str] = mapped_column(String(2048))
    local_offer_id: Mapped[str | None] = mapped_column(String(36))  # provider: our offer
    access_request_id: Mapped[str | None] = mapped_column(String(36), index=True)  # provider
    agreement_id: Mapped[str | None] = mapped_column(String(36))  # provider: our agreement
    agreement: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)  # as sent or received
    termination_code: Mapped[str | None] = mapped_column(String(64))
    termination_reason: Mapped[list[str] | None] = mapped_column(JSONDocument)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Transfer(Base):
    """One DSP transfer process, seen from our side (``pid`` ours, ``counter_pid`` the peer's).

    ``agreement`` is the agreement's DSP ``@id`` as the request named it; on the provider side
    ``agreement_id`` is our agreement and ``staging_job_id`` the job that stages its version,
    on the consumer side ``negotiation_id`` the negotiation it came from and ``agreement_id``
    the local agreement that mirrors the remote one. A data token is kept only as its SHA-256
    (provider) or, on the consumer side, in clear until the data is staged, then dropped.
    """

    __tablename__ = "dsp_transfers"
    __table_args__ = (UniqueConstraint("participant_id", "role", "counter_pid",
                                       name="uq_dsp_transfers_participant_id"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    id: Mapped[str] = mapped_column(String(36), unique=True)  # our API id
    pid: Mapped[str] = mapped_column(String(64), unique=True)
    counter_pid: Mapped[str | None] = mapped_column(String(512))
    role: Mapped[str] = mapped_column(String(16))
    participant_id: Mapped[str] = mapped_column(String(512), index=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    agreement: Mapped[str] = mapped_column(String(512))  # the DSP agreementId
    agreement_id: Mapped[str | None] = mapped_column(String(36), index=True)  # ours or the mirror
    negotiation_id: Mapped[str | None] = mapped_column(String(36))  # consumer
    staging_job_id: Mapped[str | None] = mapped_column(String(36))
    format: Mapped[str] = mapped_column(String(128))
    callback_address: Mapped[str] = mapped_column(String(2048))
    endpoint: Mapped[str | None] = mapped_column(String(2048))  # the data address endpoint
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)  # provider
    token_expires: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    token: Mapped[str | None] = mapped_column(Text)  # consumer, only while staging
    termination_code: Mapped[str | None] = mapped_column(String(64))
    termination_reason: Mapped[list[str] | None] = mapped_column(JSONDocument)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class OutboxState:
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class OutboxMessage(Base):
    __tablename__ = "dsp_outbox"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    negotiation_pk: Mapped[int | None] = mapped_column(
        ForeignKey("dsp_negotiations.pk", ondelete="CASCADE"), index=True)
    transfer_pk: Mapped[int | None] = mapped_column(
        ForeignKey("dsp_transfers.pk", ondelete="CASCADE"), index=True)
    participant_id: Mapped[str] = mapped_column(String(512))
    url: Mapped[str] = mapped_column(String(2048))
    message: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    state: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    negotiation: Mapped[Negotiation | None] = relationship(lazy="joined")
    transfer: Mapped[Transfer | None] = relationship(lazy="joined")


class IssuedToken(Base):
    __tablename__ = "dsp_issued_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex
    participant_id: Mapped[str] = mapped_column(String(512))
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SealedSecret(Base):
    """One secret, sealed with the label ``<kind>:<name>`` (it opens in this row only)."""

    __tablename__ = "dsp_sealed_secrets"
    __table_args__ = (UniqueConstraint("kind", "name", name="uq_dsp_sealed_secrets_kind"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # outbound-token, push-address
    name: Mapped[str] = mapped_column(String(512))  # the participant id or our process id
    sealed: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
