"""The contract-negotiation and transfer-process state machines of the Dataspace Protocol 2025-1.

Pure values: which message, sent by which role, moves a process from which state to which.
Both sides of a process run the same table; a message that the table does not allow is
answered with a protocol error (400) and changes nothing. ``None`` is the state before the
first message.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Role(enum.StrEnum):
    PROVIDER = "provider"
    CONSUMER = "consumer"


class NegotiationState(enum.StrEnum):
    REQUESTED = "REQUESTED"
    OFFERED = "OFFERED"
    ACCEPTED = "ACCEPTED"
    AGREED = "AGREED"
    VERIFIED = "VERIFIED"
    FINALIZED = "FINALIZED"
    TERMINATED = "TERMINATED"


class TransferState(enum.StrEnum):
    REQUESTED = "REQUESTED"
    STARTED = "STARTED"
    SUSPENDED = "SUSPENDED"
    COMPLETED = "COMPLETED"
    TERMINATED = "TERMINATED"


class IllegalTransition(ValueError):
    """The message is not allowed in the process's state, or not from this sender."""


@dataclass(frozen=True)
class Machine:
    """One state machine: ``moves[(message, sender)] = {from_state: to_state}``."""

    name: str
    terminal: frozenset[str]
    moves: dict[tuple[str, Role], dict[str | None, str]]

    def next_state(self, state: str | None, message: str, sender: Role) -> str:
        """The state after ``message`` from ``sender``; IllegalTransition when not allowed."""
        if state in self.terminal:
            raise IllegalTransition(f"the {self.name} is {state}; no message is accepted any more")
        allowed = self.moves.get((message, sender))
        if allowed is None:
            raise IllegalTransition(f"a {sender} does not send {message} in a {self.name}")
        if state not in allowed:
            where = "before the process exists" if state is None else f"in state {state}"
            expected = ", ".join(sorted(s or "(new)" for s in allowed))
            raise IllegalTransition(
                f"{message} from the {sender} is not allowed {where} (allowed in: {expected})")
        return allowed[state]


_N = NegotiationState
_C, _P = Role.CONSUMER, Role.PROVIDER
_OPEN_NEGOTIATION = (_N.REQUESTED, _N.OFFERED, _N.ACCEPTED, _N.AGREED, _N.VERIFIED)

#: Event messages are told apart by their ``eventType``: ``ContractNegotiationEventMessage:ACCEPTED``.
NEGOTIATION = Machine("contract negotiation", frozenset({_N.FINALIZED, _N.TERMINATED}), {
    ("ContractRequestMessage", _C): {None: _N.REQUESTED, _N.OFFERED: _N.REQUESTED},
    ("ContractOfferMessage", _P): {None: _N.OFFERED, _N.REQUESTED: _N.OFFERED},
    ("ContractNegotiationEventMessage:ACCEPTED", _C): {_N.OFFERED: _N.ACCEPTED},
    ("ContractAgreementMessage", _P): {_N.REQUESTED: _N.AGREED, _N.ACCEPTED: _N.AGREED},
    ("ContractAgreementVerificationMessage", _C): {_N.AGREED: _N.VERIFIED},
    ("ContractNegotiationEventMessage:FINALIZED", _P): {_N.VERIFIED: _N.FINALIZED},
    ("ContractNegotiationTerminationMessage", _C): {s: _N.TERMINATED for s in _OPEN_NEGOTIATION},
    ("ContractNegotiationTerminationMessage", _P): {s: _N.TERMINATED for s in _OPEN_NEGOTIATION},
})

_T = TransferState
_OPEN_TRANSFER = (_T.REQUESTED, _T.STARTED, _T.SUSPENDED)
TRANSFER = Machine("transfer process", frozenset({_T.COMPLETED, _T.TERMINATED}), {
    ("TransferRequestMessage", _C): {None: _T.REQUESTED},
    ("TransferStartMessage", _P): {_T.REQUESTED: _T.STARTED, _T.SUSPENDED: _T.STARTED},
    ("TransferStartMessage", _C): {_T.SUSPENDED: _T.STARTED},
    ("TransferCompletionMessage", _C): {_T.STARTED: _T.COMPLETED},
    ("TransferCompletionMessage", _P): {_T.STARTED: _T.COMPLETED},
    ("TransferSuspensionMessage", _C): {_T.STARTED: _T.SUSPENDED},
    ("TransferSuspensionMessage", _P): {_T.STARTED: _T.SUSPENDED},
    ("TransferTerminationMessage", _C): {s: _T.TERMINATED for s in _OPEN_TRANSFER},
    ("TransferTerminationMessage", _P): {s: _T.TERMINATED for s in _OPEN_TRANSFER},
})


def negotiation_message_kind(message: dict) -> str:
    """The table key of a negotiation message (events carry their ``eventType``)."""
    kind = message["@type"]
    if kind == "ContractNegotiationEventMessage":
        return f"{kind}:{message.get('eventType')}"
    return kind
