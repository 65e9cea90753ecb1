"""The unit of work: one transaction boundary, with the repositories hanging off it.

Services open it with ``with uow:``; nothing is written unless the service calls
``uow.commit()`` before the block ends. Leaving the block closes the session, which rolls
back whatever was not committed. Repositories never commit.
"""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.orm import Session, sessionmaker

from connector.catalog.repository import DatasetRepository
from connector.dsp.repository import NegotiationRepository, OutboxRepository, TransferRepository  # dsp


class UnitOfWork:
    """A SQLAlchemy session per ``with`` block; re-entrant so services may nest calls."""

    session: Session
    datasets: DatasetRepository
    # --- dsp repositories ---
    negotiations: NegotiationRepository
    transfers: TransferRepository
    outbox: OutboxRepository
    # --- end dsp repositories ---

    def __init__(self, session_factory: sessionmaker) -> None:
        self._session_factory = session_factory
        self._depth = 0

    def __enter__(self) -> UnitOfWork:
        if self._depth == 0:
            self.session = self._session_factory()
            self.datasets = DatasetRepository(self.session)
            # --- dsp repositories ---
            self.negotiations = NegotiationRepository(self.session)
            self.transfers = TransferRepository(self.session)
            self.outbox = OutboxRepository(self.session)
            # --- end dsp repositories ---
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
