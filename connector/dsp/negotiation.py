"""Contract-negotiation messages (Dataspace Protocol 2025-1): pure builders and offer matching.

Nothing here reads the database or the network. The provider matches a requested offer by
``@id``; :func:`offer_differences` says in words what a requested offer changes against ours
(an empty list: the same offer), so a changed offer becomes a counter-offer, never a silent
error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from connector.dsp import CONTEXT

#: Our policy terms the comparison ignores: the target travels beside the offer in a catalog,
#: and the assignee is whoever asks.
_IGNORED = frozenset({"target", "assignee", "@context"})


def _message(message_type: str, **fields: Any) -> dict[str, Any]:
    return {"@context": [CONTEXT], "@type": message_type,
            **{key: value for key, value in fields.items() if value is not None}}


def ack(provider_pid: str, consumer_pid: str, state: str) -> dict[str, Any]:
    """The ``ContractNegotiation`` answer: where the negotiation stands."""
    return _message("ContractNegotiation", providerPid=provider_pid, consumerPid=consumer_pid, state=state)


def error(provider_pid: str, consumer_pid: str, code: str, reasons: Iterable[str]) -> dict[str, Any]:
    return _message("ContractNegotiationError", providerPid=provider_pid, consumerPid=consumer_pid,
                    code=code, reason=list(reasons))


def contract_request(consumer_pid: str, offer: Mapping[str, Any], *, callback_address: str | None = None,
                     provider_pid: str | None = None) -> dict[str, Any]:
    """Initial (with ``callback_address``) or counter-offer (with ``provider_pid``) request."""
    return _message("ContractRequestMessage", consumerPid=consumer_pid, providerPid=provider_pid,
                    offer=dict(offer), callbackAddress=callback_address)


def contract_offer(provider_pid: str, consumer_pid: str, offer: Mapping[str, Any]) -> dict[str, Any]:
    return _message("ContractOfferMessage", providerPid=provider_pid, consumerPid=consumer_pid,
                    offer=dict(offer))


def agreement_message(provider_pid: str, consumer_pid: str, agreement: Mapping[str, Any]) -> dict[str, Any]:
    return _message("ContractAgreementMessage", providerPid=provider_pid, consumerPid=consumer_pid,
                    agreement=dict(agreement))


def verification(provider_pid: str, consumer_pid: str) -> dict[str, Any]:
    return _message("ContractAgreementVerificationMessage", providerPid=provider_pid,
                    consumerPid=consumer_pid)


def event(provider_pid: str, consumer_pid: str, event_type: str) -> dict[str, Any]:
    return _message("ContractNegotiationEventMessage", providerPid=provider_pid, consumerPid=consumer_pid,
                    eventType=event_type)


def termination(provider_pid: str, consumer_pid: str, code: str, reasons: Iterable[str]) -> dict[str, Any]:
    return _message("ContractNegotiationTerminationMessage", providerPid=provider_pid,
                    consumerPid=consumer_pid, code=code, reason=list(reasons))


def agreement(offer: Mapping[str, Any], *, agreement_iri: str, target: str, assigner: str, assignee: str,
              timestamp: str) -> dict[str, Any]:
    """The ODRL ``Agreement`` of an offer: its rules, with the parties and the target named."""
    body = {key: value for key, value in offer.items() if key not in _IGNORED and key != "assigner"}
    return {**body, "@id": agreement_iri, "@type": "Agreement", "target": target,
            "assigner": assigner, "assignee": assignee, "timestamp": timestamp}


def offer_differences(requested: Mapping[str, Any], ours: Mapping[str, Any]) -> list[str]:
    """What ``requested`` changes against ``ours``, one sentence per term; [] when the same.

    ``target`` and ``assignee`` are not compared (the caller checks the target); an
    ``assigner`` may be left out but, when given, must be ours.
    """
    differences = []
    for key in sorted((set(requested) | set(ours)) - _IGNORED):
        if key == "assigner" and key not in requested:
            continue
        if requested.get(key) != ours.get(key):
            if key not in requested:
                differences.append(f"the offer leaves out {key!r}")
            elif key not in ours:
                differences.append(f"the offer adds {key!r}, which ours does not have")
            else:
                differences.append(f"{key!r} differs from our offer")
    return differences


def stated_purpose(offer: Mapping[str, Any]) -> str | None:
    """The purpose an offer's permissions constrain to (``purpose`` eq/isA/isAnyOf), if any.

    A consumer who requests the offer commits to that purpose, so it is the purpose of the
    access request made for it.
    """
    for rule in offer.get("permission") or []:
        for constraint in _constraints(rule.get("constraint") or []):
            if constraint.get("leftOperand") == "purpose" and constraint.get("operator") in (
                    "eq", "isA", "isAnyOf", "isPartOf"):
                value = constraint.get("rightOperand")
                if isinstance(value, list):
                    value = value[0] if value else None
                if isinstance(value, Mapping):
                    value = value.get("@value", value.get("@id"))
                if isinstance(value, str) and value:
                    return value
    return None


def _constraints(items: Iterable[Any]) -> Iterable[Mapping[str, Any]]:
    for item in items:
        if not isinstance(item, Mapping):
            continue
        nested = [value for key, value in item.items() if key in ("and", "or", "xone", "andSequence")]
        if nested:
            for group in nested:
                yield from _constraints(group if isinstance(group, list) else [group])
        else:
            yield item
