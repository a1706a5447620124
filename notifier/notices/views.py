"""What support sees of a notice: its content, deliveries and every attempt."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select

from notifier.models import (
    AuditEntry,
    Batch,
    ChannelOutage,
    Delivery,
    FinalityEvent,
    Notice,
    TradeState,
)
from notifier.notices.affirmation import affirmation_view
from notifier.runtime import Runtime


def notice_view(runtime: Runtime, notice_id: int, detail: bool = True) -> dict[str, Any] | None:
    """Show one notice: its summary, content facts, deliveries with attempts, timeline."""
    with runtime.db.session() as session:
        notice = session.get(Notice, notice_id)
        if notice is None:
            return None
        delivery_ids = [d.id for d in notice.deliveries]
        timeline = session.scalars(
            select(AuditEntry)
            .where(
                ((AuditEntry.subject_type == "notice") & (AuditEntry.subject_id == notice.id))
                | (
                    (AuditEntry.subject_type == "delivery")
                    & AuditEntry.subject_id.in_(delivery_ids or [-1])
                )
            )
            .order_by(AuditEntry.at, AuditEntry.id)
        ).all()
        outage = session.scalar(
            select(ChannelOutage).where(ChannelOutage.escalation_id == notice.id)
        )
        return _summary(notice) | {
            "event_id": notice.event.event_id if notice.event else None,
            # An escalation about a channel outage: how many notices it has hit so far.
            "outage": _outage_view(outage) if outage else None,
            "locale": notice.locale,
            "timezone": notice.timezone,
            "rendered_at": notice.rendered_at.isoformat() if notice.rendered_at else None,
            "deadline_at": notice.deadline_at.isoformat() if notice.deadline_at else None,
            # A confirmation's affirmation deadline and whether the client met it.
            "affirmation": affirmation_view(notice),
            # Exactly what went out: the stored subject and bodies, not a fresh render.
            "text": notice.body_text,
            "html": notice.body_html,
            "markdown": notice.body_md,
            "finality_check": _finality_check(notice),
            "deliveries": [_delivery_view(d, detail) for d in notice.deliveries],
            "timeline": [
                {
                    "at": e.at.isoformat(),
                    "subject": f"{e.subject_type}:{e.subject_id}",
                    "action": e.action,
                    "from": e.from_state,
                    "to": e.to_state,
                    "actor": e.actor,
                    "reason": e.reason,
                }
                for e in timeline
            ],
        }


def _outage_view(outage: ChannelOutage) -> dict[str, Any]:
    return {
        "channel_id": outage.channel_id,
        "opened_at": outage.opened_at.isoformat(),
        "closed_at": outage.closed_at.isoformat() if outage.closed_at else None,
        "notices_failed": outage.notices_failed,
    }


def _finality_check(notice: Notice) -> dict[str, Any] | None:
    """Show support the computed T+N beside the producer's label, flagged when they differ."""
    finality = (notice.context or {}).get("finality") or {}
    if "cycle_label_mismatch" not in finality:
        return None
    return {
        "cycle_label": finality["cycle_label"],
        "cycle_calendar": finality.get("cycle_calendar"),
        "producer_cycle_label": finality.get("producer_cycle_label"),
        "cycle_label_mismatch": finality["cycle_label_mismatch"],
    }


# What support reads instead of a send's error text. The text ("HTTP 405", "HTTP 302",
# "ConnectionError", "resolves to a loopback address") would make support's view a port
# and status probe of the firm's network (issue 12); admins see it, as it was audited.
_GENERIC_ERRORS = {
    "failed": "the receiver refused the notice or could not be reached",
    "timeout": "the receiver did not answer in time",
    "lost": "the send was interrupted; the receiver may have it",
}


def _shown_error(outcome: str | None, error: str | None, detail: bool) -> str | None:
    if error is None or detail:
        return error
    return _GENERIC_ERRORS.get(outcome or "", "the notice could not be delivered")


def _delivery_view(delivery: Delivery, detail: bool = True) -> dict[str, Any]:
    last_outcome = delivery.attempts[-1].outcome if delivery.attempts else None
    return {
        "id": delivery.id,
        "channel": delivery.target,
        "channel_url": delivery.channel.url_display if delivery.channel else None,
        "status": delivery.status,
        "attempt_count": delivery.attempt_count,
        "max_attempts": delivery.max_attempts,
        "next_attempt_at": delivery.next_attempt_at.isoformat(),
        "webhook_id": delivery.message_id,
        "last_error": _shown_error(last_outcome, delivery.last_error, detail),
        "status_reason": delivery.status_reason,
        "attempts": [
            {
                "number": a.number,
                "started_at": a.started_at.isoformat(),
                "finished_at": a.finished_at.isoformat(),
                "duration_ms": a.duration_ms,
                "outcome": a.outcome,
                "error": _shown_error(a.outcome, a.error, detail),
            }
            for a in delivery.attempts
        ],
    }


def event_view(runtime: Runtime, event_id: str) -> dict[str, Any] | None:
    """Show how an event was handled: accepted, stored, stale or for an unknown client."""
    with runtime.db.session() as session:
        event = session.scalar(select(FinalityEvent).where(FinalityEvent.event_id == event_id))
        return None if event is None else _event_summary(event)


