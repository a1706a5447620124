"""A batch event's per-trade notices: planned in chunks of trades, inline or by the worker.

Intake stores a ``batch.final`` / ``batch.failed`` / ``batch.delayed`` event and its batch
state change, then either plans every trade at once (:func:`plan_all`, when nothing is
enqueued: tests, the replay tool) or leaves a :class:`~notifier.models.BatchFanout` row that
the worker works off (:func:`fan_out`). This module is in ``notices/`` because both
intake and the worker call it, and the worker never imports ``intake``.

Each chunk is one transaction that takes the batch's ordering lock (the row intake locks
for batch events), writes its notices (deduplicated by key) and moves the cursor past its
last trade, so a crash resumes after the last committed chunk and sends nothing twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from notifier.models import Batch, BatchFanout, Client, FinalityEvent, Notice, TradeState
from notifier.notices.contexts import affected_entry, finalised_context
from notifier.notices.kinds import (
    Decision,
    NoticePlan,
    confirmation_plan,
    delay_plan,
    escalation_plan,
)
from notifier.notices.outbox import write_plans
from notifier.notices.rule_base import (
    Rule,
    iso,
    latest_confirming,
    live_confirming_ids,
    move,
    plan_failure,
)
from notifier.notices.tracking import supersede_notice
from notifier.notices.transitions import Send, Signal, step
from notifier.runtime import Runtime
from notifier.states import BatchStatus, EventStatus, TradeStatus

MAX_CHUNKS = 100_000  # bounds one fan-out run
# SQLite has one write lock and its busy handler polls (sleeps up to 100 ms): a fan-out
# that takes the lock again right after each commit starved the notice tasks until their
# 30 s busy timeout ran out (bench_fanout, 10,000 trades). A pause longer than one poll
# between chunks lets every waiting writer in; PostgreSQL locks rows and needs none.
SQLITE_PAUSE_SECONDS = 0.15


@dataclass
class Chunk:
    """The plans for one run of trades, and where the run stopped."""

    plans: list[NoticePlan] = field(default_factory=list)
    supersede: list[int] = field(default_factory=list)
    affected: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    last_trade_id: str | None = None
    exhausted: bool = True


def batch_data(batch: Batch) -> dict[str, Any]:
    """The batch as a final confirmation names it."""
    return {
        "batch_id": batch.batch_id,
        "batch_end_at": iso(batch.batch_end_at),
        "final_at": iso(batch.final_at or batch.batch_end_at),
    }


def plan_all(rule: Rule, batch: dict[str, Any]) -> Decision:
    """Every trade of the batch at once, in the event's transaction (nothing enqueued)."""
    chunk = plan_trades(rule, batch, after=None, limit=None)
    plans = chunk.plans + closing_plans(rule, batch["batch_id"], chunk.affected)
    if not plans:
        return Decision.stored(empty_reason(rule.event.type, batch["batch_id"]))
    return Decision(plans=plans, supersede=chunk.supersede)


def defer(rule: Rule, batch: dict[str, Any]) -> Decision:
    """Leave the per-trade notices to the worker: the event is answered without them."""
    rule.session.add(
        BatchFanout(
            event_pk=rule.event.id,
            batch_id=batch["batch_id"],
            state={"batch": batch, "affected": {}, "plans": 0},
            notice_count=0,
            created_at=rule.runtime.clock(),
            updated_at=rule.runtime.clock(),
        )
    )
    return Decision(reason="per-trade notices are being written (fan-out)", deferred=True)


def empty_reason(event_type: str, batch_id: str) -> str:
    if event_type == "batch.final":
        return f"batch {batch_id} recorded final; no provisional trade waits"
    if event_type == "batch.failed":
        return "no confirmed trade to reverse"
    return f"batch {batch_id} recorded delayed; no provisional trade in it"


def plan_trades(rule: Rule, batch: dict[str, Any], after: str | None, limit: int | None) -> Chunk:
    """Plan the trades after ``after`` (in trade_id order), at most ``limit`` of them."""
    planner = _PLANNERS[rule.event.type]
    return planner(rule, batch, after, limit)


