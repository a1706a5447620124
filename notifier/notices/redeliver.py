"""Redeliver one delivery on support's request: the same channel, the same webhook-id.

Unlike a resend (a marked copy to every channel of the client), a redelivery retries the
one channel that failed with the notice exactly as it was, so a receiver that already got
it can drop the duplicate by its ``webhook-id``. The reason is audited with the caller.
"""

from __future__ import annotations

from dataclasses import dataclass

from notifier.models import Delivery
from notifier.notices.tracking import audit, move_delivery, move_notice
from notifier.runtime import Runtime
from notifier.states import DeliveryStatus, NoticeStatus


class DeliveryNotFound(LookupError):
    """No delivery has this id."""


class CannotRedeliver(Exception):
    """The delivery cannot be sent again as it is; the message says why."""


@dataclass(frozen=True)
class Redelivered:
    delivery_id: int
    notice_id: int
    webhook_id: str


# A delivery still on its way is not queued twice.
_SETTLED = {DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.SKIPPED}
# A notice in one of these already has its final word; only its delivery is re-run.
_KEEP_STATUS = {NoticeStatus.ACKNOWLEDGED, NoticeStatus.DISPUTED, NoticeStatus.DELIVERING}


def redeliver(runtime: Runtime, delivery_id: int, reason: str, actor: str) -> Redelivered:
    """Queue one delivery again, with a fresh round of attempts; audit who and why."""
    now = runtime.clock()
    with runtime.db.session() as session:
        delivery = session.get(Delivery, delivery_id, with_for_update=True)
        if delivery is None:
            raise DeliveryNotFound(delivery_id)
        _check(delivery)
        notice = delivery.notice
        why = f"redelivered by support: {reason}"
        move_delivery(session, delivery, DeliveryStatus.QUEUED, actor, why, at=now)
        audit(session, "delivery", delivery.id, "redeliver", None, None, actor, reason, at=now)
        delivery.next_attempt_at = now
        delivery.status_reason = None
        # Attempt numbers go on (they are unique per delivery); the budget is a new round.
        delivery.max_attempts = delivery.attempt_count + runtime.retry.max_attempts
        # A rendered notice is moved on by the worker's claim; a settled one goes back.
        if notice.status not in _KEEP_STATUS | {NoticeStatus.RENDERED}:
            move_notice(session, notice, NoticeStatus.DELIVERING, actor, why, at=now)
        return Redelivered(delivery.id, notice.id, delivery.message_id)


def _check(delivery: Delivery) -> None:
    notice = delivery.notice
    if notice.status == NoticeStatus.SUPERSEDED:
        raise CannotRedeliver("This notice was replaced; a replaced notice is never sent.")
    if notice.status == NoticeStatus.PENDING or notice.subject is None:
        raise CannotRedeliver("This notice has not been rendered yet; it is still on its way.")
    if delivery.status not in _SETTLED:
        raise CannotRedeliver(f"This delivery is {delivery.status}: it is still on its way.")
    channel = delivery.channel
    if delivery.channel_id is not None and (channel is None or not channel.active):
        raise CannotRedeliver(
            "This delivery's channel is disabled or no longer registered; "
            "register it again for the client first."
        )
