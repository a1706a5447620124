"""Accept a validated finality event: idempotency, ordering, and the outbox write.

In one transaction the event, its notices and one delivery per channel are written;
the caller enqueues the notice ids only after that transaction has committed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from notifier.intake.rules import plan_event
from notifier.models import FinalityEvent, TradeState
from notifier.notices.kinds import Decision
from notifier.notices.outbox import write_plans
from notifier.notices.rule_base import NEW_TRADES
from notifier.notices.status_events import event_rejected
from notifier.notices.tracking import supersede_notice
from notifier.runtime import Runtime
from notifier.states import EventStatus

# deadlock_detected, serialization_failure
_LOCK_CONFLICTS = {"40P01", "40001"}


_EVENT_BY_ID = select(FinalityEvent).where(FinalityEvent.event_id == bindparam("event_id"))


class EventConflict(Exception):
    """The event_id was already used for a different body."""


@dataclass
class IntakeResult:
    created: bool
    response: dict[str, Any]
    notice_ids: list[int] = field(default_factory=list)
    fanout_event_pk: int | None = None  # a batch fan-out left to the worker


def body_hash(canonical: dict[str, Any]) -> str:
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def accept_event(
    runtime: Runtime, canonical: dict[str, Any], actor: str = "producer"
) -> IntakeResult:
    """Store ``canonical`` once; a repeat returns the original answer."""
    digest = body_hash(canonical)
    last_error: IntegrityError | OperationalError | None = None
    for round_ in range(5):
        try:
            with runtime.db.session() as session:
                # First round: insert at once (a new event is the common case; a repeat
                # fails on the unique event_id and is answered in the next round).
                existing = (
                    session.scalar(_EVENT_BY_ID, {"event_id": canonical["event_id"]})
                    if round_
                    else None
                )
                if existing is not None:
                    if existing.body_hash != digest:
                        raise EventConflict(canonical["event_id"])
                    return IntakeResult(created=False, response=existing.response or {})
                return _store(session, runtime, canonical, digest, actor)
        except IntegrityError as exc:
            # A concurrent request won the race (same event_id, trade state or notice);
            # the next round sees its row and answers from it.
            last_error = exc
        except OperationalError as exc:
            # PostgreSQL broke a lock cycle with a worker settling the notice this event
            # replaces; nothing was written, so the event is simply taken again.
            if getattr(exc.orig, "sqlstate", None) not in _LOCK_CONFLICTS:
                raise
            last_error = exc
    assert last_error is not None
    raise last_error


def _store(
    session: Session, runtime: Runtime, canonical: dict[str, Any], digest: str, actor: str
) -> IntakeResult:
    trade = canonical.get("trade") or {}
    batch = canonical.get("batch") or (canonical.get("finality") or {}).get("l2") or {}
    now = runtime.clock()
    event = FinalityEvent(
        event_id=canonical["event_id"],
        type=canonical["type"],
        status=EventStatus.ACCEPTED,
        body=canonical,
        body_hash=digest,
        trade_id=trade.get("trade_id"),
        client_id=trade.get("client_id"),
        batch_id=batch.get("batch_id"),
        sequence=canonical.get("sequence"),
        occurred_at=datetime.fromisoformat(canonical["occurred_at"]),
        received_at=now,
    )
    session.add(event)
    session.flush()
    decision = _apply_ordering(session, event) or plan_event(session, runtime, event, canonical)
    notices = write_plans(session, runtime, decision.plans, event, actor)
    for notice_id in decision.supersede:
        supersede_notice(session, notice_id, actor, f"replaced by event {event.event_id}", at=now)
    if decision.status == EventStatus.ACCEPTED and not notices and not decision.deferred:
        decision.status, decision.reason = (
            EventStatus.STORED,
            "every notice it asks for was sent already",
        )
    event.status, event.status_reason = decision.status, decision.reason
    response = {
        "event_id": event.event_id,
        "status": event.status,
        "reason": event.status_reason,
        "notice_ids": [n.id for n in notices],
    }
    event.response = response
    # Producers subscribed to status webhooks hear of a stale or unknown-client event.
    told = event_rejected(session, runtime, event)
    return IntakeResult(
        created=True,
        response=response,
        notice_ids=[n.id for n in notices] + told,
        fanout_event_pk=event.id if decision.deferred else None,
    )


def _apply_ordering(session: Session, event: FinalityEvent) -> Decision | None:
    """Record the trade's newest sequence; an older event is stale and sends nothing.

    The trade's state row is locked (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite's
    ``BEGIN IMMEDIATE`` already serialises writers) until the transaction ends, so two
    events for one trade never both read the same last sequence: the later one waits,
    then sees the earlier one's sequence and its notices.
    """
    if event.trade_id is None:
        return None
    state = session.get(TradeState, event.trade_id, with_for_update=True, populate_existing=True)
    if state is None:
        # No notice can name a trade before its first event: rules skip looking for one.
        session.info.setdefault(NEW_TRADES, set()).add(event.trade_id)
        session.add(
            TradeState(
                trade_id=event.trade_id,
                last_sequence=event.sequence,
                last_event_pk=event.id,
                client_id=event.client_id,
            )
        )
        session.flush()
        return None
    last = state.last_sequence
    if event.sequence is not None and last is not None and event.sequence < last:
        return Decision(
            status=EventStatus.STALE,
            reason=f"sequence {event.sequence} is older than {last}, already applied",
        )
    if event.sequence is not None:
        state.last_sequence = max(event.sequence, last or 0)
    state.last_event_pk = event.id
    return None
