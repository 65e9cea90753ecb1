"""The staging job table: the database is the source of truth of every job's state.

States: ``queued -> running -> published``; ``running -> queued`` again after a transient
failure (with a back-off), a lost lease or a worker that died; ``failed`` (terminal error,
attempts used up, or its worker died ``JOB_MAX_CRASHES`` times: a poison job);
``cancelled`` (before publishing); ``removed`` (published data deleted when the agreement
ended). One job per agreement and dataset version.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from connector.catalog.models import Dataset
from connector.db import Base, JSONDocument, UTCDateTime, utcnow
from connector.identity.models import Project
from connector.policies.models import Agreement


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    PUBLISHED = "published"
    FAILED = "failed"
    CANCELLED = "cancelled"
    REMOVED = "removed"


class StagingJob(Base):
    __tablename__ = "staging_jobs"
    __table_args__ = (UniqueConstraint("agreement_pk", "dataset_version"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    id: Mapped[str] = mapped_column(String(36), unique=True)
    agreement_pk: Mapped[int] = mapped_column(ForeignKey("agreements.pk"), index=True)
    dataset_pk: Mapped[int] = mapped_column(ForeignKey("datasets.pk"), index=True)
    dataset_version: Mapped[int] = mapped_column(Integer)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # counted when claimed
    crashes: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # worker died
    not_before: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    progress: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    location: Mapped[str | None] = mapped_column(String(2048))
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    rows: Mapped[int] = mapped_column(BigInteger, default=0)
    manifest: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    requested_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    removed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    agreement: Mapped[Agreement] = relationship(lazy="joined")
    dataset: Mapped[Dataset] = relationship(lazy="joined")
    project: Mapped[Project] = relationship(lazy="joined")
