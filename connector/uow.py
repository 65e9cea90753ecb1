"""The unit of work: one transaction boundary, with the repositories hanging off it.

Services open it with ``with uow:``; nothing is written unless the service calls
``uow.commit()`` before the block ends. Leaving the block closes the session, which rolls
back whatever was not committed. Repositories never commit.
"""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.orm import Session, sessionmaker

# harvest repositories
from connector.catalog.harvest.repository import (
    HarvestLinkRepository,
    HarvestRunRepository,
    HarvestSourceRepository,
)
from connector.catalog.repository import DatasetRepository


class UnitOfWork:
    """A SQLAlchemy session per ``with`` block; re-entrant so services may nest calls."""

    session: Session
    datasets: DatasetRepository
    # harvest repositories
    harvest_sources: HarvestSourceRepository
    harvest_runs: HarvestRunRepository
    harvest_links: HarvestLinkRepository

    def __init__(self, session_factory: sessionmaker) -> None:
        self._session_factory = session_factory
        self._depth = 0

    def __enter__(self) -> UnitOfWork:
        if self._depth == 0:
            self.session = self._session_factory()
            self.datasets = DatasetRepository(self.session)
            # harvest repositories
            self.harvest_sources = HarvestSourceRepository(self.session)
            self.harvest_runs = HarvestRunRepository(self.session)
            self.harvest_links = HarvestLinkRepository(self.session)
        self._depth += 1
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._depth -= 1
        if self._depth == 0:
            # close() rolls back what was not committed without expiring loaded objects,
            # so services may return them (detached) to their callers.
            self.session.close()

    def commit(self) -> None:
        self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()
