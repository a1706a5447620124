"""What each finality event sends: DESIGN.md's "What each event sends", as a rule table.

``plan_event`` reads an accepted event and returns a :class:`Decision`: the event's
status, the notices to send and the notices they supersede. Each event becomes a signal
per trade; :mod:`notifier.transitions` decides from the trade's status what it sends, so
the arrival order does not matter. Rules only read and update trade / batch state;
:mod:`notifier.intake` writes the plans in the event's transaction. Every plan carries a
dedup key, so however often events arrive, a notice goes out once.
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
    execution_plan,
    failure_plan,
    finalised_context,
    original_ref,
    primer_plan,
    trade_changes,
    with_cycle_label,
)
from notifier.runtime import Runtime
from notifier.states import BatchStatus, EventStatus, NoticeStatus, TradeStatus
from notifier.transitions import Send, Signal, Step, step


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

    def client(self, client_id: str | None) -> Client | None:
        return self.session.get(Client, client_id) if client_id else None

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


def latest_confirming(
    session: Session, trade_id: str, kinds: tuple[str, ...] = CONFIRMING_KINDS
) -> Notice | None:
    """Return the newest confirmation (or correction) sent for a trade."""
    return session.scalar(
        select(Notice)
        .where(Notice.trade_id == trade_id, Notice.kind.in_(kinds))
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
            .order_by(TradeState.trade_id)
        )
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _batch_data(batch: Batch) -> dict[str, Any]:
    return {
        "batch_id": batch.batch_id,
        "batch_end_at": _iso(batch.batch_end_at),
        "final_at": _iso(batch.final_at or batch.batch_end_at),
    }


def _move(state: TradeState, found: Step) -> None:
    if found.status is not None:
        state.status = found.status


# --- trade events ---------------------------------------------------------------------


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
    _move(state, found)
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
    _move(state, found)
    execution = latest_confirming(rule.session, trade["trade_id"], ("execution_confirmation",))
    plans.append(confirmation_plan(rule.runtime, client, rule.event_id, trade, finality, execution))
    return Decision(plans=plans)


def _final_in(finality: dict[str, Any], batch: Batch) -> dict[str, Any]:
    l2 = dict(finality["l2"], batch_end_at=_iso(batch.batch_end_at) or "")
    final_at = _iso(batch.final_at or batch.batch_end_at)
    return finality | {"status": "final", "final_at": final_at, "l2": l2}


def _arrived_after_failure(rule: Rule, client: Client, state: TradeState, batch: Batch) -> Decision:
    """A trade reported for a batch that already failed: confirm the execution, reverse it."""
    trade = rule.body["trade"]
    state.layer, state.batch_id = "L2", batch.batch_id
    plans = _confirm_execution(rule, client, state).plans
    found = step(state.status, Signal.REVERTED)
    if found.send is None:
        return Decision(plans=plans) if plans else Decision.stored(found.why_not or "")
    _move(state, found)
    failure = batch.details or {}
    latest = latest_confirming(rule.session, trade["trade_id"])
    plans.append(_failure(rule, client, state, found, "batch_failed", latest, batch.batch_id))
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


def _failure(
    rule: Rule,
    client: Client,
    state: TradeState,
    found: Step,
    variant: str,
    latest: Notice | None,
    batch_id: str | None,
) -> NoticePlan:
    """Plan the reversal (or, after final, the finality revocation) of one trade."""
    failure = {k: rule.body.get(k) for k in ("reason", "outcome")}
    if rule.event.type == "trade.finality" and variant == "batch_failed":
        # The trade arrived after its batch failed: tell it what the batch event said.
        batch = rule.session.get(Batch, batch_id) if batch_id else None
        failure = (batch.details if batch else None) or {}
    trade = latest.context["trade"] if latest else rule.body["trade"]
    kind = "finality_revoked" if found.send == Send.REVOCATION else "reversal"
    return failure_plan(
        rule.runtime,
        client,
        rule.event_id,
        kind=kind,
        variant=variant,
        trade=trade,
        latest=latest,
        batch_id=batch_id,
        failure=failure,
    )


def _reverse_one(rule: Rule, client: Client, state: TradeState, variant: str) -> Decision:
    """A trade-level reverted / failed: its own reversal, never blamed on its batch."""
    found = step(state.status, Signal.REVERTED)
    if found.send is None:
        return Decision.stored(found.why_not or "")
    trade_id = rule.body["trade"]["trade_id"]
    latest = latest_confirming(rule.session, trade_id)
    batch_id = (rule.body["finality"].get("l2") or {}).get("batch_id")
    plan = _failure(rule, client, state, found, variant, latest, batch_id)
    _move(state, found)
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
    latest = latest_confirming(rule.session, trade["trade_id"])
    l2 = finality.get("l2")
    batch = {"batch_id": l2["batch_id"], "new_batch_end_at": l2["batch_end_at"]} if l2 else None
    context = base_context(rule.runtime, client, rule.event_id) | {
        "variant": "trade",
        "trade": latest.context["trade"] if latest else trade,
        "batch": batch,
        "expected_final_by": finality.get("expected_final_by"),
        "reason": rule.body.get("reason"),
        "original": original_ref(latest),
    }
    plan = NoticePlan(
        kind="delay",
        variant="trade",
        client_id=client.id,
        trade_id=trade["trade_id"],
        batch_id=l2["batch_id"] if l2 else None,
        context=context,
        dedup_key=f"delay:trade:{rule.event_id}",
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
        _move(state, found)
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
    trade = rule.body["trade"]
    finality = rule.body.get("finality") or original.context.get("finality")
    reversed_ = state.status in (TradeStatus.REVERTED, TradeStatus.REVOKED)
    if reversed_:
        finality = None  # the old "pending in batch …" block would be false now
    old_trade = original.context.get("trade") or {}
    # Another client's identifiers are not this client's business: a trade moved to
    # them shows its own account, not the one it left.
    hidden = {"client_id"} | ({"account"} if original.client_id != client.id else set())
    changes = [c for c in trade_changes(old_trade, trade) if c["field"] not in hidden]
    context = base_context(rule.runtime, client, rule.event_id) | {
        "trade": trade,
        "original": original_ref(original),
        "finality": with_cycle_label(finality, trade, rule.runtime) if finality else None,
        "finality_reversed": reversed_,
        "reallocated": original.client_id != client.id,
        "changed_fields": [c["field"] for c in changes],
        "changes": changes,
    }
    return NoticePlan(
        kind="correction",
        client_id=client.id,
        trade_id=trade["trade_id"],
        batch_id=original.batch_id,
        dedup_key=f"correction:{rule.event_id}:{client.id}",
        context=context,
        supersedes_id=original.id,
        deadline_at=deadline_for(rule.runtime, client, trade),
    )


def _cancellation(
    rule: Rule, client: Client, original: Notice, reason: dict[str, Any], variant: str
) -> NoticePlan:
    """Void ``original``: the notice shows the figures of the confirmation it voids."""
    context = base_context(rule.runtime, client, rule.event_id) | {
        "variant": variant,
        "trade": original.context["trade"],
        "reason": reason if reason.get("text") else None,
        "original": original_ref(original),
    }
    trade_id = original.trade_id or rule.body["trade"]["trade_id"]
    return NoticePlan(
        kind="cancellation",
        variant=None if variant == "cancelled" else variant,
        client_id=client.id,
        trade_id=trade_id,
        batch_id=original.batch_id,
        dedup_key=f"cancellation:{trade_id}:{client.id}",
        context=context,
        supersedes_id=original.id,
    )


# --- batch events ---------------------------------------------------------------------


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
    _move(state, step(state.status, Signal.FINAL))
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
        plans.append(_failure(rule, client, state, found, "batch_failed", latest, batch.batch_id))
        supersede.extend(live_confirming_ids(rule.session, state.trade_id))
        cause = "finality_revoked" if found.send == Send.REVOCATION else "batch_failed"
        affected[cause].append(affected_entry(latest, client))
        _move(state, found)
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
        context = base_context(rule.runtime, client, rule.event_id) | {
            "variant": "batch",
            "trade": latest.context["trade"],
            "batch": data,
            "expected_final_by": None,
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
            )
        )
    if not plans:
        return Decision.stored(
            f"batch {batch.batch_id} recorded delayed; no provisional trade in it"
        )
    return Decision(plans=plans)


TradeHandler = Callable[[Rule, Client], Decision]
BatchHandler = Callable[[Rule], Decision]

# Trade events need a registered client; batch events find their clients through trades.
TRADE_RULES: dict[str, TradeHandler] = {
    "trade.executed": _trade_executed,
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
