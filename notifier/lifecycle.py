"""What each finality event sends: DESIGN.md's "What each event sends", as a rule table.

``plan_event`` reads an accepted event and returns a :class:`Decision`: the event's
status, the notices to send and the notices they supersede. Rules only read and update
trade / batch state; :mod:`notifier.intake` writes the plans in the event's transaction.
Every plan carries a dedup key, so whatever order or how often events arrive, a notice
goes out once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from notifier.models import Batch, Client, FinalityEvent, Notice, TradeState
from notifier.planning import (
    CONFIRMING_KINDS,
    Decision,
    NoticePlan,
    affected_entry,
    base_context,
    confirmation_plan,
    deadline_for,
    escalation_plan,
    finalised_context,
    original_ref,
    primer_plan,
    with_cycle_label,
)
from notifier.runtime import Runtime
from notifier.states import BatchStatus, EventStatus, NoticeStatus, TradeStatus


@dataclass
class Rule:
    """One event being decided: the session, the event row and its canonical body."""

    session: Session
    runtime: Runtime
    event: FinalityEvent
    body: dict[str, Any]

    @property
    def event_id(self) -> str:
        return self.event.event_id

    def trade_state(self, trade_id: str) -> TradeState:
        state = self.session.get(TradeState, trade_id)
        if state is None:  # intake's ordering step creates it for every trade event
            state = TradeState(trade_id=trade_id)
            self.session.add(state)
        return state

    def confirmed(self, states: list[TradeState]) -> Iterator[tuple[TradeState, Notice, Client]]:
        """Yield each trade with its newest confirmation and its client, where both exist."""
        clients = self.clients(s.client_id for s in states)
        for state in states:
            latest = latest_confirming(self.session, state.trade_id)
            client = clients.get(state.client_id or "")
            if latest is not None and client is not None:
                yield state, latest, client

    def clients(self, ids: Iterable[str | None]) -> dict[str, Client]:
        wanted = {i for i in ids if i}
        if not wanted:
            return {}
        return {c.id: c for c in self.session.scalars(select(Client).where(Client.id.in_(wanted)))}


def latest_confirming(session: Session, trade_id: str) -> Notice | None:
    """Return the newest confirmation (or correction) sent for a trade."""
    return session.scalar(
        select(Notice)
        .where(Notice.trade_id == trade_id, Notice.kind.in_(CONFIRMING_KINDS))
        .order_by(Notice.id.desc())
        .limit(1)
    )


def live_confirming_ids(session: Session, trade_id: str) -> list[int]:
    """Ids of the trade's confirmations that a reversal, correction or cancellation replaces."""
    return list(
        session.scalars(
            select(Notice.id).where(
                Notice.trade_id == trade_id,
                Notice.kind.in_(CONFIRMING_KINDS),
                Notice.status != NoticeStatus.SUPERSEDED,
            )
        )
    )


def _record_batch(rule: Rule, status: BatchStatus) -> tuple[Batch, str | None]:
    """Store what this batch event says; return the row and its previous status."""
    data = rule.body["batch"]
    row = rule.session.get(Batch, data["batch_id"])
    previous = row.status if row else None
    if row is None:
        row = Batch(batch_id=data["batch_id"], status=status)
        rule.session.add(row)
    if previous not in (BatchStatus.FINAL, BatchStatus.FAILED):  # an outcome is not undone
        row.status = status
    row.batch_end_at = datetime.fromisoformat(data["batch_end_at"])
    if data.get("final_at"):
        row.final_at = datetime.fromisoformat(data["final_at"])
    if data.get("rolled_to_batch_id"):
        row.rolled_to_batch_id = data["rolled_to_batch_id"]
    row.last_event_pk = rule.event.id
    row.updated_at = rule.runtime.clock()
    return row, previous


def _current_batch(session: Session, batch_id: str) -> tuple[str, Batch | None]:
    """Follow batch.delayed rolls from ``batch_id`` to the batch the trade settles in now."""
    seen: set[str] = set()
    row = session.get(Batch, batch_id)
    while row is not None and row.rolled_to_batch_id and row.status == BatchStatus.DELAYED:
        if row.rolled_to_batch_id in seen:
            break
        seen.add(row.rolled_to_batch_id)
        batch_id = row.rolled_to_batch_id
        row = session.get(Batch, batch_id)
    return batch_id, row


def _trades_in_batch(
    rule: Rule, batch_id: str, statuses: tuple[TradeStatus, ...]
) -> list[TradeState]:
    return list(
        rule.session.scalars(
            select(TradeState)
            .where(TradeState.batch_id == batch_id, TradeState.status.in_(statuses))
            .order_by(TradeState.trade_id)
        )
    )


# --- trade events ---------------------------------------------------------------------


