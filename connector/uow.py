"""The unit of work: one transaction boundary, with the repositories hanging off it.

Services open it with ``with uow:``; nothing is written unless the service calls
``uow.commit()`` before the block ends. Leaving the block closes the session, which rolls
back whatever was not committed. Repositories hold each query once and never commit.

The unit of work knows every aggregate's repository, so it sits above the packages that
define them (as cosmicpython's ``unit_of_work`` sits above its ``repository``); services
receive it as an argument and only name its attributes.
"""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.orm import Session, sessionmaker

from connector.audit_repository import AuditRepository
from connector.catalog.harvest.repository import (
    HarvestLinkRepository,
    HarvestRunRepository,
    HarvestSourceRepository,
)
from connector.catalog.repository import DatasetRepository
from connector.dsp.repository import NegotiationRepository, OutboxRepository, TransferRepository
from connector.identity.repository import OrganisationRepository, ProjectRepository, UserRepository
from connector.policies.repository import AccessRequestRepository, AgreementRepository, OfferRepository
from connector.staging.repository import JobRepository


class UnitOfWork:
    """A SQLAlchemy session per ``with`` block; re-entrant so services may nest calls."""

    session: Session
    datasets: DatasetRepository
    audit: AuditRepository
    organisations: OrganisationRepository
    projects: ProjectRepository
    users: UserRepository
    offers: OfferRepository
    requests: AccessRequestRepository
    agreements: AgreementRepository
    jobs: JobRepository
    negotiations: NegotiationRepository
    transfers: TransferRepository
    outbox: OutboxRepository
    harvest_sources: HarvestSourceRepository
    harvest_runs: HarvestRunRepository
    harvest_links: HarvestLinkRepository

    def __init__(self, session_factory: sessionmaker) -> None:
        self._session_factory = session_factory
        self._depth = 0

    def __enter__(self) -> UnitOfWork:
        if self._depth == 0:
            self.session = self._session_factory()
            self._repositories(self.session)
        self._depth += 1
        return self

    def _repositories(self, session: Session) -> None:
        self.datasets = DatasetRepository(session)
        self.audit = AuditRepository(session)
        self.organisations = OrganisationRepository(session)
        self.projects = ProjectRepository(session)
        self.users = UserRepository(session)
        self.offers = OfferRepository(session)
        self.requests = AccessRequestRepository(session)
        self.agreements = AgreementRepository(session)
        self.jobs = JobRepository(session)
        self.negotiations = NegotiationRepository(session)
        self.transfers = TransferRepository(session)
        self.outbox = OutboxRepository(session)
        self.harvest_sources = HarvestSourceRepository(session)
        self.harvest_runs = HarvestRunRepository(session)
        self.harvest_links = HarvestLinkRepository(session)

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
