"""Tables of the catalog.

A :class:`Dataset` is the stable record (id, identifier, owner, state) and holds the
search columns of its current version; :class:`DatasetVersion` rows are immutable
snapshots of the DCAT-AP document, numbered from 1. :class:`DatasetFacet` rows hold the
multi-valued facet values (theme, format, keyword...) of the current version.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from connector.db import Base, JSONDocument, UTCDateTime, utcnow
from connector.identity.models import Organisation


class DatasetState(enum.StrEnum):
    ACTIVE = "active"
    WITHDRAWN = "withdrawn"


class AccessRights(enum.StrEnum):
    """The EU Access Rights authority table (DCAT-AP 3 ``dct:accessRights``)."""

    PUBLIC = "PUBLIC"
    RESTRICTED = "RESTRICTED"
    NON_PUBLIC = "NON_PUBLIC"


class Dataset(Base):
    __tablename__ = "datasets"
    __table_args__ = (Index("ix_datasets_updated_at_id", "updated_at", "id"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    id: Mapped[str] = mapped_column(String(36), unique=True)
    identifier: Mapped[str] = mapped_column(String(512), unique=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    # state and access_rights are checked per row after the full-text match; an index on
    # columns with three values only tempts the planners into worse plans.
    state: Mapped[str] = mapped_column(String(16), default=DatasetState.ACTIVE)
    version: Mapped[int] = mapped_column(Integer)
    access_rights: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    organisation: Mapped[Organisation] = relationship(lazy="joined")


class DatasetVersion(Base):
    __tablename__ = "dataset_versions"
    __table_args__ = (UniqueConstraint("dataset_pk", "version"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_pk: Mapped[int] = mapped_column(ForeignKey("datasets.pk", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    document: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64))


class DatasetFacet(Base):
    __tablename__ = "dataset_facets"
    __table_args__ = (Index("ix_dataset_facets_lookup", "facet", "value", "dataset_pk"),)

    dataset_pk: Mapped[int] = mapped_column(
        ForeignKey("datasets.pk", ondelete="CASCADE"), primary_key=True
    )
    facet: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(255), primary_key=True)
