"""Affirmation deadlines: by when a client must affirm (or dispute) a confirmation.

US (SEC Rule 15c6-2, DTC's affirmation cutoff): the end of the trade date, 21:00 in New
York. EU: the end of the first business day after execution, in the venue's calendar.
Support is warned ahead of the deadline (``notifier.notices.escalation.escalate_unaffirmed``).
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from notifier.calendar import MarketCalendar
from notifier.models import Client, Notice
from notifier.notices.kinds import CONFIRMING_KINDS, NoticePlan
from notifier.runtime import Runtime
from notifier.states import NoticeStatus

US_CUTOFF = time(21, 0)
US_ZONE = ZoneInfo("America/New_York")
AFFIRMED = (NoticeStatus.ACKNOWLEDGED,)


def affirmation_cutoff(
    regime: str, trade_date: date, executed_at: datetime, calendar: MarketCalendar
) -> datetime:
    """Return the affirmation deadline of a trade for a client of ``regime``."""
    if regime == "EU":
        return calendar.end_of(calendar.next_business_day(calendar.local_date(executed_at)))
    return datetime.combine(trade_date, US_CUTOFF, US_ZONE)


def affirmation_deadline(runtime: Runtime, client: Client, plan: NoticePlan) -> datetime | None:
    """The deadline of a planned confirmation; None for notices nobody affirms."""
    trade: dict[str, Any] = plan.context.get("trade") or {}
    if plan.kind not in CONFIRMING_KINDS or not trade.get("executed_at"):
        return None
    executed_at = datetime.fromisoformat(trade["executed_at"])
    calendar = runtime.calendar.for_venue(trade.get("venue_mic"))
    trade_date = (
        date.fromisoformat(trade["trade_date"])
        if trade.get("trade_date")
        else calendar.local_date(executed_at)
    )
    return affirmation_cutoff(client.regime, trade_date, executed_at, calendar)


def affirmation_view(notice: Notice) -> dict[str, Any] | None:
    """What support sees: the deadline, and whether the client affirmed before it."""
    if notice.affirm_by is None:
        return None
    affirmed = notice.status == NoticeStatus.ACKNOWLEDGED
    return {
        "affirm_by": notice.affirm_by.isoformat(),
        "acked_at": notice.acked_at.isoformat() if notice.acked_at else None,
        "affirmed": affirmed,
        "met": bool(affirmed and notice.acked_at and notice.acked_at <= notice.affirm_by),
        "escalated_at": (
            notice.affirm_escalated_at.isoformat() if notice.affirm_escalated_at else None
        ),
    }


def affirmation_rates(session: Session, by: str) -> list[dict[str, Any]]:
    """Affirmation rate of delivered confirmations, by client or by deadline day (UTC)."""
    key = Notice.client_id if by == "client" else func.date(Notice.affirm_by)
    affirmed = case((Notice.status == NoticeStatus.ACKNOWLEDGED, 1), else_=0)
    on_time = case(
        ((Notice.status == NoticeStatus.ACKNOWLEDGED) & (Notice.acked_at <= Notice.affirm_by), 1),
        else_=0,
    )
    rows = session.execute(
        select(key, func.count(Notice.id), func.sum(affirmed), func.sum(on_time))
        .where(
            Notice.affirm_by.is_not(None),
            Notice.status.in_(
                (
                    NoticeStatus.DELIVERED,
                    NoticeStatus.PARTIALLY_DELIVERED,
                    NoticeStatus.ACKNOWLEDGED,
                    NoticeStatus.DISPUTED,
                )
            ),
        )
        .group_by(key)
        .order_by(key)
    ).all()
    return [
        {
            by: str(group),
            "confirmations": total,
            "affirmed": int(done or 0),
            "affirmed_on_time": int(timely or 0),
            "rate": round(int(done or 0) / total, 4) if total else None,
        }
        for group, total, done, timely in rows
    ]


def affirmation_report(runtime: Runtime, by: str) -> list[dict[str, Any]]:
    """The affirmation rate by ``client`` or by deadline ``day``, for support."""
    with runtime.db.session() as session:
        return affirmation_rates(session, by)