def search_events(
    runtime: Runtime, filters: dict[str, Any], limit: int, before_id: int | None
) -> list[dict[str, Any]]:
    """Find events by status (e.g. unknown_client), type, client, trade or batch; newest first."""
    query = _filtered(select(FinalityEvent), FinalityEvent, filters, limit, before_id)
    with runtime.db.session() as session:
        return [_event_summary(e) for e in session.scalars(query)]


def _filtered(
    query: Select[Any], model: Any, filters: dict[str, Any], limit: int, before_id: int | None
) -> Select[Any]:
    """Add column filters and one page (newest first, ids below ``before_id``) to a query."""
    for name, value in filters.items():
        query = query.where(getattr(model, name) == value)
    if before_id is not None:
        query = query.where(model.id < before_id)
    return query.order_by(model.id.desc()).limit(limit)


def _event_summary(event: FinalityEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "event_id": event.event_id,
        "type": event.type,
        "status": event.status,
        "reason": event.status_reason,
        "trade_id": event.trade_id,
        "client_id": event.client_id,
        "batch_id": event.batch_id,
        "sequence": event.sequence,
        "occurred_at": event.occurred_at.isoformat(),
        "received_at": event.received_at.isoformat(),
        "notice_ids": [n.id for n in event.notices if not n.client_id.startswith("@status:")],
        # What became of each notice the event created: producers read this too.
        "notices": [
            {"notice_id": n.id, "kind": n.kind, "client_id": n.client_id, "status": n.status}
            for n in event.notices
            if not n.client_id.startswith("@")  # support's and producers' own stay out
        ],
    }


def search_notices(
    runtime: Runtime, filters: dict[str, Any], limit: int, before_id: int | None
) -> list[dict[str, Any]]:
    """Find notices by client, trade, batch, event, kind or status; newest first."""
    query = select(Notice)
    event_id = filters.pop("event_id", None)
    if event_id:
        query = query.join(FinalityEvent).where(FinalityEvent.event_id == event_id)
    # A date range (the console's search): created at or after / before, UTC datetimes.
    created_from, created_to = filters.pop("created_from", None), filters.pop("created_to", None)
    if created_from is not None:
        query = query.where(Notice.created_at >= created_from)
    if created_to is not None:
        query = query.where(Notice.created_at < created_to)
    query = _filtered(query, Notice, filters, limit, before_id)
    with runtime.db.session() as session:
        return [_summary(n) for n in session.scalars(query)]


def _summary(notice: Notice) -> dict[str, Any]:
    return {
        "id": notice.id,
        "kind": notice.kind,
        "variant": notice.variant,
        "status": notice.status,
        "client_id": notice.client_id,
        "trade_id": notice.trade_id,
        "batch_id": notice.batch_id,
        "subject": notice.subject,
        "created_at": notice.created_at.isoformat(),
        "resend_of_id": notice.resend_of_id,
        "supersedes_id": notice.supersedes_id,
    }


# Notices that tell a client its trade's finality was undone.
REVERSAL_KINDS = ("reversal", "finality_revoked", "cancellation")


def batch_view(runtime: Runtime, batch_id: str) -> dict[str, Any] | None:
    """Show an L2 batch: what its events said, its trades, their notices and reversals."""
    with runtime.db.session() as session:
        batch = session.get(Batch, batch_id)
        trades = session.scalars(
            select(TradeState).where(TradeState.batch_id == batch_id).order_by(TradeState.trade_id)
        ).all()
        events = session.scalars(
            select(FinalityEvent)
            .where(FinalityEvent.batch_id == batch_id)
            .order_by(FinalityEvent.id)
            .limit(_BATCH_LIMIT)
        ).all()
        if batch is None and not trades and not events:
            return None
        # A trade rolled to another batch still names this one in its events.
        trade_ids = sorted(
            {t.trade_id for t in trades} | {e.trade_id for e in events if e.trade_id}
        )
        notices = session.scalars(
            select(Notice)
            .where((Notice.batch_id == batch_id) | Notice.trade_id.in_(trade_ids or [""]))
            .order_by(Notice.id)
            .limit(_BATCH_LIMIT)
        ).all()
        summaries = [_summary(n) for n in notices]
        return {
            "batch_id": batch_id,
            "status": batch.status if batch else "open",
            "batch_end_at": batch.batch_end_at.isoformat()
            if batch and batch.batch_end_at
            else None,
            "final_at": batch.final_at.isoformat() if batch and batch.final_at else None,
            "revoked_at": batch.revoked_at.isoformat() if batch and batch.revoked_at else None,
            "rolled_to_batch_id": batch.rolled_to_batch_id if batch else None,
            "details": batch.details if batch else None,
            "trades": [
                {
                    "trade_id": t.trade_id,
                    "client_id": t.client_id,
                    "status": t.status,
                    "layer": t.layer,
                    "deadline_at": t.deadline_at.isoformat() if t.deadline_at else None,
                    "notices": [s for s in summaries if s["trade_id"] == t.trade_id],
                }
                for t in trades
            ],
            "events": [_event_summary(e) for e in events],
            "notices": summaries,
            "reversals": [s for s in summaries if s["kind"] in REVERSAL_KINDS],
        }


_BATCH_LIMIT = 2000
