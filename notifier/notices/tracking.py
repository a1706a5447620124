"""State changes of notices and deliveries, each one checked and audited."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, exists, insert, select, update
from sqlalchemy.orm import Session

from notifier.models import AuditEntry, Delivery, DeliveryAttempt, Notice, UTCDateTime
from notifier.retry import RetryPolicy
from notifier.states import (
    DUE_DELIVERY_STATES,
    AttemptOutcome,
    DeliveryStatus,
    NoticeStatus,
    check_delivery_transition,
    check_notice_transition,
    notice_status_from_deliveries,
)

WORKER = "worker"
RELAY = "relay"
NOT_RETRIED = "not retried: its notice was replaced"


def audit(
    session: Session,
    subject_type: str,
    subject_id: int,
    action: str,
    from_state: str | None,
    to_state: str | None,
    actor: str,
    reason: str | None = None,
    *,
    at: datetime,
) -> None:
    row = {
        "subject_type": subject_type,
        "subject_id": subject_id,
        "action": action,
        "from_state": from_state,
        "to_state": to_state,
        "actor": actor,
        "reason": reason,
        "at": at,
    }
    buffered: list[dict[str, object]] | None = session.info.get(_AUDIT_BUFFER)
    if buffered is not None:
        buffered.append(row)
        return
    session.add(AuditEntry(**row))


_AUDIT_BUFFER = "notifier.audit_rows"
_INSERT_AUDIT = insert(AuditEntry)


@contextmanager
def audits_in_bulk(session: Session) -> Iterator[None]:
    """Write the audit rows of the block in one INSERT at its end (worker batches).

    The ORM inserts them one by one on SQLite (it needs each id back); nothing in the
    block reads them back.
    """
    rows: list[dict[str, object]] = []
    session.info[_AUDIT_BUFFER] = rows
    try:
        yield
    finally:
        del session.info[_AUDIT_BUFFER]
    if rows:
        session.connection().execute(_INSERT_AUDIT, rows)


def move_notice(
    session: Session,
    notice: Notice,
    target: NoticeStatus,
    actor: str,
    reason: str | None = None,
    *,
    at: datetime,
) -> None:
    if notice.status == target:
        return
    check_notice_transition(notice.status, target)
    audit(session, "notice", notice.id, "status", notice.status, target, actor, reason, at=at)
    notice.status = target


def move_delivery(
    session: Session,
    delivery: Delivery,
    target: DeliveryStatus,
    actor: str,
    reason: str | None = None,
    *,
    at: datetime,
) -> None:
    check_delivery_transition(delivery.status, target)
    audit(session, "delivery", delivery.id, "status", delivery.status, target, actor, reason, at=at)
    delivery.status = target


# The worker's per-notice statements are built once: composing a statement costs the
# worker more CPU than SQLite takes to run it.
_NOW = bindparam("now", type_=UTCDateTime())
_CLAIM = (
    update(Delivery)
    .where(
        Delivery.id == bindparam("delivery_id"),
        Delivery.status.in_(DUE_DELIVERY_STATES),
        Delivery.next_attempt_at <= _NOW,
        # A replaced notice never goes out, whoever asks (relay, retry, a late task).
        ~exists().where(Notice.id == Delivery.notice_id, Notice.status == NoticeStatus.SUPERSEDED),
    )
    .values(
        status=DeliveryStatus.SENDING, claimed_at=_NOW, attempt_count=Delivery.attempt_count + 1
    )
    .execution_options(synchronize_session=False)
)
_DELIVERY_STATUSES = select(Delivery.status).where(Delivery.notice_id == bindparam("notice_id"))


def skip_delivery(
    session: Session, delivery: Delivery, actor: str, reason: str, *, at: datetime
) -> None:
    """End a delivery that must not go out, with the reason on the row and in the audit."""
    move_delivery(session, delivery, DeliveryStatus.SKIPPED, actor, reason, at=at)
    delivery.status_reason = reason
    delivery.claimed_at = None


_UNSENT_DELIVERIES = (
    select(Delivery)
    .where(Delivery.notice_id == bindparam("notice_id"), Delivery.status.in_(DUE_DELIVERY_STATES))
    .order_by(Delivery.id)
    .with_for_update()
)


def supersede_notice(
    session: Session, notice_id: int, actor: str, reason: str, *, at: datetime
) -> None:
    """Mark a notice replaced and skip every delivery of it that has not gone out.

    The notice row is locked first, as the worker's render does, so the two queue
    instead of deadlocking. A delivery in ``sending`` is already on the wire: its
    attempt is recorded as usual, but a failed one is not retried (``finish_attempt``).
    """
    notice = session.get(Notice, notice_id, with_for_update=True, populate_existing=True)
    if notice is None or notice.status == NoticeStatus.SUPERSEDED:
        return
    move_notice(session, notice, NoticeStatus.SUPERSEDED, actor, reason, at=at)
    skipped = f"not sent: its notice was {reason}"
    for delivery in session.scalars(_UNSENT_DELIVERIES, {"notice_id": notice_id}):
        skip_delivery(session, delivery, actor, skipped, at=at)


def claim_delivery(session: Session, delivery_id: int, now: datetime) -> bool:
    """Take a due delivery for sending; False if another worker has it or it is not due."""
    result = session.execute(_CLAIM, {"delivery_id": delivery_id, "now": now})
    claimed = bool(result.rowcount)  # type: ignore[attr-defined]  # CursorResult has rowcount
    if claimed:
        audit(
            session, "delivery", delivery_id, "status", None, DeliveryStatus.SENDING, WORKER, at=now
        )
    return claimed


_CLAIM_MANY = (
    update(Delivery)
    .where(
        Delivery.id.in_(bindparam("ids", expanding=True)),
        Delivery.status.in_(DUE_DELIVERY_STATES),
        Delivery.next_attempt_at <= _NOW,
        ~exists().where(Notice.id == Delivery.notice_id, Notice.status == NoticeStatus.SUPERSEDED),
    )
    .values(
        status=DeliveryStatus.SENDING, claimed_at=_NOW, attempt_count=Delivery.attempt_count + 1
    )
    .returning(Delivery.id)
    .execution_options(synchronize_session=False)
)


def claim_deliveries(session: Session, delivery_ids: list[int], now: datetime) -> list[int]:
    """Take the due deliveries of ``delivery_ids`` in one statement; return those taken.

    The same conditions as :func:`claim_delivery`: what another worker took meanwhile, or
    a replaced notice's, is left out.
    """
    if not delivery_ids:
        return []
    taken = set(session.scalars(_CLAIM_MANY, {"ids": delivery_ids, "now": now}))
    claimed = [delivery_id for delivery_id in delivery_ids if delivery_id in taken]
    for delivery_id in claimed:
        audit(
            session, "delivery", delivery_id, "status", None, DeliveryStatus.SENDING, WORKER, at=now
        )
    return claimed


@dataclass(frozen=True)
class Attempt:
    """What one attempt did, as the worker saw it; the input of :func:`finish_attempt`."""

    outcome: AttemptOutcome
    started_at: datetime
    finished_at: datetime
    error: str | None = None
    retry_after: float | None = None  # the receiver's Retry-After, in seconds
    # A failure no retry can mend (no URL, the endpoint is gone): fail at once with it.
    permanent: str | None = None

    @property
    def duration_ms(self) -> int:
        return int((self.finished_at - self.started_at).total_seconds() * 1000)


def finish_attempt(
    session: Session,
    policy: RetryPolicy,
    delivery: Delivery,
    attempt: Attempt,
    *,
    actor: str,
    now: datetime,
    exhausted_reason: str | None = None,
) -> float | None:
    """Store the attempt and move the delivery on: the one place a send's end is decided.

    Used by the send path and by the lost-send path alike. Return the retry delay in
    seconds when the delivery will be tried again, else None (sent, skipped or failed).
    ``exhausted_reason`` replaces "N attempts made" as the reason of a last failed try.
    """
    session.add(
        DeliveryAttempt(
            delivery_id=delivery.id,
            number=delivery.attempt_count,
            started_at=attempt.started_at,
            finished_at=attempt.finished_at,
            duration_ms=attempt.duration_ms,
            outcome=attempt.outcome,
            error=attempt.error,
        )
    )
    delivery.last_error = attempt.error
    delivery.claimed_at = None
    if attempt.outcome == AttemptOutcome.SENT:
        move_delivery(session, delivery, DeliveryStatus.SENT, actor, at=now)
        return None
    if delivery.notice.status == NoticeStatus.SUPERSEDED:
        skip_delivery(session, delivery, actor, NOT_RETRIED, at=now)
        return None
    deadline = delivery.notice.deadline_at
    if attempt.permanent or policy.spent(
        delivery.attempt_count, delivery.max_attempts, now, deadline
    ):
        reason = attempt.permanent or exhausted_reason or f"{delivery.attempt_count} attempts made"
        delivery.status_reason = reason
        move_delivery(session, delivery, DeliveryStatus.FAILED, actor, reason, at=now)
        return None
    delivery.next_attempt_at = policy.next_attempt_at(
        delivery.attempt_count, now, deadline, attempt.retry_after
    )
    move_delivery(session, delivery, DeliveryStatus.RETRYING, actor, attempt.error, at=now)
    return max((delivery.next_attempt_at - now).total_seconds(), 0.0)


def settle_notice(
    session: Session,
    notice: Notice,
    now: datetime,
    reason: str | None = None,
    statuses: list[str] | None = None,
) -> None:
    """Derive the notice's status from its deliveries once none is in flight.

    ``statuses``: its deliveries' statuses, when the caller read them for many notices.
    """
    if statuses is None:
        statuses = list(session.scalars(_DELIVERY_STATUSES, {"notice_id": notice.id}))
    settled = notice_status_from_deliveries(statuses)
    if settled is None or notice.status in {
        NoticeStatus.SUPERSEDED,
        NoticeStatus.ACKNOWLEDGED,
        NoticeStatus.DISPUTED,
        NoticeStatus.PENDING,
    }:
        return
    if notice.status == NoticeStatus.RENDERED:
        move_notice(session, notice, NoticeStatus.DELIVERING, WORKER, at=now)
    move_notice(session, notice, settled, WORKER, reason, at=now)


def release_stale_claims(
    session: Session, policy: RetryPolicy, lease_expired_before: datetime, now: datetime
) -> list[Delivery]:
    """Hand deliveries left in ``sending`` by a dead worker back as retrying.

    The lost attempt is recorded (outcome ``lost``): it may or may not have reached the
    receiver, which can deduplicate on the webhook-id. A lost attempt is retried at once
    (the wait was the lease). Return the deliveries that failed because that was their
    last attempt.
    """
    stuck = session.scalars(
        select(Delivery).where(
            Delivery.status == DeliveryStatus.SENDING, Delivery.claimed_at < lease_expired_before
        )
    ).all()
    failed: list[Delivery] = []
    for delivery in stuck:
        lost = Attempt(
            AttemptOutcome.LOST,
            delivery.claimed_at or now,
            now,
            "the worker was lost during this attempt",
            retry_after=0.0,
        )
        delay = finish_attempt(
            session,
            policy,
            delivery,
            lost,
            actor=RELAY,
            now=now,
            exhausted_reason="worker lost during the last attempt",
        )
        if delay is None and delivery.status == DeliveryStatus.FAILED:
            session.flush()
            settle_notice(session, delivery.notice, now)
            failed.append(delivery)
    return failed
