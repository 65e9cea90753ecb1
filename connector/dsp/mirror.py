"""The local agreement that mirrors a remote one, so data obtained over DSP is governed here too.

Before a team's first transfer under a remote agreement, three ordinary records are made with
the ordinary use cases: a catalog dataset standing for the remote dataset (``NON_PUBLIC``,
owned by the team's organisation, its one distribution ``dsp://negotiation/<id>``, which the
``dsp`` source adapter reads), the remote policy attached to it as an offer, and an access
request of the team's project decided by our own evaluator, which yields the agreement. Local
expiry, revocation, staging duties and audit then apply as to any agreement.

The three are written in one transaction: when our evaluator refuses (or anything else fails)
none of them stays.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from connector.catalog import service as catalog
from connector.dsp.models import Negotiation
from connector.dsp.negotiation import stated_purpose
from connector.errors import PolicyDenied, ValidationFailed
from connector.identity.models import Project
from connector.identity.principal import OPERATOR, Principal
from connector.policies import service as policies
from connector.policies.models import Agreement, AgreementState, RequestState
from connector.policies.operands import parse_datetime, parse_duration
from connector.uow import UnitOfWork

#: The period assumed when the remote agreement states none (our providers agree for P90D).
DEFAULT_PERIOD = "P90D"
_NOT_POLICY = frozenset({"@context", "@type", "target", "assigner", "assignee", "timestamp"})


def source_url(negotiation: Negotiation) -> str:
    """The distribution URL of the mirrored dataset: the ``dsp`` adapter resolves it."""
    return f"dsp://negotiation/{negotiation.id}"


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _date_limits(items: Iterable[Any]) -> Iterable[str]:
    for item in items:
        if not isinstance(item, Mapping):
            continue
        for key in ("and", "andSequence"):
            if isinstance(item.get(key), list):
                yield from _date_limits(item[key])
        if item.get("leftOperand") == "dateTime" and item.get("operator") in ("lt", "lteq"):
            value = item.get("rightOperand")
            value = value.get("@value") if isinstance(value, Mapping) else value
            if isinstance(value, str):
                yield value


def remote_end(agreement: Mapping[str, Any]) -> dt.datetime:
    """The end of a remote agreement: its earliest ``dateTime`` upper bound, else
    :data:`DEFAULT_PERIOD` after its ``timestamp``."""
    limits = [parse_datetime(value) for rule in agreement.get("permission") or []
              for value in _date_limits(rule.get("constraint") or [])]
    if limits:
        return min(limits)
    return parse_duration(DEFAULT_PERIOD).after(parse_datetime(str(agreement["timestamp"])))


def remote_policy(agreement: Mapping[str, Any]) -> dict[str, Any]:
    """The remote agreement's rules as an ODRL offer of ours (same ``@id``)."""
    body = {key: value for key, value in agreement.items() if key not in _NOT_POLICY}
    return {**body, "@type": "Offer"}


class _OneTransaction:
    """A unit of work whose ``commit`` only flushes, so the use cases called through it write
    in the caller's transaction and the caller commits (or drops) them together."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    def __enter__(self) -> _OneTransaction:
        self._uow.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._uow.__exit__(*exc)

    def commit(self) -> None:
        self._uow.session.flush()

    def rollback(self) -> None:
        self._uow.rollback()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._uow, name)


def mirror_agreement(uow: UnitOfWork, principal: Principal, negotiation: Negotiation, project: Project,
                     schemas: Any, *, site: policies.Site, now: dt.datetime) -> Agreement:
    """Record the local agreement mirroring ``negotiation``'s remote agreement (see the module).

    Raises ValidationFailed when the remote policy is not one our evaluator understands, and
    PolicyDenied when our evaluator does not permit the team's project to use it.
    """
    remote = negotiation.agreement or {}
    end = remote_end(remote)
    organisation = project.organisation.slug
    document = {
        "organisation": organisation,
        "identifier": f"dsp:{negotiation.participant_id}:{negotiation.dataset}:{remote.get('@id')}",
        "title": {"en": f"{negotiation.dataset} from {negotiation.participant_id}"[:500]},
        "description": (f"Obtained over the Dataspace Protocol from {negotiation.participant_id} under "
                        f"agreement {remote.get('@id')} (negotiation {negotiation.id})."),
        "accessRights": "NON_PUBLIC",
        "distribution": [{"accessURL": source_url(negotiation), "downloadURL": source_url(negotiation),
                          "format": "PARQUET", "mediaType": "application/vnd.apache.parquet"}],
    }
    schemas.validate("dataset", document)
    if end <= now:
        raise ValidationFailed([{"path": "$.negotiation", "message":
                                 f"the remote agreement ended at {_iso(end)}"}])
    system = dataclasses.replace(OPERATOR, name="dsp-mirror")
    with uow:
        one = _OneTransaction(uow)
        view = catalog.register_dataset(one, system, document)  # type: ignore[arg-type]
        offer, _ = policies.attach_offer(one, system, view.id,  # type: ignore[arg-type]
                                         {"policy": remote_policy(remote)}, schemas)
        # The team may not see a NON_PUBLIC record of its organisation; it acts here as its owner.
        owner = dataclasses.replace(principal, project_ids=principal.project_ids | {project.id},
                                    stewarded_org_ids=principal.stewarded_org_ids | {project.organisation_id})
        body = {"dataset": view.id, "offer": offer.id, "project": project.slug,
                "purpose": stated_purpose(remote) or f"Dataspace Protocol transfer ({negotiation.id})",
                "end": _iso(end)}
        request, agreement = policies.request_access(one, owner, body,  # type: ignore[arg-type]
                                                     site=site, now=now)
        if agreement is None or agreement.state != AgreementState.ACTIVE:
            reasons = [str(r) for r in (request.decision or {}).get("reasons", [])]
            state = "denied" if request.state == RequestState.REJECTED else request.state
            uow.rollback()  # the dataset, offer and request made above go with it
            raise PolicyDenied(f"our own evaluation of the remote policy for project {project.slug} "
                               f"is {state}", reasons=reasons)
        negotiation.agreement_id = agreement.id
        uow.commit()
        return agreement
