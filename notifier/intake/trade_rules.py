"""Rules for trade events: executed, finality (provisional / final / reverted / failed /
delayed), corrected and cancelled. Each asks :mod:`notifier.notices.transitions` what the event
may do from the trade's state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from notifier.models import Batch, Client, FinalityEvent, Notice, TradeState
from notifier.notices.contexts import deadline_for
from notifier.notices.kinds import (
    Decision,
    NoticePlan,
    cancellation_plan,
    confirmation_plan,
    correction_plan,
    delay_plan,
    escalation_plan,
    execution_plan,
    primer_plan,
)
from notifier.notices.rule_base import (
    Rule,
    iso,
    latest_confirming,
    live_confirming_ids,
    move,
    plan_failure,
)
from notifier.notices.transitions import Send, Signal, step
from notifier.states import BatchStatus, TradeStatus


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


def _start(rule: Rule, client: Client) -> TradeState:
    """The trade's state, tied to its client, with its confirmation deadline set once."""
    trade = rule.body["trade"]
    state = rule.trade_state(trade["trade_id"])
    state.client_id = client.id
    if state.deadline_at is None:
        state.deadline_at = deadline_for(rule.runtime, client, trade)
    return state


def _trade_executed(rule: Rule, client: Client) -> Decision:
    return _confirm_execution(rule, client, _start(rule, client))


def _confirm_execution(rule: Rule, client: Client, state: TradeState) -> Decision:
    found = step(state.status, Signal.EXECUTED)
    if found.send is None:
        return Decision.stored(found.why_not or "")
    move(state, found)
    return Decision(plans=[execution_plan(rule.runtime, client, rule.event_id, rule.body["trade"])])


def _trade_finality(rule: Rule, client: Client) -> Decision:
    trade, finality = rule.body["trade"], dict(rule.body["finality"])
    state = _start(rule, client)
    layer, status = finality["layer"], finality["status"]
    if status in ("reverted", "failed"):
        return _reverse_one(rule, client, state, f"trade_{status}")
    if status == "delayed":
        return _delay_one(rule, client, state)
    if layer == "L1" and status == "provisional":
        # Finality comes later (T+1, T+2): the execution is confirmed now, in time.
        state.layer = layer
        return _confirm_execution(rule, client, state)
    plans: list[NoticePlan] = []
    if layer == "L2":
        current_id, batch = _current_batch(rule.session, finality["l2"]["batch_id"])
        if batch is not None and batch.status in (BatchStatus.FAILED, BatchStatus.REVOKED):
            return _arrived_after_failure(rule, client, state, batch)
        finality["l2"] = dict(finality["l2"], batch_id=current_id)
        if status == "provisional" and batch is not None and batch.status == BatchStatus.FINAL:
            # batch.final came first: the trade is final already, say so at once.
            finality = _final_in(finality, batch)
        state.batch_id = current_id
        plans.append(primer_plan(rule.runtime, client, rule.event_id))
    found = step(state.status, Signal(finality["status"]))
    if found.send is None:
        return Decision.stored(found.why_not or "")
    state.layer = layer
    move(state, found)
    execution = latest_confirming(rule.session, trade["trade_id"], ("execution_confirmation",))
    plans.append(confirmation_plan(rule.runtime, client, rule.event_id, trade, finality, execution))
    return Decision(plans=plans)


def _final_in(finality: dict[str, Any], batch: Batch) -> dict[str, Any]:
    l2 = dict(finality["l2"], batch_end_at=iso(batch.batch_end_at) or "")
    final_at = iso(batch.final_at or batch.batch_end_at)
    return finality | {"status": "final", "final_at": final_at, "l2": l2}


def _arrived_after_failure(rule: Rule, client: Client, state: TradeState, batch: Batch) -> Decision:
    """A trade reported for a batch that already failed: confirm the execution, reverse it."""
    trade = rule.body["trade"]
    state.layer, state.batch_id = "L2", batch.batch_id
    plans = _confirm_execution(rule, client, state).plans
    found = step(state.status, Signal.REVERTED)
    if found.send is None:
        return Decision(plans=plans) if plans else Decision.stored(found.why_not or "")
    move(state, found)
    failure = batch.details or {}
    latest = latest_confirming(rule.session, trade["trade_id"])
    plans.append(plan_failure(rule, client, state, found, "batch_failed", latest, batch.batch_id))
    entry = {"client_id": client.id, "client_name": client.name, "trade_id": trade["trade_id"]}
    plans.append(
        escalation_plan(
            rule.runtime,
            cause="batch_failed",
            key=f"{batch.batch_id}:{trade['trade_id']}",
            event_id=rule.event_id,
            affected=[entry | {"notice_id": latest.id if latest else None}],
            batch_id=batch.batch_id,
            reason=failure.get("reason"),
        )
    )
    return Decision(plans=plans)


