"""Delivery of the protocol messages we owe participants (the outbox of :mod:`connector.dsp.models`).

:func:`deliver_pending` runs each worker tick and right after a DSP request commits. Messages
of one negotiation leave in the order they were written. A message is claimed with a lease
(several workers never send it twice at once), then posted without holding a transaction.
Transfer messages travel the same way. The peer's answer decides: 2xx sent (the ACK of an
initial request tells us the ``providerPid``); 4xx refused, so the negotiation or transfer ends
on our side with the peer's reasons;
no answer or 5xx, tried again after ``2**attempts`` seconds (at most
:data:`MAX_BACKOFF_SECONDS`) until :data:`MAX_ATTEMPTS`, then ended the same way.
"""

from __future__ import annotations

import datetime as dt
import logging

from connector.dsp.client import Answer
from connector.dsp.messages import InvalidMessage
from connector.dsp.models import Negotiation, OutboxState, Transfer
from connector.dsp.negotiation_provider import sync_decisions
from connector.dsp.negotiation_steps import Runtime
from connector.dsp.participants import ParticipantUnreachable
from connector.dsp.process import end, kind_of
from connector.dsp.push import with_secrets
from connector.dsp.states import Role
from connector.uow import UnitOfWork

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 8
MAX_BACKOFF_SECONDS = 300
LEASE_SECONDS = 60
#: The ACK type of each initial request (the one message sent before the peer's pid is known).
_INITIAL = {"ContractRequestMessage": "ContractNegotiation", "TransferRequestMessage": "TransferProcess"}


def _claim(uow: UnitOfWork, pk: int, now: dt.datetime) -> bool:
    claimed = uow.outbox.lease(pk, now, now + dt.timedelta(seconds=LEASE_SECONDS))
    uow.commit()
    return claimed


def _end_locally(process: Negotiation | Transfer, code: str, reasons: list[str], now: dt.datetime) -> None:
    """End the negotiation or transfer on our side (both machines call it TERMINATED)."""
    if process.state not in kind_of(process).machine.terminal:
        end(process, code, reasons, now)


def _record(uow: UnitOfWork, pk: int, answer: Answer | None, failure: str | None, now: dt.datetime) -> None:
    with uow:
        item = uow.outbox.get(pk)
        negotiation = item.negotiation if item.negotiation is not None else item.transfer
        item.attempts += 1
        item.lease_until = None
        kind = item.message["@type"]
        if answer is not None and answer.ok:
            item.state, item.sent_at, item.last_error = OutboxState.SENT, now, None
            if (kind == "ContractRequestMessage" and negotiation.role == Role.CONSUMER
                    and negotiation.counter_pid is None and isinstance(answer.body, dict)):
                negotiation.counter_pid = answer.body.get("providerPid")
            if (kind == "TransferRequestMessage" and negotiation.counter_pid is None
                    and isinstance(answer.body, dict)):
                negotiation.counter_pid = answer.body.get("providerPid")
        elif answer is not None and 400 <= answer.status < 500:
            item.state = OutboxState.FAILED
            item.last_error = f"{answer.status}: " + "; ".join(answer.reasons())
            _end_locally(negotiation, "refused-by-peer",
                         [f"{negotiation.participant_id} refused our {kind} ({answer.status})",
                          *answer.reasons()], now)
        else:
            item.last_error = failure or f"answered {answer.status if answer else '-'}"
            if item.attempts >= MAX_ATTEMPTS:
                item.state = OutboxState.FAILED
                _end_locally(negotiation, "peer-unreachable",
                             [f"{kind} could not be delivered to {negotiation.participant_id} after "
                              f"{item.attempts} attempts: {item.last_error}"], now)
            else:
                delay = min(2 ** item.attempts, MAX_BACKOFF_SECONDS)
                item.next_attempt_at = now + dt.timedelta(seconds=delay)
        if item.state != OutboxState.PENDING and "dataAddress" in item.message:
            item.message = _without_token(item.message)
        uow.commit()


def _without_token(message: dict) -> dict:
    """A sent (or abandoned) message with its data token blanked: no token rests in clear."""
    address = dict(message["dataAddress"])
    address["endpointProperties"] = [
        {**prop, "value": "(withheld)"} if prop.get("name") == "authorization" else prop
        for prop in address.get("endpointProperties", [])]
    return {**message, "dataAddress": address}


def _abandon(uow: UnitOfWork, pk: int, code: str, reason: str, now: dt.datetime) -> None:
    """Give the message up without sending it, and end its process on our side."""
    with uow:
        item = uow.outbox.get(pk)
        item.state, item.lease_until, item.last_error = OutboxState.FAILED, None, reason
        _end_locally(item.negotiation if item.negotiation is not None else item.transfer, code, [reason], now)
        uow.commit()


def _push_secrets(runtime: Runtime, message: dict) -> dict | None:
    """A push request with the credentials of its data address put back from the trust store (the
    outbox copy withholds them); None when they are no longer kept."""
    if message["@type"] != "TransferRequestMessage" or "dataAddress" not in message:
        return message
    target = runtime.secrets.get(message["consumerPid"])
    if target is None:
        return None
    return {**message, "dataAddress": with_secrets(message["dataAddress"], target)}


def deliver_pending(uow: UnitOfWork, runtime: Runtime, *, limit: int = 100) -> int:
    """Send the due messages (after moving negotiations a steward has decided). Returns how many
    were delivered."""
    sync_decisions(uow, runtime)
    delivered = 0
    while True:
        now = runtime.clock()
        with uow:
            due = uow.outbox.due(now, limit)
        if not due:
            return delivered
        progressed = False
        for pk in due:
            with uow:
                if not _claim(uow, pk, now):
                    continue
                item = uow.outbox.get(pk)
                participant = runtime.participants.get(item.participant_id)
                url, message = item.url, dict(item.message)
                expect = _INITIAL.get(message["@type"]) if "providerPid" not in message else None
            progressed = True
            answer, failure = None, None
            pushed = "dataAddress" in message and message["@type"] == "TransferRequestMessage"
            message = _push_secrets(runtime, message)
            if message is None:
                _abandon(uow, pk, "push-credentials-lost", "the push credentials are no longer kept (expired "
                         "or dropped); ask for the transfer again", runtime.clock())
                continue
            if participant is None:
                gone = f"participant {item.participant_id!r} is no longer configured"
                answer = Answer(404, {"reason": [gone]})
            else:
                try:
                    answer = runtime.client.post(participant, url, message, expect=expect)
                except ParticipantUnreachable as exc:
                    failure = str(exc)
                except InvalidMessage as exc:
                    answer = Answer(422, {"reason": [f"the answer breaks the official schema: {exc.reason}"]})
            _record(uow, pk, answer, failure, runtime.clock())
            if pushed and answer is not None and answer.status < 500:
                runtime.secrets.drop(message["consumerPid"])  # sent or refused: not needed again
            if answer is not None and answer.ok:
                delivered += 1
            else:
                log.warning("DSP %s to %s: %s", message["@type"], url,
                            failure or f"{answer.status} {answer.reasons()}")
        if not progressed:
            return delivered
