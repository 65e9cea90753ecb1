"""Tables of usage control: offers on datasets, access requests, agreements.

An :class:`Offer` is an immutable ODRL policy a steward attached to a dataset; changing a
policy means withdrawing the offer and attaching a new one. An :class:`AccessRequest` moves
through ``requested -> pending_approval -> agreed | rejected`` (or straight to ``agreed`` /
``rejected`` when the evaluator decides alone). An :class:`Agreement` binds one dataset
version, a snapshot of the policy, the project, purpose, period and obligations; only its
state (``active -> revoked | expired``) ever changes.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from connector.catalog.models import Dataset
from connector.db import Base, JSONDocument, UTCDateTime, utcnow
from connector.identity.models import Project, User


class Approval(enum.StrEnum):
    AUTOMATIC = "automatic"  # a permitted request becomes an agreement at once
    STEWARD = "steward"      # every request waits for a steward


class RequestState(enum.StrEnum):
    REQUESTED = "requested"
    PENDING_APPROVAL = "pending_approval"
    AGREED = "agreed"
    REJECTED = "rejected"


class AgreementState(enum.StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"
    EXPIRED = "expired"


class Offer(Base):
    __tablename__ = "offers"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    id: Mapped[str] = mapped_column(String(36), unique=True)
    dataset_pk: Mapped[int] = mapped_column(ForeignKey("datasets.pk"), index=True)
    policy_uid: Mapped[str] = mapped_column(String(512))
    document: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    approval: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64))

    dataset: Mapped[Dataset] = relationship(lazy="joined")


class AccessRequest(Base):
    __tablename__ = "access_requests"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    id: Mapped[str] = mapped_column(String(36), unique=True)
    dataset_pk: Mapped[int] = mapped_column(ForeignKey("datasets.pk"), index=True)
    dataset_version: Mapped[int] = mapped_column(Integer)
    offer_pk: Mapped[int] = mapped_column(ForeignKey("offers.pk"))
    requester_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(512))
    context: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    state: Mapped[str] = mapped_column(String(24), index=True)
    decision: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    decided_by: Mapped[str | None] = mapped_column(String(64))
    comment: Mapped[str | None] = mapped_column(Text)

    offer: Mapped[Offer] = relationship(lazy="joined")
    project: Mapped[Project] = relationship(lazy="joined")
    dataset: Mapped[Dataset] = relationship(lazy="joined")
    requester: Mapped[User] = relationship(lazy="joined")
    agreement: Mapped[Agreement | None] = relationship(lazy="selectin", viewonly=True)


class Agreement(Base):
    __tablename__ = "agreements"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    id: Mapped[str] = mapped_column(String(36), unique=True)
    # Unique: however many approvals race, one request yields at most one agreement.
    request_pk: Mapped[int] = mapped_column(ForeignKey("access_requests.pk"), unique=True)
    dataset_pk: Mapped[int] = mapped_column(ForeignKey("datasets.pk"), index=True)
    dataset_version: Mapped[int] = mapped_column(Integer)
    offer_pk: Mapped[int] = mapped_column(ForeignKey("offers.pk"))
    policy: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(512))
    start: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    end: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    obligations: Mapped[list[dict[str, Any]]] = mapped_column(JSONDocument)
    state: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    ended_by: Mapped[str | None] = mapped_column(String(64))
    end_reason: Mapped[str | None] = mapped_column(Text)

    project: Mapped[Project] = relationship(lazy="joined")
    dataset: Mapped[Dataset] = relationship(lazy="joined")
    offer: Mapped[Offer] = relationship(lazy="joined")
    request: Mapped[AccessRequest] = relationship(lazy="joined")
