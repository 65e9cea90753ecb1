"""Evaluate a policy against one request: a :class:`Decision` with an explanation tree.

Pure, total and deterministic: the clock is ``RequestContext.now``. Every check has three
possible states (satisfied, not satisfied, unknown); unknown arises when the request lacks a
value, and it never permits. The outcome:

* ``permit`` - a permission applies, all its duties are performed by the connector or
  recorded as fulfilled, and no prohibition wins under the policy's conflict strategy;
* ``needs_approval`` - nothing denies for certain, but a steward must decide: a value the
  request does not give, or a duty the connector cannot perform itself (``compensate``,
  ``obtainConsent`` ...) that is not yet recorded as fulfilled;
* ``deny`` - otherwise, and always for a policy that is void: its conflict strategy is
  ``invalid`` (stated, or by default) and a permission and a prohibition conflict
  (:func:`~connector.policies.odrl_conflicts.conflicts`). Duties of the granting permission, and
  policy obligations, become the agreement's :class:`Obligation` values.

It is one piece because each check builds its :class:`Node` of the explanation in the same
step that decides it: evaluation and explanation are one recursive walk, not two passes.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from connector.policies import operands as vocab
from connector.policies.odrl import (
    Conflict,
    Constraint,
    LogicalConstraint,
    Policy,
    Rule,
)
from connector.policies.odrl_conflicts import conflicts
from connector.policies.odrl_jsonld import bare_term, rule_to_jsonld


class State(enum.StrEnum):
    SATISFIED = "satisfied"
    NOT_SATISFIED = "not_satisfied"
    UNKNOWN = "unknown"


class Outcome(enum.StrEnum):
    PERMIT = "permit"
    DENY = "deny"
    NEEDS_APPROVAL = "needs_approval"


class DutyState(enum.StrEnum):
    FULFILLED = "fulfilled"
    VIOLATED = "violated"
    PENDING = "pending"


T, F, U = State.SATISFIED, State.NOT_SATISFIED, State.UNKNOWN


@dataclass(frozen=True, kw_only=True)
class RequestContext:
    """What is asked, by whom, and the state of the world at ``now`` (timezone-aware).

    ``memberships`` are the party collections the assignee belongs to; ``target_part_of``
    the asset collections the target belongs to; ``duty_states`` the recorded state of
    duties by their ``@id``; ``attributes`` feed the site left operands.
    """

    now: dt.datetime
    action: str = "use"
    assignee: str | None = None
    project: str | None = None
    organisation: str | None = None
    memberships: frozenset[str] = frozenset()
    target: str | None = None
    target_part_of: frozenset[str] = frozenset()
    purpose: str | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    processing_location: str | None = None
    region: str | None = None
    count: int | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    duty_states: Mapping[str, DutyState] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("now", "start", "end"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, dt.datetime) or value.utcoffset()
                                      is None):
                raise ValueError(f"{name} must be a timezone-aware datetime")
        if self.count is not None and (not isinstance(self.count, int) or self.count < 0):
            raise ValueError("count must be a non-negative integer")
        set_ = object.__setattr__
        set_(self, "action", bare_term(self.action) or self.action)
        set_(self, "memberships", frozenset(self.memberships))
        set_(self, "target_part_of", frozenset(self.target_part_of))
        set_(self, "attributes", MappingProxyType(dict(self.attributes)))
        set_(self, "duty_states", MappingProxyType(
            {key: DutyState(value) for key, value in self.duty_states.items()}))

    @property
    def parties(self) -> frozenset[str]:
        """Everyone the requester acts as: itself, its project, organisation and groups."""
        named = (self.assignee, self.project, self.organisation)
        return frozenset(filter(None, named)) | self.memberships


@dataclass(frozen=True, slots=True)
class Node:
    """One checked item: a rule, a premise, a constraint or a duty, with its result."""

    kind: str
    path: str
    state: State
    text: str
    uid: str | None = None
    left_operand: str | None = None
    value: Any = None
    operator: str | None = None
    right_operand: Any = None
    children: tuple[Node, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"kind": self.kind, "path": self.path, "state": str(self.state),
                               "text": self.text}
        optional = {"uid": self.uid, "leftOperand": self.left_operand,
                    "value": _jsonable(self.value), "operator": self.operator,
                    "rightOperand": _jsonable(self.right_operand)}
        doc.update((key, value) for key, value in optional.items() if value is not None)
        if self.children:
            doc["children"] = [child.to_dict() for child in self.children]
        return doc


@dataclass(frozen=True, slots=True)
class Obligation:
    """A duty the agreement carries: who performs it and its recorded state."""

    path: str
    duty: Rule
    by_service: bool
    state: DutyState
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "action": self.duty.action, "state": str(self.state),
                "performedBy": "connector" if self.by_service else "assignee",
                "text": self.text, "duty": rule_to_jsonld(self.duty)}


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    reasons: tuple[str, ...]
    obligations: tuple[Obligation, ...]
    explanation: Node

    def to_dict(self) -> dict[str, Any]:
        return {"decision": str(self.outcome), "reasons": list(self.reasons),
                "obligations": [item.to_dict() for item in self.obligations],
                "explanation": self.explanation.to_dict()}


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return vocab.format_datetime(value)
    if isinstance(value, vocab.Period):
        return {"start": vocab.format_datetime(value.start), "end": vocab.format_datetime(value.end)}
    if isinstance(value, frozenset):
        return sorted(_jsonable(item) for item in value)
    if isinstance(value, tuple | list):
        return [_jsonable(item) for item in value]
    return value


# --- three-valued logic -----------------------------------------------------------------

def all3(states: Iterable[State]) -> State:
    seen = set(states)
    return F if F in seen else (U if U in seen else T)


def any3(states: Iterable[State]) -> State:
    seen = set(states)
    return T if T in seen else (U if U in seen else F)


def xone3(states: Iterable[State]) -> State:
    states = list(states)
    satisfied, unknown = states.count(T), states.count(U)
    if satisfied > 1 or (satisfied + unknown == 0):
        return F
    return U if unknown else T


_LOGIC: dict[str, tuple[Callable[[Iterable[State]], State], str]] = {
    "and": (all3, "all of"), "andSequence": (all3, "all of, in order,"),
    "or": (any3, "at least one of"), "xone": (xone3, "exactly one of")}
_RESULT = {T: "met", F: "not met", U: "cannot be checked"}
_APPLIES = {T: "applies to this request",
            U: "may apply, but the request lacks what is needed to check it"}


# --- constraints ------------------------------------------------------------------------

def _atomic(item: Constraint, path: str, context: RequestContext) -> Node:
    operand = vocab.LEFT_OPERANDS[item.left_operand]
    wanted = f"the policy requires {item.requirement}"
    value, state, problem = None, U, ""
    try:
        value = operand.read(context)
        if value is not None:
            test = vocab.OPERATORS[item.operator].test
            state = T if test(operand.type, value, item.value) else F
    except (ValueError, TypeError, OverflowError) as error:
        problem = f" ({error})"
    if state is not U:
        text = f"{operand.label} is {operand.type.render(value)}; {wanted}: {_RESULT[state]}"
    elif value is None and not problem:
        text = f"the request does not give {operand.label} ({operand.source}); {wanted}"
    else:
        text = f"{operand.label} cannot be used{problem}; {wanted}"
    return Node("constraint", path, state, text, item.uid, item.left_operand, value,
                item.operator, item.right_operand)


def _constraint(item: Constraint | LogicalConstraint, path: str, context: RequestContext) -> Node:
    if isinstance(item, Constraint):
        return _atomic(item, path, context)
    name = str(item.operand)
    combine, words = _LOGIC[name]
    children = tuple(_constraint(member, f"{path}.{name}[{index}]", context)
                     for index, member in enumerate(item.constraints))
    state = combine(child.state for child in children)
    met = sum(child.state is T for child in children)
    return Node(kind="constraint", path=path, state=state, uid=item.uid, operator=name,
                children=children, text=f"{words} {len(children)} conditions must hold; "
                f"{met} met: {_RESULT[state]}")


# --- rules ------------------------------------------------------------------------------

def _action(rule: Rule, path: str, context: RequestContext) -> Node:
    asked, named = context.action, rule.action
    if vocab.action_covers(named, asked):
        state, text = T, f"the request to {asked} falls under the rule's action {named}"
    elif vocab.canonical_action(asked) is None:
        state, text = F, f"the requested action {asked!r} is not an ODRL action"
    elif vocab.action_covers(asked, named):
        state, text = F, (f"the rule is about {named}, a narrower action than the requested "
                          f"{asked}; it stays in force for {named} itself")
    else:
        state, text = F, f"the request to {asked} is not covered by the rule's action {named}"
    return Node(kind="action", path=f"{path}.action", state=state, text=text,
                value=asked, right_operand=named)


def _party(assignee: str, path: str, context: RequestContext) -> Node:
    parties = context.parties
    who = ", ".join(sorted(parties)) or "nobody named"
    if assignee in parties:
        state, text = T, f"the rule is for {assignee}; the requester acts as {who}"
    elif context.assignee is None and context.project is None:
        state, text = U, f"the rule is for {assignee}; the request does not say who asks"
    else:
        state, text = F, f"the rule is for {assignee}, but the requester acts only as {who}"
    return Node(kind="party", path=path, state=state, text=text, value=who,
                right_operand=assignee)


def _target(target: str, path: str, context: RequestContext) -> Node:
    asked = context.target
    if asked is not None and (asked == target or target in context.target_part_of):
        state, text = T, f"the requested asset {asked} is (part of) the rule's target {target}"
    elif asked is None:
        state, text = U, f"the rule concerns {target}; the request names no asset"
    else:
        state, text = F, f"the rule concerns {target}, not the requested asset {asked}"
    return Node(kind="target", path=path, state=state, text=text, value=asked,
                right_operand=target)


def _duty(duty: Rule, path: str, context: RequestContext) -> tuple[Node, Obligation]:
    recorded = context.duty_states.get(duty.uid) if duty.uid else None
    by_service = vocab.canonical_action(duty.action) in vocab.SERVICE_DUTIES
    conditions = "".join(f"; condition: {_render(item)}" for item in duty.constraints)
    if recorded is DutyState.VIOLATED:
        then = ", ".join(rule.action for rule in duty.consequences)
        state, text = F, f"duty to {duty.action} is recorded as violated" + (
            f"; now also due: {then}" if then else "")
    elif recorded is DutyState.FULFILLED:
        state, text = T, f"duty to {duty.action} is recorded as fulfilled"
    elif by_service:
        state, text = T, f"duty to {duty.action}: the connector performs it{conditions}"
    else:
        state, text = U, (f"duty to {duty.action}: the connector cannot perform it, so a "
                          f"steward must confirm it{conditions}")
    node = Node(kind="duty", path=path, state=state, text=text, uid=duty.uid,
                value=str(recorded or DutyState.PENDING), right_operand=duty.action)
    return node, Obligation(path, duty, by_service, recorded or DutyState.PENDING, text)


def _render(item: Constraint | LogicalConstraint) -> str:
    if isinstance(item, LogicalConstraint):
        return f"{item.operand}(" + "; ".join(_render(x) for x in item.constraints) + ")"
    return f"{item.left_operand} {item.requirement}"


@dataclass(frozen=True, slots=True)
class _Rule:
    node: Node
    obligations: tuple[Obligation, ...]
    label: str

    @property
    def applies(self) -> State:
        return self.node.state

    @property
    def grant(self) -> State:
        """Whether this permission grants: it applies and all its duties are in hand."""
        duties = (child.state for child in self.node.children if child.kind == "duty")
        return all3((self.node.state, *duties))


def _rule(policy: Policy, rule: Rule, path: str, label: str, context: RequestContext) -> _Rule:
    premises = [_action(rule, path, context)]
    assignee, target = rule.assignee or policy.assignee, rule.target or policy.target
    if assignee is not None:
        premises.append(_party(assignee, f"{path}.assignee", context))
    if target is not None:
        premises.append(_target(target, f"{path}.target", context))
    premises += [_constraint(item, f"{path}.constraint[{index}]", context)
                 for index, item in enumerate(rule.constraints)]
    state = all3(node.state for node in premises)
    duties = [_duty(duty, f"{path}.duty[{index}]", context)
              for index, duty in enumerate(rule.duties)]
    text = f"{label} ({rule.action}) " + (_APPLIES[state] if state is not F else (
        f"does not apply: {sum(node.state is F for node in premises)} condition(s) not met"))
    if rule.remedies:
        text += "; if infringed, remedy: " + ", ".join(item.action for item in rule.remedies)
    node = Node(kind=str(rule.kind), path=path, state=state, text=text, uid=rule.uid,
                children=(*premises, *(item for item, _ in duties)))
    return _Rule(node, tuple(item for _, item in duties), label)


# --- the decision -----------------------------------------------------------------------

def _culprits(node: Node, state: State) -> list[Node]:
    """The deepest nodes that give ``node`` its ``state``."""
    children = [child for child in node.children if child.state is state]
    return [leaf for child in children for leaf in _culprits(child, state)] or [node]


def _why(rules: list[_Rule], state: State) -> list[str]:
    return [f"{rule.label}: {leaf.text}" for rule in rules for leaf in _culprits(rule.node, state)
            if leaf is not rule.node]


@dataclass(frozen=True, slots=True)
class _Verdict:
    outcome: Outcome
    reasons: tuple[str, ...]
    chosen: _Rule | None = None


def _by_permissions(permissions: list[_Rule]) -> _Verdict:
    granting = [rule for rule in permissions if rule.grant is T]
    if granting:
        return _Verdict(Outcome.PERMIT, (f"{granting[0].label} grants the request",),
                        granting[0])
    pending = [rule for rule in permissions if rule.grant is U]
    if pending:
        return _Verdict(Outcome.NEEDS_APPROVAL, tuple(_why(pending, U)), pending[0])
    if not permissions:
        return _Verdict(Outcome.DENY, ("the policy grants no permission",))
    return _Verdict(Outcome.DENY, tuple(_why(permissions, F)))


def _resolve_perm(permissions: list[_Rule], prohibitions: list[_Rule]) -> _Verdict:
    verdict = _by_permissions(permissions)
    overridden = [rule.label for rule in prohibitions if rule.applies is not F]
    if verdict.outcome is Outcome.DENY or not overridden:
        return verdict
    note = f"{', '.join(overridden)} overridden: the policy lets permissions win (conflict perm)"
    return _Verdict(verdict.outcome, (*verdict.reasons, note), verdict.chosen)


def _resolve_prohibit(permissions: list[_Rule], prohibitions: list[_Rule]) -> _Verdict:
    forbidding = [rule for rule in prohibitions if rule.applies is T]
    if forbidding:
        return _Verdict(Outcome.DENY, tuple(f"{rule.node.text}: the action is forbidden"
                                            for rule in forbidding))
    verdict = _by_permissions(permissions)
    maybe = [rule for rule in prohibitions if rule.applies is U]
    if verdict.outcome is Outcome.DENY or not maybe:
        return verdict
    return _Verdict(Outcome.NEEDS_APPROVAL, (*verdict.reasons, *_why(maybe, U)), verdict.chosen)


def _resolve_invalid(permissions: list[_Rule], prohibitions: list[_Rule]) -> _Verdict:
    # Rules that conflicts() sees apart (other assignees, other targets) may still meet in
    # one request: a requester acting for both, an asset in both collections.
    applying = [rule.label for rule in permissions if rule.applies is T]
    forbidding = [rule for rule in prohibitions if rule.applies is T]
    if forbidding and applying:
        clash = ", ".join([*applying, *(rule.label for rule in forbidding)])
        return _Verdict(Outcome.DENY, (f"the policy is void: {clash} conflict and its conflict "
                                       "strategy is invalid",))
    return _resolve_prohibit(permissions, prohibitions)


_RESOLVE = {Conflict.PERM: _resolve_perm, Conflict.PROHIBIT: _resolve_prohibit,
            Conflict.INVALID: _resolve_invalid}


def _with_obligations(verdict: _Verdict, obligations: list[_Rule]) -> _Verdict:
    duties = [rule for rule in obligations if rule.grant is not T]
    if verdict.outcome is Outcome.DENY or not duties:
        return verdict
    violated = [rule for rule in duties if rule.grant is F]
    if violated:
        return _Verdict(Outcome.DENY, tuple(rule.node.text for rule in violated))
    return _Verdict(Outcome.NEEDS_APPROVAL, (*verdict.reasons, *(
        rule.node.text for rule in duties)), verdict.chosen)


def _obligation(duty: Rule, index: int, context: RequestContext) -> _Rule:
    node, obligation = _duty(duty, f"$.obligation[{index}]", context)
    return _Rule(node, (obligation,), f"obligation {index + 1}")


_OUTCOME_STATE = {Outcome.PERMIT: T, Outcome.DENY: F, Outcome.NEEDS_APPROVAL: U}


def evaluate(policy: Policy, context: RequestContext) -> Decision:
    """Decide ``context`` under ``policy``, explaining every rule and constraint checked."""
    permissions = [_rule(policy, rule, f"$.permission[{index}]", f"permission {index + 1}",
                         context) for index, rule in enumerate(policy.permissions)]
    prohibitions = [_rule(policy, rule, f"$.prohibition[{index}]", f"prohibition {index + 1}",
                          context) for index, rule in enumerate(policy.prohibitions)]
    obligations = [_obligation(duty, index, context)
                   for index, duty in enumerate(policy.obligations)]
    clashes = conflicts(policy) if policy.conflict_strategy is Conflict.INVALID else ()
    if clashes:  # void as a whole (IM §2.10), whatever is asked
        verdict = _Verdict(Outcome.DENY, tuple(
            f"the policy is void: {clash.text}, and its conflict strategy is invalid (the "
            "default when a policy states none)" for clash in clashes))
    else:
        verdict = _RESOLVE[policy.conflict_strategy](permissions, prohibitions)
    verdict = _with_obligations(verdict, obligations)
    granted: tuple[Obligation, ...] = ()
    if verdict.outcome is not Outcome.DENY:
        chosen = verdict.chosen.obligations if verdict.chosen else ()
        granted = (*chosen, *(item for rule in obligations for item in rule.obligations))
    root = Node(kind="policy", path="$", state=_OUTCOME_STATE[verdict.outcome], uid=policy.uid,
                text=f"{policy.type} {policy.uid} (conflict strategy "
                     f"{policy.conflict_strategy}): {verdict.outcome}",
                children=tuple(rule.node for rule in (*permissions, *prohibitions,
                                                      *obligations)))
    return Decision(verdict.outcome, verdict.reasons, granted, root)
