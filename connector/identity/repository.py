"""Queries over organisations, projects and users (and the API tokens users hold).
Repositories add and read; they never commit."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from connector.identity.models import Organisation, Project, User


class OrganisationRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, organisation_id: int) -> Organisation | None:
        return self.session.get(Organisation, organisation_id)

    def by_slug(self, slug: str) -> Organisation | None:
        return self.session.scalar(select(Organisation).where(Organisation.slug == slug))

    def add(self, organisation: Organisation) -> None:
        self.session.add(organisation)
        self.session.flush()

    def list(self) -> list[Organisation]:
        return list(self.session.scalars(select(Organisation).order_by(Organisation.slug)))


class ProjectRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def by_slug(self, slug: str) -> Project | None:
        return self.session.scalar(select(Project).where(Project.slug == slug))

    def add(self, project: Project) -> None:
        self.session.add(project)
        self.session.flush()

    def list(self) -> list[Project]:
        return list(self.session.scalars(select(Project).order_by(Project.slug)))


class UserRepository:
    """Users, found by name or by the hash of the API token they hold."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def by_name(self, name: str) -> User | None:
        return self.session.scalar(select(User).where(User.name == name))

    def by_token_hash(self, digest: str) -> User | None:
        return self.session.scalar(select(User).where(User.token_hash == digest))

    def add(self, user: User) -> None:
        self.session.add(user)
        self.session.flush()

    def list(self) -> list[User]:
        return list(self.session.scalars(select(User).order_by(User.name)))