def _trade_finality(rule: Rule, client: Client) -> Decision:
    trade, finality = rule.body["trade"], dict(rule.body["finality"])
    state = rule.trade_state(trade["trade_id"])
    layer, status = finality["layer"], finality["status"]
    batch_id = (finality.get("l2") or {}).get("batch_id")
    if status in ("reverted", "failed"):
        return _reverse(
            rule,
            [state],
            cause=f"trade_{status}",
            key=trade["trade_id"],
            batch_id=batch_id,
            reason=rule.body.get("reason"),
        )
    if status == "delayed" or (layer == "L1" and status != "final"):
        return Decision.stored(f"{layer} {status}: recorded; clients are told at finality")
    if status == "provisional" and state.status == TradeStatus.FINAL:
        return Decision.stored("the trade is already final; a provisional notice would mislead")
    plans: list[NoticePlan] = []
    if layer == "L2":
        assert batch_id is not None  # the schema requires l2 for layer L2
        current_id, batch = _current_batch(rule.session, batch_id)
        if batch is not None and batch.status == BatchStatus.FAILED:
            return Decision.stored(f"batch {current_id} already failed; nothing to confirm")
        finality["l2"] = dict(finality["l2"], batch_id=current_id)
        if status == "provisional" and batch is not None and batch.status == BatchStatus.FINAL:
            # batch.final came first: the trade is final already, say so at once.
            finality["l2"]["batch_end_at"] = (
                _iso(batch.batch_end_at) or finality["l2"]["batch_end_at"]
            )
            finality = finality | {
                "status": "final",
                "final_at": _iso(batch.final_at or batch.batch_end_at),
            }
        state.batch_id = current_id
        plans.append(primer_plan(rule.runtime, client, rule.event_id))
    state.client_id, state.layer = client.id, layer
    state.status = TradeStatus(finality["status"])
    plans.append(confirmation_plan(rule.runtime, client, rule.event_id, trade, finality))
    return Decision(plans=plans)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _trade_corrected(rule: Rule, client: Client) -> Decision:
    return _replace_confirmation(rule, client, "correction")


def _trade_cancelled(rule: Rule, client: Client) -> Decision:
    return _replace_confirmation(rule, client, "cancellation")


def _replace_confirmation(rule: Rule, client: Client, kind: str) -> Decision:
    """Correct or cancel a confirmed trade; the notice references the one it replaces."""
    trade = rule.body["trade"]
    superseded = rule.session.scalar(
        select(FinalityEvent.id).where(FinalityEvent.event_id == rule.body["supersedes_event_id"])
    )
    if superseded is None:
        return Decision.stored("supersedes_event_id names no event we have received")
    original = latest_confirming(rule.session, trade["trade_id"])
    if original is None:
        return Decision.stored(f"no confirmation was sent for trade {trade['trade_id']}")
    state = rule.trade_state(trade["trade_id"])
    context = base_context(rule.runtime, client, rule.event_id) | {
        "trade": trade,
        "original": original_ref(original),
    }
    plan = NoticePlan(
        kind=kind,
        client_id=client.id,
        trade_id=trade["trade_id"],
        batch_id=original.batch_id,
        dedup_key="",
        context=context,
        supersedes_id=original.id,
    )
    if kind == "correction":
        finality = rule.body.get("finality") or original.context.get("finality")
        old_trade = original.context.get("trade") or {}
        context["finality"] = with_cycle_label(finality, trade, rule.runtime) if finality else None
        context["changed_fields"] = sorted(
            k for k in set(old_trade) | set(trade) if old_trade.get(k) != trade.get(k)
        )
        plan.dedup_key = f"correction:{rule.event_id}"
        plan.deadline_at = deadline_for(rule.runtime, client, trade)
    else:
        context["reason"] = rule.body["reason"]
        plan.dedup_key = f"cancellation:{trade['trade_id']}"
        state.status = TradeStatus.CANCELLED
    return Decision(plans=[plan], supersede=live_confirming_ids(rule.session, trade["trade_id"]))


# --- batch events ---------------------------------------------------------------------


def _batch_final(rule: Rule) -> Decision:
    batch, previous = _record_batch(rule, BatchStatus.FINAL)
    if previous == BatchStatus.FAILED:
        return Decision.stored(f"batch {batch.batch_id} was reported failed before; not final")
    data = {
        "batch_id": batch.batch_id,
        "batch_end_at": _iso(batch.batch_end_at),
        "final_at": _iso(batch.final_at or batch.batch_end_at),
    }
    states = _trades_in_batch(rule, batch.batch_id, (TradeStatus.PROVISIONAL,))
    plans = []
    for state, latest, client in rule.confirmed(states):
        if not (latest.context.get("finality") or {}).get("l2"):
            continue
        context = finalised_context(latest.context, rule.runtime, rule.event_id, data)
        plans.append(
            confirmation_plan(
                rule.runtime, client, rule.event_id, context["trade"], context["finality"]
            )
        )
        state.status = TradeStatus.FINAL
    if not plans:
        return Decision.stored(f"batch {batch.batch_id} recorded final; no provisional trade waits")
    return Decision(plans=plans)


