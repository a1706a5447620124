"""Rules for batch events: a Layer-2 batch final, failed (or revoked after final) or delayed.

Here the event's batch state change is recorded under the batch's ordering lock. Batch
events find their clients through the trades in the batch; what each trade sends (as
:mod:`notifier.notices.transitions` allows) is planned by :mod:`notifier.notices.batch_fanout`,
which the worker also runs.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from notifier.models import Batch
from notifier.notices.batch_fanout import batch_data, defer, plan_all
from notifier.notices.kinds import Decision
from notifier.notices.rule_base import Rule
from notifier.states import BatchStatus


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


def _fan_out(rule: Rule, batch: Batch) -> Decision:
    """Plan the batch's trades now, or leave them to the worker when work is enqueued.

    Without a broker (tests, the replay tool) the notices are written in the event's
    transaction as before; with one, the POST answers once the event and the batch's
    state are stored and the worker writes the notices in chunks (issue 8).
    """
    data = batch_data(batch)
    if rule.runtime.settings.enqueue:
        return defer(rule, data)
    return plan_all(rule, data)


def _batch_final(rule: Rule) -> Decision:
    batch, previous = _record_batch(rule, BatchStatus.FINAL)
    if previous in (BatchStatus.FAILED, BatchStatus.REVOKED):
        return Decision.stored(f"batch {batch.batch_id} was reported failed before; not final")
    return _fan_out(rule, batch)


def _batch_failed(rule: Rule) -> Decision:
    batch, _ = _record_batch(rule, BatchStatus.FAILED)
    return _fan_out(rule, batch)


def _batch_delayed(rule: Rule) -> Decision:
    batch, _ = _record_batch(rule, BatchStatus.DELAYED)
    return _fan_out(rule, batch)


BatchHandler = Callable[[Rule], Decision]

BATCH_RULES: dict[str, BatchHandler] = {
    "batch.final": _batch_final,
    "batch.failed": _batch_failed,
    "batch.delayed": _batch_delayed,
}
