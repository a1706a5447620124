"""Notice and delivery states, and the transitions allowed between them.

States are data: every transition the service makes is listed here, and anything
else raises :class:`IllegalTransition` instead of silently overwriting a status.
"""

from __future__ import annotations

from enum import StrEnum


class IllegalTransition(RuntimeError):
    """A state change that the lifecycle does not allow."""


class NoticeStatus(StrEnum):
    PENDING = "pending"
    RENDERED = "rendered"
    DELIVERING = "delivering"
    DELIVERED = "delivered"
    PARTIALLY_DELIVERED = "partially_delivered"
    FAILED = "failed"
    ACKNOWLEDGED = "acknowledged"
    DISPUTED = "disputed"
    SUPERSEDED = "superseded"


class DeliveryStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    RETRYING = "retrying"
    FAILED = "failed"
    SKIPPED = "skipped"


class AttemptOutcome(StrEnum):
    """How one send attempt ended: stored on ``delivery_attempts.outcome``."""

    SENT = "sent"
    FAILED = "failed"  # the receiver refused or answered an error
    TIMEOUT = "timeout"  # nothing was sent, or nothing of it arrived, within the deadline
    NOTHING_SENT = "nothing_sent"  # no service took the message
    # The request left in full but no answer came before the deadline: it may have arrived
    # (the receiver dedupes on webhook-id), so never reported as a clean timeout.
    UNKNOWN = "unknown"
    LOST = "lost"  # the worker died during the attempt


class TradeStatus(StrEnum):
    """Where a trade stands; the moves between them are notifier.notices.transitions' table."""

    EXECUTED = "executed"  # confirmed as executed, finality not reported yet
    PROVISIONAL = "provisional"
    FINAL = "final"
    REVERTED = "reverted"  # finality failed or reversed before it was final
    REVOKED = "revoked"  # finality revoked after a final confirmation
    CANCELLED = "cancelled"


class BatchStatus(StrEnum):
    DELAYED = "delayed"
    FINAL = "final"
    FAILED = "failed"
    REVOKED = "revoked"  # batch.failed after batch.final: its finality was revoked


class EventStatus(StrEnum):
    """How an accepted event was handled; shown on GET /v1/events/{id}."""

    ACCEPTED = "accepted"  # it sent notices
    STORED = "stored"  # recorded; it sends nothing (the reason says why)
    STALE = "stale"  # older than an event already applied to the trade
    UNKNOWN_CLIENT = "unknown_client"


_N = NoticeStatus
_SETTLED = {_N.DELIVERED, _N.PARTIALLY_DELIVERED, _N.FAILED}

NOTICE_TRANSITIONS: dict[NoticeStatus, frozenset[NoticeStatus]] = {
    _N.PENDING: frozenset({_N.RENDERED, _N.FAILED, _N.SUPERSEDED}),
    _N.RENDERED: frozenset({_N.DELIVERING, _N.SUPERSEDED}),
    # A resend or a late retry can move a settled notice back to delivering.
    _N.DELIVERING: frozenset(_SETTLED | {_N.SUPERSEDED}),
    _N.DELIVERED: frozenset({_N.DELIVERING, _N.ACKNOWLEDGED, _N.DISPUTED, _N.SUPERSEDED}),
    _N.PARTIALLY_DELIVERED: frozenset(
        {_N.DELIVERING, _N.DELIVERED, _N.ACKNOWLEDGED, _N.DISPUTED, _N.SUPERSEDED}
    ),
    _N.FAILED: frozenset({_N.DELIVERING, _N.DELIVERED, _N.PARTIALLY_DELIVERED, _N.SUPERSEDED}),
    _N.ACKNOWLEDGED: frozenset({_N.DISPUTED, _N.SUPERSEDED}),
    _N.DISPUTED: frozenset({_N.ACKNOWLEDGED, _N.SUPERSEDED}),
    _N.SUPERSEDED: frozenset(),
}

_D = DeliveryStatus
DELIVERY_TRANSITIONS: dict[DeliveryStatus, frozenset[DeliveryStatus]] = {
    _D.QUEUED: frozenset({_D.SENDING, _D.SKIPPED}),
    # sending → skipped: an attempt that failed after its notice was replaced is not retried.
    _D.SENDING: frozenset({_D.SENT, _D.RETRYING, _D.FAILED, _D.SKIPPED}),
    # A worker killed mid-send leaves "sending"; the relay hands it back as retrying.
    _D.RETRYING: frozenset({_D.SENDING, _D.SKIPPED}),
    _D.SENT: frozenset({_D.QUEUED}),  # resend
    _D.FAILED: frozenset({_D.QUEUED}),  # resend
    _D.SKIPPED: frozenset({_D.QUEUED}),
}

# Deliveries the worker may pick up.
DUE_DELIVERY_STATES = (DeliveryStatus.QUEUED, DeliveryStatus.RETRYING)


def check_notice_transition(current: str, target: NoticeStatus) -> None:
    if target not in NOTICE_TRANSITIONS[NoticeStatus(current)]:
        raise IllegalTransition(f"notice cannot go from {current} to {target}")


def check_delivery_transition(current: str, target: DeliveryStatus) -> None:
    if target not in DELIVERY_TRANSITIONS[DeliveryStatus(current)]:
        raise IllegalTransition(f"delivery cannot go from {current} to {target}")


def notice_status_from_deliveries(statuses: list[str]) -> NoticeStatus | None:
    """Derive the settled notice status once no delivery is still in flight."""
    live = [s for s in statuses if s != DeliveryStatus.SKIPPED]
    if any(s in {_D.QUEUED, _D.SENDING, _D.RETRYING} for s in live):
        return None
    sent = sum(1 for s in live if s == _D.SENT)
    if live and sent == len(live):
        return NoticeStatus.DELIVERED
    if sent:
        return NoticeStatus.PARTIALLY_DELIVERED
    return NoticeStatus.FAILED
