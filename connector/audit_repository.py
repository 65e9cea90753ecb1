"""The audit log as a repository on the unit of work: ``uow.audit.record(actor, ...)``.

The statements live once, in :mod:`connector.audit`, as functions of a session (the form
migrations and code holding a bare session call); this binds them to the unit of work's
session so services never handle one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy.orm import Session

from connector import audit
from connector.audit import AuditEvent


class AuditRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def record(self, actor: Any, action: str, object_type: str, object_id: str, *,
               before_version: int | None = None, after_version: int | None = None,
               detail: dict[str, Any] | None = None) -> AuditEvent:
        """Add an event to the transaction; ``actor`` is a User/Principal or None (the CLI)."""
        return audit.record(self.session, actor, action, object_type, object_id,
                            before_version=before_version, after_version=after_version,
                            detail=detail)

    def record_many(self, actor: Any, action: str, object_type: str, object_ids: Iterable[str], *,
                    before_version: int | None = None, after_version: int | None = None) -> None:
        audit.record_many(self.session, actor, action, object_type, object_ids,
                          before_version=before_version, after_version=after_version)

    def events_for(self, object_type: str, object_id: str) -> list[AuditEvent]:
        return audit.events_for(self.session, object_type, object_id)

    def export(self, *, since: dt.datetime | None = None, object_type: str | None = None,
               batch: int = 1000) -> Iterator[dict[str, Any]]:
        return audit.export(self.session, since=since, object_type=object_type, batch=batch)
