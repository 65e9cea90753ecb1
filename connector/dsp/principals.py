"""The local principal that stands for a data-space participant."""

from __future__ import annotations

import dataclasses
import hashlib
import secrets

from sqlalchemy import select

from connector.dsp.participants import Participant
from connector.errors import Unauthorized
from connector.identity.models import Project, User
from connector.identity.principal import Principal
from connector.uow import UnitOfWork


def principal_for(uow: UnitOfWork, participant: Participant) -> Principal:
    """The caller standing for ``participant``: a member of its configured project only.

    Catalog visibility and policy claims come from that project and its organisation, so the
    rules of :mod:`connector.catalog.access` apply unchanged. A project that does not exist
    is a configuration error: the participant cannot be authorised until it is fixed.
    """
    with uow:
        project = uow.session.scalar(select(Project).where(Project.slug == participant.project))
        if project is None:
            raise Unauthorized(f"participant {participant.id!r} is bound to project "
                               f"{participant.project!r}, which does not exist here; ask the operator")
        return Principal(name=f"dsp:{participant.id}", role="member",
                         project_ids=frozenset({project.id}),
                         project_org_ids=frozenset({project.organisation_id}))


def requester_for(uow: UnitOfWork, participant: Participant) -> Principal:
    """:func:`principal_for` with a local user id, for use cases that record who asked
    (access requests made through contract negotiation).

    The user ``dsp:<participant id>`` (hashed when too long) is created on first use; it has
    no usable API token, so it acts only through the DSP endpoints.
    """
    with uow:
        principal = principal_for(uow, participant)
        name = principal.name if len(principal.name) <= 64 else (
            "dsp:" + hashlib.sha256(participant.id.encode()).hexdigest()[:40])
        user = uow.session.scalar(select(User).where(User.name == name))
        if user is None:
            unusable = hashlib.sha256(secrets.token_bytes(32)).hexdigest()
            user = User(name=name, role="member", token_hash=unusable)
            uow.session.add(user)
            uow.session.flush()
        return dataclasses.replace(principal, name=name, user_id=user.id)
