"""Escalations to support outside the event rules: failed deliveries and deadlines at risk."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from notifier.intake import write_plans
from notifier.models import Client, FinalityEvent, Notice, TradeState
from notifier.planning import (
    CONFIRMING_KINDS,
    SUPPORT_AUDIENCE,
    affected_entry,
    escalation_plan,
)
from notifier.runtime import Runtime
from notifier.states import NoticeStatus, TradeStatus

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
        created.extend(_escalate_unconfirmed_trades(session, runtime, horizon))
    return created


def _escalate_unconfirmed_trades(
    session: Session, runtime: Runtime, horizon: datetime
) -> list[int]:
    """Escalate executed trades that no confirmation was ever written for.

    A notice that exists is checked above; a trade reported without one (say, an L1
    trade whose events all said "recorded") would otherwise miss its deadline silently.
    """
    confirmed = exists().where(
        Notice.trade_id == TradeState.trade_id, Notice.kind.in_(CONFIRMING_KINDS)
    )
    trades = session.scalars(
        select(TradeState)
        .where(
            TradeState.deadline_at <= horizon,
            TradeState.escalated_at.is_(None),
            TradeState.status.is_distinct_from(TradeStatus.CANCELLED),
            ~confirmed,
        )
        .order_by(TradeState.deadline_at, TradeState.trade_id)
        .limit(500)
    ).all()
    created: list[int] = []
    for state in trades:
        client = session.get(Client, state.client_id) if state.client_id else None
        entry = {
            "client_id": state.client_id or "",
            "client_name": client.name if client else state.client_id or "",
            "trade_id": state.trade_id,
            "notice_id": "—",  # no notice was written: that is the problem
        }
        event = session.get(FinalityEvent, state.last_event_pk) if state.last_event_pk else None
        plan = escalation_plan(
            runtime,
            cause="deadline_at_risk",
            key=f"trade:{state.trade_id}",
            event_id=event.event_id if event else "",
            affected=[entry],
            batch_id=state.batch_id,
            deadline_at=state.deadline_at,
        )
        created.extend(n.id for n in write_plans(session, runtime, [plan], event, SYSTEM))
        state.escalated_at = runtime.clock()
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