def _batch_failed(rule: Rule) -> Decision:
    batch, _ = _record_batch(rule, BatchStatus.FAILED)
    states = _trades_in_batch(rule, batch.batch_id, (TradeStatus.PROVISIONAL, TradeStatus.FINAL))
    return _reverse(
        rule,
        states,
        cause="batch_failed",
        key=batch.batch_id,
        batch_id=batch.batch_id,
        reason=rule.body["reason"],
    )


def _reverse(
    rule: Rule,
    states: list[TradeState],
    *,
    cause: str,
    key: str,
    batch_id: str | None,
    reason: dict[str, Any] | None,
) -> Decision:
    """Send a reversal per confirmed trade and one escalation listing them all."""
    plans, supersede, affected = [], [], []
    for state, latest, client in rule.confirmed(states):
        if state.status in (TradeStatus.REVERTED, TradeStatus.CANCELLED):
            continue
        context = base_context(rule.runtime, client, rule.event_id) | {
            "variant": cause,
            "trade": latest.context["trade"],
            "finality": latest.context.get("finality"),
            "batch": {"batch_id": batch_id} if batch_id else None,
            "reason": reason,
            "original": original_ref(latest),
        }
        plans.append(
            NoticePlan(
                kind="reversal",
                variant=cause,
                client_id=client.id,
                trade_id=state.trade_id,
                batch_id=batch_id,
                dedup_key=f"reversal:{state.trade_id}",
                context=context,
                supersedes_id=latest.id,
            )
        )
        supersede.extend(live_confirming_ids(rule.session, state.trade_id))
        affected.append(affected_entry(latest, client))
        state.status = TradeStatus.REVERTED
    if not plans:
        return Decision.stored("no confirmed trade to reverse")
    # Support's escalation names two causes: a whole batch, or one trade (reverted or failed).
    escalation_cause = "batch_failed" if cause == "batch_failed" else "trade_reverted"
    plans.append(
        escalation_plan(
            rule.runtime,
            cause=escalation_cause,
            key=key,
            event_id=rule.event_id,
            affected=affected,
            batch_id=batch_id,
            reason=reason,
        )
    )
    return Decision(plans=plans, supersede=supersede)


def _batch_delayed(rule: Rule) -> Decision:
    batch, _ = _record_batch(rule, BatchStatus.DELAYED)
    data = rule.body["batch"]
    to = data.get("rolled_to_batch_id") or data.get("new_value_date")
    states = _trades_in_batch(rule, batch.batch_id, (TradeStatus.PROVISIONAL,))
    plans = []
    for state, latest, client in rule.confirmed(states):
        context = base_context(rule.runtime, client, rule.event_id) | {
            "trade": latest.context["trade"],
            "batch": data,
            "reason": rule.body["reason"],
            "original": original_ref(latest),
        }
        plans.append(
            NoticePlan(
                kind="delay",
                client_id=client.id,
                trade_id=state.trade_id,
                batch_id=batch.batch_id,
                context=context,
                dedup_key=f"delay:{batch.batch_id}:{to}:{state.trade_id}",
                supersedes_id=None,
            )
        )
        if data.get("rolled_to_batch_id"):
            state.batch_id = data["rolled_to_batch_id"]
    if not plans:
        return Decision.stored(
            f"batch {batch.batch_id} recorded delayed; no provisional trade in it"
        )
    return Decision(plans=plans)


TradeHandler = Callable[[Rule, Client], Decision]
BatchHandler = Callable[[Rule], Decision]

# Trade events need a registered client; batch events find their clients through trades.
TRADE_RULES: dict[str, TradeHandler] = {
    "trade.finality": _trade_finality,
    "trade.corrected": _trade_corrected,
    "trade.cancelled": _trade_cancelled,
}
BATCH_RULES: dict[str, BatchHandler] = {
    "batch.final": _batch_final,
    "batch.failed": _batch_failed,
    "batch.delayed": _batch_delayed,
}


def plan_event(
    session: Session, runtime: Runtime, event: FinalityEvent, body: dict[str, Any]
) -> Decision:
    """Decide what ``event`` sends."""
    rule = Rule(session, runtime, event, body)
    if event.type in BATCH_RULES:
        return BATCH_RULES[event.type](rule)
    trade = body["trade"]
    client = session.get(Client, trade["client_id"])
    if client is None:
        return Decision(
            status=EventStatus.UNKNOWN_CLIENT,
            reason=f"client {trade['client_id']} is not registered",
        )
    state = session.get(TradeState, trade["trade_id"])
    if state is not None and state.status == TradeStatus.CANCELLED:
        return Decision.stored(f"trade {trade['trade_id']} was cancelled")
    return TRADE_RULES[event.type](rule, client)
