"""The audit log: one row per write, saying who did what to which object, and when."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, insert, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from connector.db import Base, JSONDocument, UTCDateTime, utcnow


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(64), index=True)
    before_version: Mapped[int | None] = mapped_column(Integer)
    after_version: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)


def record(
    session: Session,
    actor: Any,
    action: str,
    object_type: str,
    object_id: str,
    *,
    before_version: int | None = None,
    after_version: int | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an audit event to the current transaction; ``actor`` is a User or None (the CLI)."""
    event = AuditEvent(
        actor_id=getattr(actor, "id", None),
        actor=getattr(actor, "name", None) or "operator",
        action=action,
        object_type=object_type,
        object_id=object_id,
        before_version=before_version,
        after_version=after_version,
        detail=detail,
    )
    session.add(event)
    return event


def record_many(
    session: Session,
    actor: Any,
    action: str,
    object_type: str,
    object_ids: Iterable[str],
    *,
    before_version: int | None = None,
    after_version: int | None = None,
) -> None:
    """The events :func:`record` adds for each of ``object_ids``, in one executemany (bulk
    writes, such as a harvest chunk)."""
    rows = [{"actor_id": getattr(actor, "id", None), "actor": getattr(actor, "name", None) or "operator",
             "action": action, "object_type": object_type, "object_id": object_id,
             "before_version": before_version, "after_version": after_version, "detail": None}
            for object_id in object_ids]
    if rows:
        session.execute(insert(AuditEvent), rows)


def events_for(session: Session, object_type: str, object_id: str) -> list[AuditEvent]:
    """The audit trail of one object, oldest first."""
    query = (
        select(AuditEvent)
        .where(AuditEvent.object_type == object_type, AuditEvent.object_id == object_id)
        .order_by(AuditEvent.id)
    )
    return list(session.scalars(query))


def export(session: Session, *, since: dt.datetime | None = None,
           object_type: str | None = None, batch: int = 1000):  # -> Iterator[dict]
    """Audit events, oldest first, as plain dicts (streamed in batches) for JSON Lines."""
    last = 0
    while True:
        query = select(AuditEvent).where(AuditEvent.id > last).order_by(AuditEvent.id).limit(batch)
        if since is not None:
            query = query.where(AuditEvent.at >= since)
        if object_type:
            query = query.where(AuditEvent.object_type == object_type)
        rows = list(session.scalars(query))
        if not rows:
            return
        for row in rows:
            yield {"id": row.id, "at": row.at.isoformat().replace("+00:00", "Z"),
                   "actor": row.actor, "action": row.action, "objectType": row.object_type,
                   "objectId": row.object_id, "beforeVersion": row.before_version,
                   "afterVersion": row.after_version, "detail": row.detail}
        last = rows[-1].id
