"""What contract negotiations and transfer processes share as persisted DSP processes.

Both are rows with our process id (``pid``), the peer's (``counter_pid``, unknown until its
first message), a role, a state of their machine in :mod:`connector.dsp.states`, and an end
reason. Here: their pids, their lookup for a participant or a principal, the moves of their
machine, the pid check of an inbound message, their end, and the outbox entry of a message
owed to the peer (written in the same transaction as the state it leads to).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from connector.dsp.errors import NegotiationRefused, TransferRefused
from connector.dsp.messages import message_schemas
from connector.dsp.models import Negotiation, OutboxMessage, OutboxState, Transfer
from connector.dsp.participants import Participant, ParticipantRegistry
from connector.dsp.states import NEGOTIATION, TRANSFER, IllegalTransition, Machine, Role, TransferState
from connector.errors import BadRequest, NotFound
from connector.identity.principal import Principal
from connector.uow import UnitOfWork

Process = Negotiation | Transfer


@dataclass(frozen=True)
class ProcessKind:
    """The table, machine and words of one kind of process."""

    model: type[Negotiation] | type[Transfer]
    machine: Machine
    noun: str
    collection: str
    refused: type[BadRequest]


NEGOTIATIONS = ProcessKind(Negotiation, NEGOTIATION, "contract negotiation", "negotiations",
                           NegotiationRefused)
TRANSFERS = ProcessKind(Transfer, TRANSFER, "transfer process", "transfers", TransferRefused)


def _repository(uow: UnitOfWork, kind: ProcessKind) -> Any:
    return uow.transfers if kind is TRANSFERS else uow.negotiations


def kind_of(process: Process) -> ProcessKind:
    return TRANSFERS if isinstance(process, Transfer) else NEGOTIATIONS


def new_pid() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def pids(process: Process) -> tuple[str, str]:
    """(providerPid, consumerPid); the side not known yet is ``""``."""
    if process.role == Role.PROVIDER:
        return process.pid, process.counter_pid or ""
    return process.counter_pid or "", process.pid


def own(uow: UnitOfWork, kind: ProcessKind, participant: Participant, pid: str, role: Role) -> Any:
    """Our process ``pid`` in ``role`` with ``participant``; 404 for anyone else's."""
    found = _repository(uow, kind).own(pid, role)
    if found is None or found.participant_id != participant.id:
        raise NotFound(f"no {kind.noun} {pid!r}")
    return found


def move(process: Process, message_kind: str, sender: Role) -> str:
    """The state ``message_kind`` from ``sender`` leads to; the kind's refusal (400) if illegal."""
    kind = kind_of(process)
    try:
        return kind.machine.next_state(process.state, message_kind, sender)
    except IllegalTransition as exc:
        raise kind.refused(str(exc)) from exc


def first_state(kind: ProcessKind, message_kind: str, sender: Role) -> str:
    """The state a new process starts in on ``message_kind``; the kind's refusal (400) if none."""
    try:
        return kind.machine.next_state(None, message_kind, sender)
    except IllegalTransition as exc:
        raise kind.refused(str(exc)) from exc


def set_state(process: Process, state: str, now: dt.datetime) -> None:
    process.state = state
    process.updated_at = now
    if isinstance(process, Transfer) and state in TRANSFER.terminal:
        process.token = process.token_hash = None  # an ended transfer's token is worth nothing


def end(process: Process, code: str | None, reasons: list[str] | None, now: dt.datetime) -> None:
    """TERMINATED (both machines' name) with a code and reasons."""
    set_state(process, TransferState.TERMINATED, now)  # NegotiationState.TERMINATED too
    process.termination_code, process.termination_reason = code, reasons


def record_end(process: Process, message: Mapping[str, Any]) -> None:
    """Keep the code and reasons of the peer's termination (or suspension) message."""
    process.termination_code = message.get("code")
    process.termination_reason = [str(r) for r in message.get("reason", [])] or None


def check_pids(process: Process, message: Mapping[str, Any]) -> None:
    """Our pid in ``message`` must be this process's; the peer's must be the one we know
    (recorded when first seen)."""
    kind = kind_of(process)
    own_key = "providerPid" if process.role == Role.PROVIDER else "consumerPid"
    key = "consumerPid" if process.role == Role.PROVIDER else "providerPid"
    if message.get(own_key) != process.pid:
        raise kind.refused(f"{own_key} {message.get(own_key)!r} is not this {kind.noun}'s ({process.pid!r})")
    given = message.get(key)
    if process.counter_pid is None and given:
        process.counter_pid = given
    elif given != process.counter_pid:
        raise NotFound(f"no {kind.noun} with {key} {given!r}")


def enqueue(uow: UnitOfWork, process: Process, url: str, message: dict[str, Any], now: dt.datetime) -> None:
    """Owe ``message`` to the process's participant (validated now, so only valid ones wait)."""
    message_schemas().validate(message)
    owner = {"transfer_pk": process.pk} if isinstance(process, Transfer) else {"negotiation_pk": process.pk}
    uow.outbox.add(OutboxMessage(**owner, participant_id=process.participant_id, url=url, message=message,
                                  state=OutboxState.PENDING, attempts=0, next_attempt_at=now, created_at=now))


def peer_url(process: Process, participants: ParticipantRegistry, suffix: str) -> str:
    """The peer's endpoint of this process: the consumer's callback address when we provide,
    the participant's configured address when we consume; ``suffix`` starts with ``/``."""
    if process.role == Role.PROVIDER:
        root = process.callback_address
    else:
        participant = participants.get(process.participant_id)
        root = participant.address if participant is not None else ""
    return f"{root}/{kind_of(process).collection}/{process.counter_pid}{suffix}"


def send(uow: UnitOfWork, process: Process, participants: ParticipantRegistry, suffix: str,
         message: dict[str, Any], now: dt.datetime) -> None:
    """Owe ``message`` to the peer at its endpoint ``suffix`` of this process."""
    enqueue(uow, process, peer_url(process, participants, suffix), message, now)


def visible(uow: UnitOfWork, kind: ProcessKind, principal: Principal, process_id: str,
            may_see: Callable[[UnitOfWork, Principal, Any], bool]) -> Any:
    """The process with this id if ``principal`` may see it; 404 otherwise."""
    found = _repository(uow, kind).get(process_id)
    if found is None or not may_see(uow, principal, found):
        raise NotFound(f"no {kind.noun} {process_id!r}")
    return found


def all_visible(uow: UnitOfWork, kind: ProcessKind, principal: Principal,
                may_see: Callable[[UnitOfWork, Principal, Any], bool], *,
                role: str | None = None) -> list[Any]:
    """The processes ``principal`` may see, oldest first, of one role or both."""
    return [row for row in _repository(uow, kind).all(role=role) if may_see(uow, principal, row)]
