"""Who is calling: the facts entitlement decisions need, as a frozen value."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Principal:
    """An authenticated caller. ``user_id`` is None for the local operator (the CLI)."""

    name: str
    role: str
    user_id: int | None = None
    stewarded_org_ids: frozenset[int] = field(default_factory=frozenset)
    project_ids: frozenset[int] = field(default_factory=frozenset)
    project_org_ids: frozenset[int] = field(default_factory=frozenset)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def affiliated_org_ids(self) -> frozenset[int]:
        """Organisations the caller works for: stewarded ones and those of its projects."""
        return self.stewarded_org_ids | self.project_org_ids

    def stewards(self, organisation_id: int) -> bool:
        return self.is_admin or organisation_id in self.stewarded_org_ids


OPERATOR = Principal(name="operator", role="admin")
#: A caller without a token (public catalog endpoints): no role, organisation or project, so
#: the catalog's visibility rules let it see PUBLIC datasets only.
ANONYMOUS = Principal(name="anonymous", role="anonymous")
