"""Queries over offers, access requests and agreements. Repositories add and read; they
never commit. Decisions that race (two stewards approving at once) are compare-and-set
updates here, answering whether this caller won."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from connector.catalog.access import project_or_steward_clause
from connector.catalog.models import Dataset
from connector.identity.principal import Principal
from connector.policies.models import AccessRequest, Agreement, AgreementState, Offer, RequestState


class OfferRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, offer: Offer) -> None:
        self.session.add(offer)

    def get(self, offer_id: str, *, dataset: Dataset | None = None,
            active: bool = False) -> Offer | None:
        """The offer ``offer_id``; only on ``dataset`` and only an active one when asked."""
        query = select(Offer).where(Offer.id == offer_id)
        if dataset is not None:
            query = query.where(Offer.dataset_pk == dataset.pk)
        if active:
            query = query.where(Offer.active)
        return self.session.scalar(query)

    def active_of(self, dataset: Dataset) -> list[Offer]:
        return list(self.session.scalars(
            select(Offer).where(Offer.dataset_pk == dataset.pk, Offer.active).order_by(Offer.pk)))


class AccessRequestRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, request: AccessRequest) -> None:
        self.session.add(request)
        self.session.flush()

    def get(self, request_id: str) -> AccessRequest | None:
        return self.session.scalar(select(AccessRequest).where(AccessRequest.id == request_id))

    def visible(self, principal: Principal, *, state: str | None = None) -> list[AccessRequest]:
        """Requests of ``principal``'s projects and on datasets it stewards, newest first."""
        query = (select(AccessRequest).join(Dataset, Dataset.pk == AccessRequest.dataset_pk)
                 .where(project_or_steward_clause(principal, AccessRequest.project_id)))
        if state:
            query = query.where(AccessRequest.state == state)
        return list(self.session.scalars(query.order_by(AccessRequest.pk.desc())))

    def decide_pending(self, request: AccessRequest, **values: Any) -> bool:
        """Set ``values`` on ``request`` if it is still pending approval; False when someone
        decided it meanwhile. The row is read again when this caller won."""
        claimed = self.session.execute(
            update(AccessRequest)
            .where(AccessRequest.pk == request.pk,
                   AccessRequest.state == RequestState.PENDING_APPROVAL)
            .values(**values).execution_options(synchronize_session=False))
        if claimed.rowcount != 1:
            return False
        self.session.refresh(request)
        return True

    def reload(self, request: AccessRequest) -> None:
        """Read ``request`` again (after a commit, for its server-set columns)."""
        self.session.refresh(request)


class AgreementRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, agreement: Agreement) -> None:
        self.session.add(agreement)

    def get(self, agreement_id: str) -> Agreement | None:
        return self.session.scalar(select(Agreement).where(Agreement.id == agreement_id))

    def state_of(self, pk: int) -> str | None:
        """The agreement's state as the database holds it now (not the loaded object's)."""
        return self.session.scalar(select(Agreement.state).where(Agreement.pk == pk))

    def count_for(self, offer: Offer, project_id: int) -> int:
        """How many agreements ``project_id`` holds under ``offer`` (the ODRL count operand)."""
        return self.session.scalar(select(func.count()).select_from(Agreement).where(
            Agreement.offer_pk == offer.pk, Agreement.project_id == project_id)) or 0

    def due(self, now: dt.datetime) -> list[Agreement]:
        """Active agreements whose end has passed."""
        return list(self.session.scalars(select(Agreement).where(
            Agreement.state == AgreementState.ACTIVE, Agreement.end <= now)))

    def visible(self, principal: Principal, *, state: str | None = None,
                dataset_id: str | None = None) -> list[Agreement]:
        """Agreements of ``principal``'s projects and on datasets it stewards, newest first."""
        query = (select(Agreement).join(Dataset, Dataset.pk == Agreement.dataset_pk)
                 .where(project_or_steward_clause(principal, Agreement.project_id)))
        if state:
            query = query.where(Agreement.state == state)
        if dataset_id:
            query = query.where(Dataset.id == dataset_id)
        return list(self.session.scalars(query.order_by(Agreement.pk.desc())))
