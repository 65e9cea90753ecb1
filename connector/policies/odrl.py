"""The ODRL 2.2 policy model as frozen dataclasses.

:mod:`connector.policies.odrl_jsonld` reads a policy from JSON-LD (with validation) and writes
it back; :mod:`connector.policies.odrl_conflicts` finds the permission/prohibition pairs that
conflict (ODRL 2.2 IM §2.10).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from connector.policies import operands as vocab


class PolicyType(enum.StrEnum):
    SET = "Set"
    OFFER = "Offer"
    AGREEMENT = "Agreement"


class Conflict(enum.StrEnum):
    """ODRL conflict strategies; a policy that states none is treated as ``invalid``."""

    PERM = "perm"
    PROHIBIT = "prohibit"
    INVALID = "invalid"


class RuleKind(enum.StrEnum):
    PERMISSION = "permission"
    PROHIBITION = "prohibition"
    DUTY = "duty"


class LogicalOperand(enum.StrEnum):
    AND = "and"
    OR = "or"
    XONE = "xone"
    AND_SEQUENCE = "andSequence"


@dataclass(frozen=True)
class Constraint:
    """An atomic constraint; ``value`` is the right operand parsed for its left operand."""

    left_operand: str
    operator: str
    right_operand: Any  # as written: a literal, or a tuple of literals for set operators
    unit: str | None = None
    data_type: str | None = None
    uid: str | None = None
    value: Any = field(init=False, repr=False, compare=False)
    requirement: str = field(init=False, repr=False, compare=False)  # "at or after 2025-01-01"

    def __post_init__(self) -> None:
        value, problems = vocab.check_constraint(
            self.left_operand, self.operator, self.right_operand, self.unit, self.data_type)
        if problems:
            raise ValueError("; ".join(message for _, message in problems))
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "requirement", vocab.requirement(
            self.left_operand, self.operator, self.right_operand))


@dataclass(frozen=True)
class LogicalConstraint:
    operand: LogicalOperand
    constraints: tuple[Constraint | LogicalConstraint, ...]
    uid: str | None = None


@dataclass(frozen=True)
class Rule:
    """A permission, prohibition or duty (a permission's duty, a policy obligation,
    a duty's consequence or a prohibition's remedy)."""

    kind: RuleKind
    action: str
    target: str | None = None
    assignee: str | None = None
    assigner: str | None = None
    constraints: tuple[Constraint | LogicalConstraint, ...] = ()
    duties: tuple[Rule, ...] = ()
    remedies: tuple[Rule, ...] = ()
    consequences: tuple[Rule, ...] = ()
    uid: str | None = None

    def __post_init__(self) -> None:
        if vocab.canonical_action(self.action) is None:
            raise ValueError(f"unknown action '{self.action}'")


@dataclass(frozen=True)
class Policy:
    uid: str
    type: PolicyType = PolicyType.SET
    permissions: tuple[Rule, ...] = ()
    prohibitions: tuple[Rule, ...] = ()
    obligations: tuple[Rule, ...] = ()
    profiles: tuple[str, ...] = ()
    conflict: Conflict | None = None
    assigner: str | None = None
    assignee: str | None = None
    target: str | None = None
    description: str | None = None
    license: str | None = None
    timestamp: str | None = None

    def __post_init__(self) -> None:
        if not (self.permissions or self.prohibitions or self.obligations):
            raise ValueError("a policy needs at least one permission, prohibition or obligation")

    @property
    def conflict_strategy(self) -> Conflict:
        return self.conflict or Conflict.INVALID

