"""The Dataspace Protocol state machines, checked against the transitions of the 2025-1 diagrams."""

import pytest

from connector.dsp.states import (
    NEGOTIATION,
    TRANSFER,
    IllegalTransition,
    Role,
)
from connector.dsp.states import (
    NegotiationState as N,
)
from connector.dsp.states import (
    TransferState as T,
)

C, P = Role.CONSUMER, Role.PROVIDER


def run(machine, steps, state=None):
    for message, sender in steps:
        state = machine.next_state(state, message, sender)
    return state


def test_consumer_initiated_negotiation_reaches_finalized_through_every_state():
    seen = []
    state = None
    for message, sender in [("ContractRequestMessage", C), ("ContractOfferMessage", P),
                            ("ContractNegotiationEventMessage:ACCEPTED", C),
                            ("ContractAgreementMessage", P), ("ContractAgreementVerificationMessage", C),
                            ("ContractNegotiationEventMessage:FINALIZED", P)]:
        state = NEGOTIATION.next_state(state, message, sender)
        seen.append(state)
    assert seen == [N.REQUESTED, N.OFFERED, N.ACCEPTED, N.AGREED, N.VERIFIED, N.FINALIZED]


def test_provider_may_agree_directly_on_a_request():
    assert run(NEGOTIATION, [("ContractRequestMessage", C), ("ContractAgreementMessage", P)]) == N.AGREED


def test_consumer_counter_offer_returns_an_offered_negotiation_to_requested():
    assert run(NEGOTIATION, [("ContractOfferMessage", P), ("ContractRequestMessage", C)]) == N.REQUESTED


@pytest.mark.parametrize("state", [N.REQUESTED, N.OFFERED, N.ACCEPTED, N.AGREED, N.VERIFIED])
@pytest.mark.parametrize("sender", [C, P])
def test_either_side_may_terminate_an_open_negotiation(state, sender):
    assert NEGOTIATION.next_state(state, "ContractNegotiationTerminationMessage", sender) == N.TERMINATED


@pytest.mark.parametrize("state", [N.FINALIZED, N.TERMINATED])
def test_nothing_is_accepted_after_a_terminal_negotiation_state(state):
    with pytest.raises(IllegalTransition, match="no message is accepted"):
        NEGOTIATION.next_state(state, "ContractNegotiationTerminationMessage", C)


@pytest.mark.parametrize("state, message, sender", [
    (N.REQUESTED, "ContractAgreementVerificationMessage", C),   # verification before agreement
    (N.REQUESTED, "ContractNegotiationEventMessage:ACCEPTED", C),
    (N.AGREED, "ContractNegotiationEventMessage:FINALIZED", P),  # finalized before verification
    (N.OFFERED, "ContractAgreementMessage", P),                  # agreement before acceptance
    (None, "ContractAgreementMessage", P),
])
def test_out_of_order_negotiation_messages_are_refused(state, message, sender):
    with pytest.raises(IllegalTransition, match="not allowed"):
        NEGOTIATION.next_state(state, message, sender)


@pytest.mark.parametrize("message, sender", [
    ("ContractNegotiationEventMessage:FINALIZED", C),  # only the provider finalizes
    ("ContractNegotiationEventMessage:ACCEPTED", P),   # only the consumer accepts
    ("ContractAgreementMessage", C),
])
def test_messages_from_the_wrong_role_are_refused(message, sender):
    with pytest.raises(IllegalTransition, match="does not send"):
        NEGOTIATION.next_state(N.VERIFIED, message, sender)


def test_transfer_starts_suspends_resumes_and_completes():
    steps = [("TransferRequestMessage", C), ("TransferStartMessage", P), ("TransferSuspensionMessage", C),
             ("TransferStartMessage", P), ("TransferCompletionMessage", C)]
    assert run(TRANSFER, steps) == T.COMPLETED


@pytest.mark.parametrize("state, message", [
    (T.REQUESTED, "TransferCompletionMessage"),
    (T.REQUESTED, "TransferSuspensionMessage"),
    (T.SUSPENDED, "TransferCompletionMessage"),
])
def test_transfer_cannot_complete_or_suspend_before_it_started(state, message):
    with pytest.raises(IllegalTransition):
        TRANSFER.next_state(state, message, P)


@pytest.mark.parametrize("state", [T.COMPLETED, T.TERMINATED])
@pytest.mark.parametrize("message", ["TransferStartMessage", "TransferTerminationMessage"])
def test_nothing_is_accepted_after_a_terminal_transfer_state(state, message):
    with pytest.raises(IllegalTransition):
        TRANSFER.next_state(state, message, P)


def test_only_the_provider_starts_a_requested_transfer():
    with pytest.raises(IllegalTransition):
        TRANSFER.next_state(T.REQUESTED, "TransferStartMessage", C)
