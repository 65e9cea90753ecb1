"""What every use case of the transfer process (Dataspace Protocol 2025-1) shares.

The runtime (:class:`TransferRuntime`), the ACK and status of a transfer, the first state of a
new one, and the two steps either side takes: owing the peer a message (:func:`send`, to the
outbox in the same transaction as the state it leads to) and ending the transfer on our side
(:func:`terminate`). The use cases themselves live beside this module: the provider's side
(:mod:`~connector.dsp.transfer_provider`), the consumer's (:mod:`~connector.dsp.transfer_consumer`),
the push (:mod:`~connector.dsp.transfer_push`), the data endpoint
(:mod:`~connector.dsp.transfer_data`), the progress each tick (:mod:`~connector.dsp.transfer_progress`)
and what our teams and stewards do (:mod:`~connector.dsp.transfer_management`). Every inbound
message moves a transfer through :data:`connector.dsp.states.TRANSFER`; an illegal move raises
:class:`~connector.dsp.errors.TransferRefused` (400) and changes nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from connector.dsp import process
from connector.dsp import transfer as messages
from connector.dsp.models import Transfer
from connector.dsp.negotiation_steps import Runtime
from connector.dsp.participants import Participant
from connector.dsp.process import pids
from connector.dsp.states import Role, TransferState
from connector.staging.settings import StagingSettings
from connector.uow import UnitOfWork

T = TransferState
OPEN = (T.REQUESTED, T.STARTED, T.SUSPENDED)
DEFAULT_TOKEN_TTL_SECONDS = 3600
#: How long a STARTED push may go without renewing its lease (each file copied renews it).
DEFAULT_PUSH_LEASE_SECONDS = 900


@dataclass(frozen=True)
class TransferRuntime:
    """The negotiation runtime plus what transfers need: staging settings and the schemas."""

    base: Runtime
    staging: StagingSettings
    schemas: Any
    token_ttl_seconds: float = DEFAULT_TOKEN_TTL_SECONDS
    push_lease_seconds: float = DEFAULT_PUSH_LEASE_SECONDS
    run_jobs_inline: bool = True

    @property
    def clock(self):  # noqa: ANN201
        return self.base.clock


def token_hash(token: str) -> str:
    """How a data token is kept: only its SHA-256."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def ack(transfer: Transfer) -> dict[str, Any]:
    return messages.ack(*pids(transfer), transfer.state)


def status(uow: UnitOfWork, participant: Participant, pid: str, role: Role) -> dict[str, Any]:
    """The ``TransferProcess`` of our transfer ``pid`` for ``participant`` (404 otherwise)."""
    with uow:
        return ack(process.own(uow, process.TRANSFERS, participant, pid, role))


def first_state() -> str:
    """The state a transfer starts in (a ``TransferRequestMessage`` from the consumer)."""
    return process.first_state(process.TRANSFERS, "TransferRequestMessage", Role.CONSUMER)


def send(uow: UnitOfWork, transfer: Transfer, runtime: TransferRuntime, suffix: str,
         message: dict[str, Any], now: dt.datetime) -> None:
    process.send(uow, transfer, runtime.base.participants, suffix, message, now)


def terminate(uow: UnitOfWork, transfer: Transfer, runtime: TransferRuntime, code: str,
              reasons: list[str], now: dt.datetime) -> None:
    """End the transfer on our side with a reason and tell the peer."""
    process.end(transfer, code, reasons, now)
    runtime.base.secrets.drop(transfer.pid, session=uow.session)  # with the termination
    if transfer.counter_pid:
        send(uow, transfer, runtime, "/termination", messages.termination(*pids(transfer), code, reasons),
             now)