def _trades_in_batch(
    rule: Rule,
    batch_id: str,
    statuses: tuple[TradeStatus, ...],
    after: str | None,
    limit: int | None,
) -> tuple[list[TradeState], Chunk]:
    query = (
        select(TradeState)
        .where(TradeState.batch_id == batch_id, TradeState.status.in_(statuses))
        .order_by(TradeState.trade_id)  # one lock order, so two batches cannot deadlock
        .with_for_update()
    )
    if after is not None:
        query = query.where(TradeState.trade_id > after)
    if limit is not None:
        query = query.limit(limit)
    states = list(rule.session.scalars(query))
    exhausted = limit is None or len(states) < limit
    return states, Chunk(
        last_trade_id=states[-1].trade_id if states else after, exhausted=exhausted
    )


def _new_value_date(session: Session, batch_id: str) -> str | None:
    """The last value date a delay announced on the way from ``batch_id`` along its rolls."""
    found, seen = None, set()
    row = session.get(Batch, batch_id)
    while row is not None and row.batch_id not in seen:
        seen.add(row.batch_id)
        found = (row.details or {}).get("new_value_date") or found
        row = session.get(Batch, row.rolled_to_batch_id) if row.rolled_to_batch_id else None
    return found


def _final_trades(rule: Rule, batch: dict[str, Any], after: str | None, limit: int | None) -> Chunk:
    states, chunk = _trades_in_batch(
        rule, batch["batch_id"], (TradeStatus.PROVISIONAL,), after, limit
    )
    for state, latest, client in rule.confirmed(states):
        final = finalise(rule, state, latest, client, batch)
        chunk.plans.extend([final] if final else [])
    return chunk


def finalise(
    rule: Rule, state: TradeState, latest: Notice, client: Client, batch: dict[str, Any]
) -> NoticePlan | None:
    """The final confirmation of a provisional trade, in the batch it settled in."""
    finality = latest.context.get("finality") or {}
    if not finality.get("l2") or step(state.status, Signal.FINAL).send is None:
        return None
    value_date = _new_value_date(rule.session, finality["l2"]["batch_id"])
    context = finalised_context(latest.context, rule.runtime, rule.event_id, batch, value_date)
    move(state, step(state.status, Signal.FINAL))
    state.batch_id = batch["batch_id"]
    execution = latest_confirming(rule.session, state.trade_id, ("execution_confirmation",))
    return confirmation_plan(
        rule.runtime, client, rule.event_id, context["trade"], context["finality"], execution
    )


def _failed_trades(
    rule: Rule, batch: dict[str, Any], after: str | None, limit: int | None
) -> Chunk:
    batch_id = batch["batch_id"]
    states, chunk = _trades_in_batch(
        rule, batch_id, (TradeStatus.PROVISIONAL, TradeStatus.FINAL), after, limit
    )
    chunk.affected = {"batch_failed": [], "finality_revoked": []}
    for state, latest, client in rule.confirmed(states):
        found = step(state.status, Signal.REVERTED)
        if found.send is None:
            continue
        chunk.plans.append(
            plan_failure(rule, client, state, found, "batch_failed", latest, batch_id)
        )
        chunk.supersede.extend(live_confirming_ids(rule.session, state.trade_id))
        cause = "finality_revoked" if found.send == Send.REVOCATION else "batch_failed"
        chunk.affected[cause].append(affected_entry(latest, client))
        move(state, found)
    return chunk


def closing_plans(
    rule: Rule, batch_id: str, affected: dict[str, list[dict[str, Any]]]
) -> list[NoticePlan]:
    """After the last trade: a failed batch's escalations, one per cause, listing all."""
    return [
        escalation_plan(
            rule.runtime,
            cause=cause,
            key=batch_id,
            event_id=rule.event_id,
            affected=entries,
            batch_id=batch_id,
            reason=rule.body["reason"],
        )
        for cause, entries in affected.items()
        if entries  # a revocation goes to compliance as its own escalation
    ]


