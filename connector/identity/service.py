"""Use cases of identity: organisations, projects, users, tokens and authentication."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from connector.errors import Conflict, NotFound, Unauthorized, ValidationFailed
from connector.identity.models import Organisation, Project, Role, User
from connector.identity.principal import Principal
from connector.uow import UnitOfWork

TOKEN_PREFIX = "cnr_"  # noqa: S105  (a marker that makes leaked tokens greppable, not a secret)
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


def hash_token(token: str) -> str:
    """Tokens carry 256 random bits, so one SHA-256 is enough to store them safely."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _check(pattern: re.Pattern[str], value: str, what: str) -> None:
    if not pattern.match(value):
        raise ValidationFailed([{"path": "$." + what, "message": f"invalid {what}: {value!r}"}])


def create_organisation(uow: UnitOfWork, slug: str, name: str | None = None) -> Organisation:
    """Add an organisation; its slug is unique."""
    _check(_SLUG, slug, "slug")
    with uow:
        if uow.organisations.by_slug(slug):
            raise Conflict(f"organisation {slug!r} exists already")
        org = Organisation(slug=slug, name=name or slug)
        uow.organisations.add(org)
        uow.audit.record(None, "organisation.create", "organisation", slug)
        uow.commit()
        return org


def _organisation(uow: UnitOfWork, slug: str) -> Organisation:
    org = uow.organisations.by_slug(slug)
    if org is None:
        raise NotFound(f"no organisation {slug!r}")
    return org


def _project(uow: UnitOfWork, slug: str) -> Project:
    project = uow.projects.by_slug(slug)
    if project is None:
        raise NotFound(f"no project {slug!r}")
    return project


def create_project(uow: UnitOfWork, slug: str, organisation: str, name: str | None = None) -> Project:
    """Add a project run by ``organisation``."""
    _check(_SLUG, slug, "slug")
    with uow:
        org = _organisation(uow, organisation)
        if uow.projects.by_slug(slug):
            raise Conflict(f"project {slug!r} exists already")
        project = Project(slug=slug, name=name or slug, organisation_id=org.id)
        uow.projects.add(project)
        uow.audit.record(None, "project.create", "project", slug,
                     detail={"organisation": organisation})
        uow.commit()
        return project


def create_user(
    uow: UnitOfWork,
    name: str,
    role: str,
    *,
    organisation: str | None = None,
    projects: tuple[str, ...] = (),
) -> tuple[User, str]:
    """Add a user and return it with its API token, which is shown this once only.

    A steward needs ``organisation``; a member needs at least one project.
    """
    _check(_NAME, name, "name")
    if role not in set(Role):
        raise ValidationFailed([{"path": "$.role", "message": f"role must be one of "
                                 f"{', '.join(Role)}, not {role!r}"}])
    if role == Role.STEWARD and not organisation:
        raise ValidationFailed([{"path": "$.organisation", "message": "a steward needs --org"}])
    if role == Role.MEMBER and not projects:
        raise ValidationFailed([{"path": "$.projects", "message": "a member needs --project"}])
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with uow:
        if uow.users.by_name(name):
            raise Conflict(f"user {name!r} exists already")
        user = User(name=name, role=role, token_hash=hash_token(token))
        if organisation:
            user.organisation = _organisation(uow, organisation)
        user.projects = [_project(uow, slug) for slug in projects]
        uow.users.add(user)
        uow.audit.record(None, "user.create", "user", name,
                     detail={"role": role, "organisation": organisation, "projects": list(projects)})
        uow.commit()
        return user, token


def add_member(uow: UnitOfWork, project: str, user: str) -> None:
    """Make ``user`` a member of ``project`` (idempotent)."""
    with uow:
        target = uow.users.by_name(user)
        if target is None:
            raise NotFound(f"no user {user!r}")
        proj = _project(uow, project)
        if proj not in target.projects:
            target.projects.append(proj)
            uow.audit.record(None, "project.add_member", "project", project,
                         detail={"user": user})
        uow.commit()


def rotate_token(uow: UnitOfWork, name: str) -> str:
    """Give ``name`` a new token; the old one stops working at once."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with uow:
        user = uow.users.by_name(name)
        if user is None:
            raise NotFound(f"no user {name!r}")
        user.token_hash = hash_token(token)
        uow.audit.record(None, "user.rotate_token", "user", name)
        uow.commit()
    return token


def principal_of(user: User) -> Principal:
    return Principal(
        name=user.name,
        role=user.role,
        user_id=user.id,
        stewarded_org_ids=frozenset([user.organisation_id] if user.organisation_id else []),
        project_ids=frozenset(p.id for p in user.projects),
        project_org_ids=frozenset(p.organisation_id for p in user.projects),
    )


def authenticate(uow: UnitOfWork, token: str | None) -> Principal:
    """The principal holding ``token``; :class:`Unauthorized` for a missing or unknown one."""
    if not token:
        raise Unauthorized("send Authorization: Bearer <token>")
    digest = hash_token(token)
    with uow:
        user = uow.users.by_token_hash(digest)
        # Compare again in constant time; the index lookup only narrows the candidate.
        if user is None or not hmac.compare_digest(user.token_hash, digest):
            raise Unauthorized("unknown or revoked token")
        return principal_of(user)


def list_organisations(uow: UnitOfWork) -> list[Organisation]:
    with uow:
        return uow.organisations.list()


def list_projects(uow: UnitOfWork) -> list[Project]:
    with uow:
        return uow.projects.list()


def list_users(uow: UnitOfWork) -> list[User]:
    with uow:
        return uow.users.list()


#: Project facts an administrator vouches for; policies read them, requesters cannot claim them.
PROJECT_ATTRIBUTES = ("securityClearance", "ethicsApproval")


def set_project_attribute(uow: UnitOfWork, project: str, key: str, value: object) -> None:
    """Record a vouched-for fact on a project (``None`` removes it)."""
    if key not in PROJECT_ATTRIBUTES:
        raise ValidationFailed([{"path": "$.attribute", "message": f"unknown project attribute "
                                 f"{key!r}; known: {', '.join(PROJECT_ATTRIBUTES)}"}])
    with uow:
        proj = _project(uow, project)
        attributes = dict(proj.attributes or {})
        before = attributes.get(key)
        if value is None:
            attributes.pop(key, None)
        else:
            attributes[key] = value
        proj.attributes = attributes
        uow.audit.record(None, "project.set_attribute", "project", project,
                     detail={"attribute": key, "before": before, "after": value})
        uow.commit()


def principal_named(uow: UnitOfWork, name: str) -> Principal:
    """The principal of user ``name`` (the operator acting in a user's name)."""
    with uow:
        user = uow.users.by_name(name)
        if user is None:
            raise NotFound(f"no user {name!r}")
        return principal_of(user)
