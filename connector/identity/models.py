"""Tables of identity: organisations, projects, users and project membership."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import BigInteger, Column, ForeignKey, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from connector.db import Base, JSONDocument, UTCDateTime, utcnow


class Role(enum.StrEnum):
    ADMIN = "admin"
    STEWARD = "steward"
    MEMBER = "member"


project_members = Table(
    "project_members",
    Base.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("project_id", ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True),
)


class Organisation(Base):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Facts an administrator vouches for, read by policies: securityClearance, ethicsApproval.
    attributes: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    # Bytes the project may keep on the storage tier; None means the site default.
    quota_bytes: Mapped[int | None] = mapped_column(BigInteger)

    organisation: Mapped[Organisation] = relationship(lazy="joined")


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    # The organisation a steward stewards; members belong to organisations through projects.
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    organisation: Mapped[Organisation | None] = relationship(lazy="joined")
    projects: Mapped[list[Project]] = relationship(secondary=project_members, lazy="selectin")
