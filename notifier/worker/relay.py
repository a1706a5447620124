"""Find committed work the broker does not have: the outbox relay.

Two steps, both called by the relay task: :func:`recover_lost_sends` writes (it ends
the attempts of workers that died mid-send), :func:`due_work` only reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select

from notifier.models import BatchFanout, Delivery, Notice
from notifier.notices.escalation import escalate_failed_delivery
from notifier.notices.tracking import release_stale_claims
from notifier.runtime import Runtime
from notifier.states import DUE_DELIVERY_STATES, NoticeStatus


@dataclass
class DueWork:
    notice_ids: list[int] = field(default_factory=list)
    delivery_ids: list[int] = field(default_factory=list)
    fanout_event_pks: list[int] = field(default_factory=list)


def recover_lost_sends(runtime: Runtime) -> list[int]:
    """End sends whose lease expired (their worker died) and return escalation notice ids.

    Each lost attempt is recorded and the delivery retried at once, or failed (and
    escalated) when that was its last attempt.
    """
    now = runtime.clock()
    lease_expired = now - timedelta(seconds=runtime.settings.sending_lease_seconds)
    with runtime.db.session() as session:
        return [
            notice_id
            for delivery in release_stale_claims(session, runtime.retry, lease_expired, now)
            for notice_id in escalate_failed_delivery(session, runtime, delivery)
        ]


def due_work(runtime: Runtime, limit: int = 500) -> DueWork:
    """Notices never rendered and deliveries overdue by more than the grace period; read-only."""
    cutoff = runtime.clock() - timedelta(seconds=runtime.settings.relay_grace_seconds)
    with runtime.db.session() as session:
        notice_ids = list(
            session.scalars(
                select(Notice.id)
                .where(Notice.status == NoticeStatus.PENDING, Notice.created_at <= cutoff)
                .order_by(Notice.id)
                .limit(limit)
            )
        )
        delivery_ids = list(
            session.scalars(
                select(Delivery.id)
                .join(Notice)
                .where(
                    Delivery.status.in_(DUE_DELIVERY_STATES),
                    Delivery.next_attempt_at <= cutoff,
                    # Pending: the notice task renders it first. Superseded: never sent.
                    Notice.status.not_in((NoticeStatus.PENDING, NoticeStatus.SUPERSEDED)),
                )
                .order_by(Delivery.next_attempt_at)
                .limit(limit)
            )
        )
        # A batch fan-out with no chunk committed for a sending lease: its task was lost
        # (broker down) or its worker died; running it again resumes at its cursor. A
        # fan-out still moving is left alone: a second task would only wait on its lock.
        stalled = runtime.clock() - timedelta(
            seconds=max(
                runtime.settings.relay_grace_seconds, runtime.settings.sending_lease_seconds
            )
        )
        fanouts = list(
            session.scalars(
                select(BatchFanout.event_pk)
                .where(BatchFanout.done_at.is_(None), BatchFanout.updated_at <= stalled)
                .order_by(BatchFanout.event_pk)
                .limit(limit)
            )
        )
    return DueWork(notice_ids, delivery_ids, fanouts)


def find_due_work(runtime: Runtime, limit: int = 500) -> DueWork:
    """Both steps in the relay task's order: recover lost sends, then read what is due."""
    escalations = recover_lost_sends(runtime)
    due = due_work(runtime, limit)
    return DueWork(
        list(dict.fromkeys(escalations + due.notice_ids)), due.delivery_ids, due.fanout_event_pks
    )
