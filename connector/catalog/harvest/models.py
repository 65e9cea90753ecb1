"""Tables of harvesting: sources, runs, per-record results, and the link to our datasets.

A :class:`HarvestSource` is a portal a steward registered for one organisation. Each
:class:`HarvestRun` reads it once (``queued -> running -> succeeded | partial | failed``; a
worker holds a lease while it runs, like staging jobs). :class:`HarvestRecord` rows say what
happened to every record the run saw. :class:`HarvestLink` maps (source, remote id) to the
dataset it became, with the source's last change stamp: the upsert key of every run.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from connector.db import Base, JSONDocument, UTCDateTime, utcnow
from connector.identity.models import Organisation


class RunState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"
    FAILED = "failed"


class Outcome(enum.StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    WITHDRAWN = "withdrawn"
    FAILED = "failed"


class HarvestSource(Base):
    __tablename__ = "harvest_sources"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    id: Mapped[str] = mapped_column(String(36), unique=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    url: Mapped[str] = mapped_column(String(2048))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    options: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    # Seconds between scheduled runs; None: runs only on request.
    schedule_seconds: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    organisation: Mapped[Organisation] = relationship(lazy="joined")


class HarvestRun(Base):
    __tablename__ = "harvest_runs"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    id: Mapped[str] = mapped_column(String(36), unique=True)
    source_pk: Mapped[int] = mapped_column(ForeignKey("harvest_sources.pk", ondelete="CASCADE"),
                                           index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    full: Mapped[bool] = mapped_column(Boolean, default=False)
    requested_by: Mapped[str] = mapped_column(String(64))
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # The ``since`` handed to the harvester, and the one this run leaves for the next: the
    # newest change stamp it saw, held back at the oldest stamp of a record that failed.
    # Stamps are CKAN's form (``records.change_stamp``), at most 26 characters.
    since: Mapped[str | None] = mapped_column(String(64))
    newest_modified: Mapped[str | None] = mapped_column(String(64))
    # True when the source listed every record (no page failed): only then are datasets
    # the source dropped withdrawn, and only then does the next run start from here.
    complete: Mapped[bool] = mapped_column(Boolean, default=False)
    counts: Mapped[dict[str, int]] = mapped_column(JSONDocument, default=dict)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    source: Mapped[HarvestSource] = relationship(lazy="joined")


class HarvestRecord(Base):
    __tablename__ = "harvest_records"
    __table_args__ = (Index("ix_harvest_records_run_pk_outcome", "run_pk", "outcome", "pk"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_pk: Mapped[int] = mapped_column(ForeignKey("harvest_runs.pk", ondelete="CASCADE"))
    remote_id: Mapped[str] = mapped_column(String(1024))
    outcome: Mapped[str] = mapped_column(String(16))
    dataset_id: Mapped[str | None] = mapped_column(String(36))
    reason: Mapped[str | None] = mapped_column(Text)


class HarvestLink(Base):
    __tablename__ = "harvest_links"
    __table_args__ = (UniqueConstraint("source_pk", "remote_id"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_pk: Mapped[int] = mapped_column(ForeignKey("harvest_sources.pk", ondelete="CASCADE"))
    remote_id: Mapped[str] = mapped_column(String(1024))
    dataset_pk: Mapped[int] = mapped_column(ForeignKey("datasets.pk", ondelete="CASCADE"), index=True)
    # The source's change stamp at the last successful import of the record.
    modified: Mapped[str | None] = mapped_column(String(64))
    # The last run that saw the record listed; a complete run withdraws the others.
    seen_run_pk: Mapped[int | None] = mapped_column(Integer)
