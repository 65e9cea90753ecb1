"""Who may see and change which dataset.

Visibility follows ``accessRights`` (EU access-right vocabulary):

* PUBLIC: every caller, anonymous ones included: the public catalog endpoints (``/catalog``,
  ``/datasets/<id>`` RDF, ``/api/3/action``) serve PUBLIC datasets without a token, as
  :data:`~connector.identity.principal.ANONYMOUS`; the ``/api/v1`` API still requires one;
* RESTRICTED: the owning organisation's stewards and the members of its projects;
* NON_PUBLIC: the owning organisation's stewards;
* admins see everything.

A dataset the caller may not see does not exist for it (404, never 403). Writes need the
steward role for the owning organisation (or admin).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, or_, true

from connector.catalog.models import AccessRights, Dataset
from connector.identity.principal import Principal


def visible_clause(principal: Principal) -> ColumnElement[bool]:
    """A SQL condition true for the datasets ``principal`` may see."""
    if principal.is_admin:
        return true()
    conditions = [Dataset.access_rights == AccessRights.PUBLIC]
    if principal.affiliated_org_ids:
        conditions.append(
            and_(
                Dataset.access_rights == AccessRights.RESTRICTED,
                Dataset.organisation_id.in_(sorted(principal.affiliated_org_ids)),
            )
        )
    if principal.stewarded_org_ids:
        conditions.append(Dataset.organisation_id.in_(sorted(principal.stewarded_org_ids)))
    return or_(*conditions)


def can_see(principal: Principal, dataset: Dataset) -> bool:
    """The same rule as :func:`visible_clause`, for one loaded dataset."""
    if principal.is_admin or dataset.access_rights == AccessRights.PUBLIC:
        return True
    if dataset.organisation_id in principal.stewarded_org_ids:
        return True
    return (
        dataset.access_rights == AccessRights.RESTRICTED
        and dataset.organisation_id in principal.affiliated_org_ids
    )


def project_or_steward_clause(principal: Principal, project_column: Any) -> ColumnElement[bool]:
    """For objects of a project about a dataset (requests, agreements, jobs; the query joins
    :class:`Dataset`): true when the caller is in the project or stewards the dataset's owner."""
    if principal.is_admin:
        return true()
    return or_(project_column.in_(sorted(principal.project_ids)),
               Dataset.organisation_id.in_(sorted(principal.stewarded_org_ids)))


def may_see_project_object(principal: Principal, project_id: int, dataset: Dataset) -> bool:
    """The same rule as :func:`project_or_steward_clause`, for one loaded object."""
    return principal.stewards(dataset.organisation_id) or project_id in principal.project_ids
