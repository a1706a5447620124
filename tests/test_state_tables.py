"""Unit tests of the transition tables: the trade's (notices/transitions.py) and the
notice's and delivery's (notifier/states.py). Pure tables, no database."""

from __future__ import annotations

import pytest

from notifier.notices.kinds import KINDS
from notifier.notices.transitions import TRANSITIONS, Send, Signal, step
from notifier.states import (
    DELIVERY_TRANSITIONS,
    DUE_DELIVERY_STATES,
    NOTICE_TRANSITIONS,
    DeliveryStatus,
    IllegalTransition,
    NoticeStatus,
    TradeStatus,
    check_delivery_transition,
    check_notice_transition,
    notice_status_from_deliveries,
)

D = DeliveryStatus
N = NoticeStatus

# --- the trade ---------------------------------------------------------------------


def test_every_notice_a_step_sends_is_a_registered_kind() -> None:
    # Send.CONFIRMATION stands for confirmation_l1 / confirmation_l2, chosen by layer.
    named = {send.value for send in Send} - {Send.CONFIRMATION.value}
    assert named <= set(KINDS)


@pytest.mark.parametrize(
    ("status", "signal", "to", "send"),
    [
        (None, Signal.EXECUTED, TradeStatus.EXECUTED, Send.EXECUTION),
        (TradeStatus.EXECUTED, Signal.PROVISIONAL, TradeStatus.PROVISIONAL, Send.CONFIRMATION),
        (TradeStatus.PROVISIONAL, Signal.FINAL, TradeStatus.FINAL, Send.CONFIRMATION),
        (TradeStatus.PROVISIONAL, Signal.REVERTED, TradeStatus.REVERTED, Send.REVERSAL),
        (TradeStatus.FINAL, Signal.REVERTED, TradeStatus.REVOKED, Send.REVOCATION),
        (TradeStatus.PROVISIONAL, Signal.DELAYED, None, Send.DELAY),
        (TradeStatus.FINAL, Signal.CORRECTED, None, Send.CORRECTION),
        (TradeStatus.REVOKED, Signal.CANCELLED, TradeStatus.CANCELLED, Send.CANCELLATION),
    ],
)
def test_a_trade_moves_as_the_table_says(
    status: TradeStatus | None, signal: Signal, to: TradeStatus | None, send: Send
) -> None:
    found = step(status, signal)
    assert (found.status, found.send, found.why_not) == (to, send, None)


@pytest.mark.parametrize(
    ("status", "signal"),
    [
        (TradeStatus.EXECUTED, Signal.EXECUTED),
        (TradeStatus.FINAL, Signal.PROVISIONAL),
        (TradeStatus.FINAL, Signal.DELAYED),
        (TradeStatus.REVERTED, Signal.REVERTED),
        (TradeStatus.CANCELLED, Signal.CORRECTED),
    ],
)
def test_a_refused_step_changes_nothing_and_says_why(status: TradeStatus, signal: Signal) -> None:
    assert (status, signal) not in TRANSITIONS
    found = step(status, signal)
    assert (found.status, found.send) == (None, None)
    assert found.why_not and "{status}" not in found.why_not


def test_a_status_read_from_the_database_as_text_is_understood() -> None:
    assert step("provisional", Signal.FINAL) == step(TradeStatus.PROVISIONAL, Signal.FINAL)
    assert step("", Signal.EXECUTED) == step(None, Signal.EXECUTED)


# --- notices and deliveries ----------------------------------------------------------


def test_every_notice_and_delivery_status_has_a_row() -> None:
    assert set(NOTICE_TRANSITIONS) == set(NoticeStatus)
    assert set(DELIVERY_TRANSITIONS) == set(DeliveryStatus)


def test_a_superseded_notice_is_final() -> None:
    assert NOTICE_TRANSITIONS[N.SUPERSEDED] == frozenset()
    for status in set(NoticeStatus) - {N.SUPERSEDED}:
        assert N.SUPERSEDED in NOTICE_TRANSITIONS[status], f"{status} cannot be replaced"


@pytest.mark.parametrize(
    ("current", "target"),
    [(N.PENDING, N.DELIVERED), (N.SUPERSEDED, N.DELIVERING), (N.ACKNOWLEDGED, N.PENDING)],
)
def test_an_illegal_notice_move_raises(current: NoticeStatus, target: NoticeStatus) -> None:
    with pytest.raises(IllegalTransition):
        check_notice_transition(current, target)


def test_a_legal_notice_move_passes() -> None:
    check_notice_transition("pending", N.RENDERED)
    check_notice_transition(N.DELIVERED, N.ACKNOWLEDGED)


@pytest.mark.parametrize(
    ("current", "target"),
    [(D.QUEUED, D.SENT), (D.SENT, D.SENDING), (D.RETRYING, D.SENT), (D.FAILED, D.SENDING)],
)
def test_an_illegal_delivery_move_raises(current: DeliveryStatus, target: DeliveryStatus) -> None:
    with pytest.raises(IllegalTransition):
        check_delivery_transition(current, target)


def test_only_a_claim_leads_to_sending_and_only_sending_to_an_outcome() -> None:
    into_sending = {s for s, targets in DELIVERY_TRANSITIONS.items() if D.SENDING in targets}
    assert into_sending == set(DUE_DELIVERY_STATES)
    for outcome in (D.SENT, D.FAILED, D.RETRYING):
        assert {s for s, t in DELIVERY_TRANSITIONS.items() if outcome in t} == {D.SENDING}


@pytest.mark.parametrize(
    ("deliveries", "notice"),
    [
        ([D.SENT, D.SENT], N.DELIVERED),
        ([D.SENT, D.FAILED], N.PARTIALLY_DELIVERED),
        ([D.FAILED], N.FAILED),
        ([D.SENT, D.SKIPPED], N.DELIVERED),
        ([D.SKIPPED], N.FAILED),
        ([], N.FAILED),
        ([D.SENT, D.RETRYING], None),
        ([D.QUEUED], None),
        ([D.SENDING, D.FAILED], None),
    ],
)
def test_a_notice_settles_from_its_deliveries(
    deliveries: list[str], notice: NoticeStatus | None
) -> None:
    assert notice_status_from_deliveries(deliveries) == notice
