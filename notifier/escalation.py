"""Escalations to support outside the event rules: failed deliveries and deadlines at risk."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from notifier.intake import write_plans
from notifier.models import Client, Notice
from notifier.planning import (
    CONFIRMING_KINDS,
    SUPPORT_AUDIENCE,
    affected_entry,
    escalation_plan,
)
from notifier.runtime import Runtime
from notifier.states import NoticeStatus

SYSTEM = "system"
# A confirmation in one of these states has reached the client, or no longer needs to.
_DONE = (
    NoticeStatus.DELIVERED,
    NoticeStatus.ACKNOWLEDGED,
    NoticeStatus.DISPUTED,
    NoticeStatus.SUPERSEDED,
)


def escalate_failure(session: Session, runtime: Runtime, notice: Notice) -> list[int]:
    """Tell support that a client notice reached none of its channels (once per notice)."""
    if notice.status != NoticeStatus.FAILED or notice.client_id == SUPPORT_AUDIENCE:
        return []
    return _escalate(session, runtime, notice, "delivery_failed")


def escalate_at_risk(runtime: Runtime) -> list[int]:
    """Escalate confirmations not delivered within the lead time of their deadline."""
    now = runtime.clock()
    horizon = now + timedelta(seconds=runtime.settings.deadline_lead_seconds)
    created: list[int] = []
    with runtime.db.session() as session:
        at_risk = session.scalars(
            select(Notice)
            .where(
                Notice.kind.in_(CONFIRMING_KINDS),
                Notice.deadline_at <= horizon,
                Notice.escalated_at.is_(None),
                Notice.status.not_in(_DONE),
            )
            .order_by(Notice.deadline_at, Notice.id)
            .limit(500)
        ).all()
        for notice in at_risk:
            created.extend(_escalate(session, runtime, notice, "deadline_at_risk"))
            notice.escalated_at = now
    return created


def _escalate(session: Session, runtime: Runtime, notice: Notice, cause: str) -> list[int]:
    """Write one escalation about ``notice`` (deduplicated per cause); return its id."""
    client = session.get(Client, notice.client_id)
    plan = escalation_plan(
        runtime,
        cause=cause,
        key=str(notice.id),
        event_id=notice.event.event_id if notice.event else "",
        affected=[affected_entry(notice, client)],
        batch_id=notice.batch_id,
        deadline_at=notice.deadline_at,
    )
    return [n.id for n in write_plans(session, runtime, [plan], notice.event, SYSTEM)]