def _delayed_trades(
    rule: Rule, batch: dict[str, Any], after: str | None, limit: int | None
) -> Chunk:
    data = rule.body["batch"]
    rolled = data.get("rolled_to_batch_id")
    to = rolled or data.get("new_value_date")
    target = rule.session.get(Batch, rolled) if rolled else None
    states, chunk = _trades_in_batch(
        rule, batch["batch_id"], (TradeStatus.PROVISIONAL,), after, limit
    )
    for state, latest, client in rule.confirmed(states):
        if rolled:
            state.batch_id = rolled
        if target is not None and target.status == BatchStatus.FINAL:
            # Rolled into a batch that is final already: the trade is final now.
            final = finalise(rule, state, latest, client, batch_data(target))
            chunk.plans.extend([final] if final else [])
            continue
        if step(state.status, Signal.DELAYED).send is None:
            continue
        chunk.plans.append(
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
    return chunk


_PLANNERS: dict[str, Callable[[Rule, dict[str, Any], str | None, int | None], Chunk]] = {
    "batch.final": _final_trades,
    "batch.failed": _failed_trades,
    "batch.delayed": _delayed_trades,
}


def fan_out(
    runtime: Runtime,
    event_pk: int,
    publish: Callable[[list[int]], None],
    chunk_trades: int | None = None,
) -> int:
    """Write the fan-out of ``event_pk`` chunk by chunk; return how many notices it wrote.

    Unfinished fan-outs of the same batch from earlier events are finished first, so a
    batch's events take effect in the order they were accepted. ``publish`` gets each
    chunk's notice ids after its commit, so delivery starts before the fan-out ends.
    """
    with runtime.db.session() as session:
        row = session.get(BatchFanout, event_pk)
        if row is None:
            return 0
        pending = list(
            session.scalars(
                select(BatchFanout.event_pk)
                .where(
                    BatchFanout.batch_id == row.batch_id,
                    BatchFanout.done_at.is_(None),
                    BatchFanout.event_pk <= event_pk,
                )
                .order_by(BatchFanout.event_pk)
            )
        )
    written, size = 0, chunk_trades or runtime.settings.fanout_chunk_trades
    pause = SQLITE_PAUSE_SECONDS if runtime.db.url.startswith("sqlite") else 0.0
    for pk in pending:
        for _ in range(MAX_CHUNKS):
            ids, done = run_chunk(runtime, pk, size)
            publish(ids)
            written += len(ids)
            if done:
                break
            time.sleep(pause)
    return written


def run_chunk(runtime: Runtime, event_pk: int, chunk_trades: int) -> tuple[list[int], bool]:
    """One transaction: the next ``chunk_trades`` trades; returns (notice ids, finished)."""
    with runtime.db.session() as session:
        row = session.get(BatchFanout, event_pk)
        if row is None or row.done_at is not None:
            return [], True
        # The batch's ordering lock first (as intake takes it), then our row afresh: a
        # second worker on the same fan-out waits here and then sees the moved cursor.
        session.get(Batch, row.batch_id, with_for_update=True, populate_existing=True)
        row = session.get(BatchFanout, event_pk, with_for_update=True, populate_existing=True)
        if row is None or row.done_at is not None:
            return [], True
        event = session.get(FinalityEvent, event_pk)
        assert event is not None  # the fan-out row's foreign key
        rule = Rule(session, runtime, event, event.body)
        chunk = plan_trades(rule, row.state["batch"], row.cursor, chunk_trades)
        state = _merged_state(row.state, chunk)
        plans = chunk.plans
        if chunk.exhausted:
            plans = plans + closing_plans(rule, row.batch_id, state["affected"])
        notices = write_plans(session, runtime, plans, event, "fan-out")
        now = runtime.clock()
        for notice_id in chunk.supersede:
            supersede_notice(
                session, notice_id, "fan-out", f"replaced by event {event.event_id}", at=now
            )
        state["plans"] += len(plans)
        row.state, row.cursor = state, chunk.last_trade_id
        row.notice_count += len(notices)
        row.updated_at = now
        if chunk.exhausted:
            row.done_at = now
            _settle_event(session, event, row)
        return [n.id for n in notices], chunk.exhausted


def _merged_state(state: dict[str, Any], chunk: Chunk) -> dict[str, Any]:
    affected = {k: list(v) for k, v in state.get("affected", {}).items()}
    for cause, entries in chunk.affected.items():
        affected.setdefault(cause, []).extend(entries)
    return dict(state) | {"affected": affected, "plans": state.get("plans", 0)}


def _settle_event(session: Session, event: FinalityEvent, row: BatchFanout) -> None:
    """The event's final status once its fan-out is done, as the inline path reports it."""
    if row.notice_count:
        status, reason = EventStatus.ACCEPTED, None
    elif row.state["plans"]:
        status, reason = EventStatus.STORED, "every notice it asks for was sent already"
    else:
        status, reason = EventStatus.STORED, empty_reason(event.type, row.batch_id)
    event.status, event.status_reason = status, reason
    ids = session.scalars(select(Notice.id).where(Notice.event_pk == event.id).order_by(Notice.id))
    event.response = dict(event.response or {}) | {
        "status": status,
        "reason": reason,
        "notice_ids": list(ids),
    }