def _reverse_one(rule: Rule, client: Client, state: TradeState, variant: str) -> Decision:
    """A trade-level reverted / failed: its own reversal, never blamed on its batch."""
    found = step(state.status, Signal.REVERTED)
    if found.send is None:
        return Decision.stored(found.why_not or "")
    trade_id = rule.body["trade"]["trade_id"]
    latest = latest_confirming(rule.session, trade_id)
    batch_id = (rule.body["finality"].get("l2") or {}).get("batch_id")
    plan = plan_failure(rule, client, state, found, variant, latest, batch_id)
    move(state, found)
    revoked = found.send == Send.REVOCATION
    entry = {"client_id": client.id, "client_name": client.name, "trade_id": trade_id}
    escalation = escalation_plan(
        rule.runtime,
        cause="finality_revoked" if revoked else "trade_reverted",
        key=trade_id,
        event_id=rule.event_id,
        affected=[entry | {"notice_id": latest.id if latest else None}],
        batch_id=batch_id,
        reason=rule.body.get("reason"),
    )
    return Decision(plans=[plan, escalation], supersede=live_confirming_ids(rule.session, trade_id))


def _delay_one(rule: Rule, client: Client, state: TradeState) -> Decision:
    """A trade-level delayed: tell the client, with the new end or expected time."""
    # A trade first heard of through its delay is confirmed as executed first.
    plans = _confirm_execution(rule, client, state).plans if state.status is None else []
    found = step(state.status, Signal.DELAYED)
    if found.send is None:
        return Decision.stored(found.why_not or "")
    trade, finality = rule.body["trade"], rule.body["finality"]
    l2 = finality.get("l2")
    plan = delay_plan(
        rule.runtime,
        client,
        rule.event_id,
        scope="trade",
        trade_id=trade["trade_id"],
        trade=trade,
        latest=latest_confirming(rule.session, trade["trade_id"]),
        batch={"batch_id": l2["batch_id"], "new_batch_end_at": l2["batch_end_at"]} if l2 else None,
        reason=rule.body.get("reason"),
        expected_final_by=finality.get("expected_final_by"),
    )
    return Decision(plans=[*plans, plan])


def _trade_corrected(rule: Rule, client: Client) -> Decision:
    return _replace_confirmation(rule, client, Signal.CORRECTED)


def _trade_cancelled(rule: Rule, client: Client) -> Decision:
    return _replace_confirmation(rule, client, Signal.CANCELLED)


def _replace_confirmation(rule: Rule, client: Client, signal: Signal) -> Decision:
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
    found = step(state.status, signal)
    if found.send is None:
        return Decision.stored(found.why_not or "")
    supersede = live_confirming_ids(rule.session, trade["trade_id"])
    if signal == Signal.CANCELLED:
        move(state, found)
        plan = _cancellation(rule, client, original, rule.body["reason"], "cancelled")
        return Decision(plans=[plan], supersede=supersede)
    plans = [_correction(rule, client, state, original)]
    old_client = rule.client(original.client_id)
    if old_client is not None and old_client.id != client.id:
        # The trade moved to another client: the old client's confirmation is void.
        reason = {"code": "REALLOCATED", "text": ""}
        plans.append(_cancellation(rule, old_client, original, reason, "reallocated"))
    state.client_id = client.id
    return Decision(plans=plans, supersede=supersede)


def _correction(rule: Rule, client: Client, state: TradeState, original: Notice) -> NoticePlan:
    """Correct ``original``; a reversed trade's old "pending in batch …" block would be false."""
    reversed_ = state.status in (TradeStatus.REVERTED, TradeStatus.REVOKED)
    finality = rule.body.get("finality") or original.context.get("finality")
    return correction_plan(
        rule.runtime,
        client,
        rule.event_id,
        trade=rule.body["trade"],
        original=original,
        finality=None if reversed_ else finality,
        finality_reversed=reversed_,
    )


def _cancellation(
    rule: Rule, client: Client, original: Notice, reason: dict[str, Any], variant: str
) -> NoticePlan:
    return cancellation_plan(
        rule.runtime,
        client,
        rule.event_id,
        trade_id=original.trade_id or rule.body["trade"]["trade_id"],
        original=original,
        reason=reason,
        variant=variant,
    )


TradeHandler = Callable[[Rule, Client], Decision]

# Trade events need a registered client.
TRADE_RULES: dict[str, TradeHandler] = {
    "trade.executed": _trade_executed,
    "trade.finality": _trade_finality,
    "trade.corrected": _trade_corrected,
    "trade.cancelled": _trade_cancelled,
}
