"""Record what a batch's sends did: attempts, settled notices, status events, escalations.

The third step of the worker's batch (docs/architecture.md, "The worker's batch"); the
prepare and send steps are in :mod:`notifier.worker.pipeline`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import BindParameter, bindparam, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from notifier.delivery import channels
from notifier.models import Delivery, Notice, StatusWebhook
from notifier.notices import escalation, status_events
from notifier.notices.tracking import (
    WORKER,
    Attempt,
    audits_in_bulk,
    finish_attempt,
    settle_notice,
)
from notifier.runtime import Runtime
from notifier.states import DeliveryStatus

log = logging.getLogger(__name__)

# Tries of a batch's record transaction before it gives up (a deadlock, a busy database).
RECORD_TRIES = 3


@dataclass(frozen=True)
class Retry:
    delivery_id: int
    delay: float


@dataclass
class FollowUp:
    """Work a delivery step leaves for the broker: retries and new (escalation) notices."""

    retries: list[Retry] = field(default_factory=list)
    notice_ids: list[int] = field(default_factory=list)

    def add(self, other: FollowUp) -> None:
        self.retries.extend(other.retries)
        self.notice_ids.extend(other.notice_ids)


class Sent(Protocol):
    """What recording needs of a claimed delivery (``pipeline.Claimed``)."""

    @property
    def delivery_id(self) -> int: ...

    @property
    def url(self) -> str: ...


_IDS: BindParameter[list[int]] = bindparam("ids", expanding=True)
# Locks the notices, then the deliveries, as an event superseding a notice does: that
# event is either seen here, and a failed attempt is not retried, or waits and finds
# the deliveries settled.
_SENT_NOTICES = (
    select(Notice)
    .where(Notice.id.in_(select(Delivery.notice_id).where(Delivery.id.in_(_IDS))))
    .order_by(Notice.id)
    .with_for_update()
    .execution_options(populate_existing=True)
)
_SENT_DELIVERIES = (
    select(Delivery)
    .where(Delivery.id.in_(_IDS))
    .order_by(Delivery.id)
    .with_for_update()
    .execution_options(populate_existing=True)
)
_DELIVERY_STATUSES = select(Delivery.notice_id, Delivery.status).where(Delivery.notice_id.in_(_IDS))
_ANY_STATUS_WEBHOOK = select(StatusWebhook.id).limit(1)


def record_batch(runtime: Runtime, sent: Sequence[tuple[Sent, channels.Outcome]]) -> FollowUp:
    """Record a batch's attempts, trying again if the database gave up on the transaction.

    Losing this transaction would leave the whole batch ``sending`` until the relay calls
    every send lost and sends it again; a deadlock or a busy database is worth a retry.
    """
    for tries_left in range(RECORD_TRIES - 1, -1, -1):
        try:
            with runtime.db.session() as session, audits_in_bulk(session):
                return record_all(session, runtime, sent)
        except OperationalError as exc:
            if not tries_left:
                raise
            log.warning("recording %d attempts failed (%s); trying again", len(sent), exc)
    raise AssertionError("unreachable")  # the loop returns or raises


def record_one(
    session: Session, runtime: Runtime, claimed: Sent, outcome: channels.Outcome
) -> FollowUp:
    """Store one attempt (the retry path): the batch record with a batch of one."""
    return record_all(session, runtime, [(claimed, outcome)])


def record_all(
    session: Session, runtime: Runtime, sent: Sequence[tuple[Sent, channels.Outcome]]
) -> FollowUp:
    """Store the attempts, settle their notices and escalate those that reached no channel.

    Notices are locked before deliveries, as a superseding event does, so the two queue
    instead of deadlocking; a failed attempt of a notice superseded meanwhile is not retried.
    """
    follow_up = FollowUp()
    now = runtime.clock()
    ids = [claimed.delivery_id for claimed, _ in sent]
    notices = {n.id: n for n in session.scalars(_SENT_NOTICES, {"ids": ids})}
    deliveries = {d.id: d for d in session.scalars(_SENT_DELIVERIES, {"ids": ids})}
    before = {notice_id: notice.status for notice_id, notice in notices.items()}
    recorded: list[tuple[Delivery, bool]] = []
    last_error: dict[int, str | None] = {}
    for claimed, outcome in sent:
        delivery = deliveries.get(claimed.delivery_id)
        if delivery is None or delivery.status != DeliveryStatus.SENDING:
            # Its lease ran out and the relay recorded the attempt as lost already.
            log.warning(
                "delivery %s was no longer being sent; attempt not recorded", claimed.delivery_id
            )
            continue
        gone = outcome.http_status == 410
        permanent = None if claimed.url else "the channel has no usable URL"
        if gone:
            permanent = "the receiver answered HTTP 410 Gone; the channel is disabled"
        attempt = Attempt(
            outcome.status,
            outcome.started_at,
            outcome.finished_at,
            outcome.error,
            outcome.retry_after,
            permanent,
        )
        delay = finish_attempt(session, runtime.retry, delivery, attempt, actor=WORKER, now=now)
        if delay is not None:
            follow_up.retries.append(Retry(delivery.id, delay))
        recorded.append((delivery, gone))
        last_error[delivery.notice_id] = delivery.last_error
    session.flush()
    for channel_id in sorted(
        {d.channel_id for d, _ in recorded if d.status == DeliveryStatus.SENT and d.channel_id}
    ):
        escalation.close_outage(session, channel_id, now)
    statuses: dict[int, list[str]] = {notice_id: [] for notice_id in last_error}
    for notice_id, status in session.execute(_DELIVERY_STATUSES, {"ids": list(last_error)}):
        statuses[notice_id].append(status)
    # No status webhook registered: no notice change has anyone to tell (one query, not N).
    has_hooks = session.scalar(_ANY_STATUS_WEBHOOK) is not None
    for notice_id, reason in last_error.items():
        notice = notices[notice_id]
        settle_notice(session, notice, now, statuses=statuses[notice_id])
        if has_hooks:
            follow_up.notice_ids.extend(
                status_events.notice_changed(session, runtime, notice, before[notice_id], reason)
            )
    # Channels are locked in one order, so two workers escalating on them do not deadlock.
    for delivery, gone in sorted(recorded, key=lambda r: (r[0].channel_id or 0, r[0].id)):
        if gone and delivery.channel_id is not None:
            follow_up.notice_ids.extend(escalation.channel_gone(session, runtime, delivery))
        else:
            # One escalation per channel outage, not per notice (issue 6: 439 for one outage).
            follow_up.notice_ids.extend(
                escalation.escalate_failed_delivery(session, runtime, delivery)
            )
    return follow_up
