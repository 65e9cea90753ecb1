"""The ODRL 2.2 conflict rule (IM §2.10): which permissions and prohibitions of a policy
conflict."""

from __future__ import annotations

from dataclasses import dataclass

from connector.policies import operands as vocab
from connector.policies.odrl import Policy


@dataclass(frozen=True, slots=True)
class Clash:
    """A permission and a prohibition of one policy that conflict (ODRL 2.2 IM §2.10);
    ``permission`` and ``prohibition`` index ``Policy.permissions`` and ``Policy.prohibitions``."""

    permission: int
    prohibition: int
    permitted: str
    prohibited: str

    @property
    def text(self) -> str:
        rules = (f"permission {self.permission + 1} ({self.permitted}) and prohibition "
                 f"{self.prohibition + 1} ({self.prohibited}) conflict")
        permitted, prohibited = (vocab.canonical_action(self.permitted),
                                 vocab.canonical_action(self.prohibited))
        if permitted == prohibited:
            return f"{rules}: both are about {permitted}"
        if vocab.action_covers(self.permitted, self.prohibited):
            return f"{rules}: {self.prohibited} is included in {self.permitted}"
        return f"{rules}: {self.permitted} is included in {self.prohibited}"


def _may_meet(one: str | None, other: str | None) -> bool:
    """Whether two assignees (or targets) can be the same party (or asset): a rule that
    names none binds every one."""
    return one is None or other is None or one == other


def conflicts(policy: Policy) -> tuple[Clash, ...]:
    """The permission/prohibition pairs of ``policy`` that conflict, whatever its strategy.

    Two rules conflict when their actions are the same or one is included in the other (the
    ODRL Common Vocabulary's ``includedIn``, transitively: a permission to ``use`` also
    permits ``distribute``) and they can bind the same assignee and target. Constraints are
    not weighed: they narrow when a rule is in force, not what the policy says, and §2.10
    voids a policy for conflicting rules, not for a request that meets both.
    """
    found = []
    for i, permission in enumerate(policy.permissions):
        for j, prohibition in enumerate(policy.prohibitions):
            if ((vocab.action_covers(permission.action, prohibition.action)
                 or vocab.action_covers(prohibition.action, permission.action))
                    and _may_meet(permission.assignee or policy.assignee,
                                  prohibition.assignee or policy.assignee)
                    and _may_meet(permission.target or policy.target,
                                  prohibition.target or policy.target)):
                found.append(Clash(i, j, permission.action, prohibition.action))
    return tuple(found)
