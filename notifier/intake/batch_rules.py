"""Rules for batch events: a Layer-2 batch final, failed (or revoked after final) or delayed.

Batch events find their clients through the trades in the batch; each trade moves as
:mod:`notifier.intake.transitions` allows.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from notifier.intake.rule_base import (
    Rule,
    iso,
    latest_confirming,
    live_confirming_ids,
    move,
    plan_failure,
)
from notifier.intake.transitions import Send, Signal, step
from notifier.models import Batch, Client, Notice, TradeState
from notifier.notices.contexts import affected_entry, finalised_context
from notifier.notices.kinds import (
    Decision,
    NoticePlan,
    confirmation_plan,
    delay_plan,
    escalation_plan,
)
from notifier.states import BatchStatus, TradeStatus


def _record_batch(rule: Rule, status: BatchStatus) -> tuple[Batch, str | None]:
    """Store what this batch event says; return the row and its previous status."""
    data = rule.body["batch"]
    # Locked until commit, as accept.py locks a trade's state: concurrent events for one
    # batch apply one after the other, each reading the status the previous one left.
    row = rule.session.get(Batch, data["batch_id"], with_for_update=True, populate_existing=True)
    previous = row.status if row else None
    if row is None:
        row = Batch(batch_id=data["batch_id"], status=status)
        rule.session.add(row)
    if previous == BatchStatus.FINAL and status == BatchStatus.FAILED:
        row.status, row.revoked_at = BatchStatus.REVOKED, rule.runtime.clock()
    elif previous not in (BatchStatus.FINAL, BatchStatus.FAILED, BatchStatus.REVOKED):
        row.status = status  # an outcome is not undone, only revoked (above)
    row.batch_end_at = datetime.fromisoformat(data["batch_end_at"])
    if data.get("final_at"):
        row.final_at = datetime.fromisoformat(data["final_at"])
    if data.get("rolled_to_batch_id"):
        row.rolled_to_batch_id = data["rolled_to_batch_id"]
    said = {k: data[k] for k in ("new_value_date", "new_batch_end_at") if data.get(k)}
    said |= {k: rule.body[k] for k in ("reason", "outcome") if rule.body.get(k)}
    if said:
        row.details = dict(row.details or {}) | said
    row.last_event_pk = rule.event.id
    row.updated_at = rule.runtime.clock()
    return row, previous


def _new_value_date(session: Session, batch_id: str) -> str | None:
    """The last value date a delay announced on the way from ``batch_id`` along its rolls."""
    found, seen = None, set()
    row = session.get(Batch, batch_id)
    while row is not None and row.batch_id not in seen:
        seen.add(row.batch_id)
        found = (row.details or {}).get("new_value_date") or found
        row = session.get(Batch, row.rolled_to_batch_id) if row.rolled_to_batch_id else None
    return found


def _trades_in_batch(
    rule: Rule, batch_id: str, statuses: tuple[TradeStatus, ...]
) -> list[TradeState]:
    return list(
        rule.session.scalars(
            select(TradeState)
            .where(TradeState.batch_id == batch_id, TradeState.status.in_(statuses))
            .order_by(TradeState.trade_id)  # one lock order, so two batches cannot deadlock
            .with_for_update()
        )
    )


def _batch_data(batch: Batch) -> dict[str, Any]:
    return {
        "batch_id": batch.batch_id,
        "batch_end_at": iso(batch.batch_end_at),
        "final_at": iso(batch.final_at or batch.batch_end_at),
    }


def _batch_final(rule: Rule) -> Decision:
    batch, previous = _record_batch(rule, BatchStatus.FINAL)
    if previous in (BatchStatus.FAILED, BatchStatus.REVOKED):
        return Decision.stored(f"batch {batch.batch_id} was reported failed before; not final")
    states = _trades_in_batch(rule, batch.batch_id, (TradeStatus.PROVISIONAL,))
    plans: list[NoticePlan] = []
    for state, latest, client in rule.confirmed(states):
        final = _finalise(rule, state, latest, client, batch)
        plans.extend([final] if final else [])
    if not plans:
        return Decision.stored(f"batch {batch.batch_id} recorded final; no provisional trade waits")
    return Decision(plans=plans)


def _finalise(
    rule: Rule, state: TradeState, latest: Notice, client: Client, batch: Batch
) -> NoticePlan | None:
    """The final confirmation of a provisional trade, in the batch it settled in."""
    finality = latest.context.get("finality") or {}
    if not finality.get("l2") or step(state.status, Signal.FINAL).send is None:
        return None
    value_date = _new_value_date(rule.session, finality["l2"]["batch_id"])
    context = finalised_context(
        latest.context, rule.runtime, rule.event_id, _batch_data(batch), value_date
    )
    move(state, step(state.status, Signal.FINAL))
    state.batch_id = batch.batch_id
    execution = latest_confirming(rule.session, state.trade_id, ("execution_confirmation",))
    return confirmation_plan(
        rule.runtime, client, rule.event_id, context["trade"], context["finality"], execution
    )


def _batch_failed(rule: Rule) -> Decision:
    batch, _ = _record_batch(rule, BatchStatus.FAILED)
    states = _trades_in_batch(rule, batch.batch_id, (TradeStatus.PROVISIONAL, TradeStatus.FINAL))
    plans, supersede = [], []
    affected: dict[str, list[dict[str, Any]]] = {"batch_failed": [], "finality_revoked": []}
    for state, latest, client in rule.confirmed(states):
        found = step(state.status, Signal.REVERTED)
        if found.send is None:
            continue
        plans.append(
            plan_failure(rule, client, state, found, "batch_failed", latest, batch.batch_id)
        )
        supersede.extend(live_confirming_ids(rule.session, state.trade_id))
        cause = "finality_revoked" if found.send == Send.REVOCATION else "batch_failed"
        affected[cause].append(affected_entry(latest, client))
        move(state, found)
    if not plans:
        return Decision.stored("no confirmed trade to reverse")
    for cause, entries in affected.items():
        if entries:  # a revocation goes to compliance as its own escalation
            plans.append(
                escalation_plan(
                    rule.runtime,
                    cause=cause,
                    key=batch.batch_id,
                    event_id=rule.event_id,
                    affected=entries,
                    batch_id=batch.batch_id,
                    reason=rule.body["reason"],
                )
            )
    return Decision(plans=plans, supersede=supersede)


def _batch_delayed(rule: Rule) -> Decision:
    batch, _ = _record_batch(rule, BatchStatus.DELAYED)
    data = rule.body["batch"]
    to = data.get("rolled_to_batch_id") or data.get("new_value_date")
    target = (
        rule.session.get(Batch, data["rolled_to_batch_id"])
        if to == data.get("rolled_to_batch_id")
        else None
    )
    states = _trades_in_batch(rule, batch.batch_id, (TradeStatus.PROVISIONAL,))
    plans: list[NoticePlan] = []
    for state, latest, client in rule.confirmed(states):
        if data.get("rolled_to_batch_id"):
            state.batch_id = data["rolled_to_batch_id"]
        if target is not None and target.status == BatchStatus.FINAL:
            # Rolled into a batch that is final already: the trade is final now.
            final = _finalise(rule, state, latest, client, target)
            plans.extend([final] if final else [])
            continue
        if step(state.status, Signal.DELAYED).send is None:
            continue
        plans.append(
            delay_plan(
                rule.runtime,
                client,
                rule.event_id,
                scope="batch",
                trade_id=state.trade_id,
                trade=latest.context["trade"],
                latest=latest,
                batch=data,
                reason=rule.body["reason"],
                rolled_to=to,
            )
        )
    if not plans:
        return Decision.stored(
            f"batch {batch.batch_id} recorded delayed; no provisional trade in it"
        )
    return Decision(plans=plans)


BatchHandler = Callable[[Rule], Decision]

BATCH_RULES: dict[str, BatchHandler] = {
    "batch.final": _batch_final,
    "batch.failed": _batch_failed,
    "batch.delayed": _batch_delayed,
}
