"""Ready-made offers a steward can attach to a dataset, as ODRL JSON-LD documents.

Each template returns a DSP-style ``Offer`` (no target: the dataset it is attached to is the
target) and checks it with :func:`~connector.policies.odrl_jsonld.parse_policy`, so bad parameters
fail here with :class:`~connector.policies.odrl_jsonld.PolicyInvalid`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from connector.policies.odrl_jsonld import parse_policy
from connector.policies.operands import SITE_PROFILE

# Secondary-use purposes of the European Health Data Space regulation (EU) 2025/327, Art. 53.
EHDS_PURPOSES = ("publicHealth", "policyMaking", "statistics", "education",
                 "scientificResearch", "productDevelopment", "aiTraining",
                 "personalisedHealthcare")


def _constraint(left: str, operator: str, right: Any) -> dict[str, Any]:
    return {"leftOperand": left, "operator": operator, "rightOperand": right}


def _offer(uid: str, permission: dict[str, Any], *, assigner: str | None = None,
           site: bool = False, **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"@id": uid, "@type": "Offer"}
    if site:
        doc["profile"] = SITE_PROFILE
    if assigner:
        doc["assigner"] = assigner
    doc.update(extra)
    doc["permission"] = [permission]
    parse_policy(doc)
    return doc


def open_data(uid: str, *, license: str, assigner: str | None = None) -> dict[str, Any]:
    """Anyone may use the data; the only condition is the licence."""
    return _offer(uid, {"action": "use"}, assigner=assigner, **{"dct:license": license})


def research_eu(uid: str, *, purpose: str = "research", region: str = "EU",
                max_days: int | None = None, assigner: str | None = None) -> dict[str, Any]:
    """Use for (a kind of) research, processed inside ``region``, optionally time-boxed."""
    constraints = [_constraint("purpose", "isA", purpose),
                   _constraint("spatial", "isPartOf", region)]
    if max_days is not None:
        constraints.append(_constraint("elapsedTime", "lteq", f"P{max_days}D"))
    return _offer(uid, {"action": "use", "constraint": constraints}, assigner=assigner)


def health_secondary_use(
    uid: str, *, permit_ids: Sequence[str], projects: Sequence[str], processing_location: str,
    identifying_columns: Sequence[str], retention_days: int,
    purposes: Sequence[str] = EHDS_PURPOSES, assigner: str | None = None,
) -> dict[str, Any]:
    """EHDS-style secondary use: a data permit, named projects, processing at the AI Factory
    only, identifying columns pseudonymised, data deleted after ``retention_days``."""
    permission = {
        "action": "use",
        "constraint": [
            _constraint("dataPermit", "isAnyOf", list(permit_ids)),
            _constraint("recipient", "isAnyOf", list(projects)),
            _constraint("processingLocation", "eq", processing_location),
            _constraint("purpose", "isAnyOf", list(purposes)),
            _constraint("elapsedTime", "lteq", f"P{retention_days}D"),
        ],
        "duty": [*({"action": "pseudonymize", "target": f"column:{name}"}
                   for name in identifying_columns),
                 {"action": "delete"}],
    }
    return _offer(uid, permission, assigner=assigner, site=True)


def defence_restricted(uid: str, *, clearance: str, projects: Sequence[str],
                       assigner: str | None = None) -> dict[str, Any]:
    """Named projects with a clearance at or above ``clearance``; no redistribution."""
    permission = {"action": "use", "constraint": [
        _constraint("securityClearance", "gteq", clearance),
        _constraint("recipient", "isAnyOf", list(projects))]}
    return _offer(uid, permission, assigner=assigner, site=True, conflict="prohibit",
                  prohibition=[{"action": "distribute"}])


TEMPLATES: dict[str, Callable[..., dict[str, Any]]] = {
    "open-data": open_data,
    "research-eu": research_eu,
    "health-secondary-use": health_secondary_use,
    "defence-restricted": defence_restricted,
}
