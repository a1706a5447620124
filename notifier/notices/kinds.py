"""Notice plans: what a rule decides to send, and the template contexts it sends them with.

A plan is only a decision; :mod:`notifier.intake.accept` writes plans in the event's transaction.
The context shapes are documented in ``docs/notice-contexts.md``.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import object_session

from notifier.calendar import confirmation_deadline, cycle_label
from notifier.models import Client, Delivery, Notice
from notifier.runtime import Runtime
from notifier.states import DeliveryStatus, EventStatus

SUPPORT_AUDIENCE = "@support"  # the client_id of notices addressed to the support team


@dataclass(frozen=True)
class NoticeKind:
    """One kind of notice: its templates live in ``templates/<name>/``.

    The registry below is the one list of kinds: the API's filters, the template check
    (tests/test_kinds.py) and the tests' samples derive from it. A new kind is its
    templates, an entry here and its plan builder.
    """

    name: str
    what: str
    # Confirms a trade to its client; the newest one is what a later notice refers to.
    confirming: bool = False
    audience: str = "client"  # or "support"


KINDS: dict[str, NoticeKind] = {
    kind.name: kind
    for kind in (
        NoticeKind("confirmation_l1", "the trade is final on Layer-1", confirming=True),
        NoticeKind("confirmation_l2", "provisional or final in a Layer-2 batch", confirming=True),
        NoticeKind("primer_l2", "what Layer-2 finality means, before a client's first L2 trade"),
        NoticeKind("reversal", "a Layer-2 batch failed: what happens to the trade"),
        NoticeKind("delay", "finality comes later than announced: the new window"),
        NoticeKind("correction", "the trade's details changed: old -> new", confirming=True),
        NoticeKind("cancellation", "a confirmation is void: the trade is cancelled or moved"),
        NoticeKind("escalation", "support must act: failures, deadlines", audience="support"),
        NoticeKind("execution_confirmation", "the trade was executed", confirming=True),
        NoticeKind("finality_revoked", "a final Layer-2 batch was revoked"),
    )
}
CONFIRMING_KINDS = tuple(name for name, kind in KINDS.items() if kind.confirming)

log = logging.getLogger(__name__)


@dataclass
class NoticePlan:
    kind: str
    client_id: str
    dedup_key: str
    context: dict[str, Any]
    variant: str | None = None
    trade_id: str | None = None
    batch_id: str | None = None
    supersedes_id: int | None = None
    resend_of_id: int | None = None
    deadline_at: datetime | None = None

    @property
    def for_support(self) -> bool:
        return self.client_id == SUPPORT_AUDIENCE


@dataclass
class Decision:
    """The event's recorded status, the notices it sends and the notices it supersedes."""

    status: str = EventStatus.ACCEPTED
    reason: str | None = None
    plans: list[NoticePlan] = field(default_factory=list)
    supersede: list[int] = field(default_factory=list)

    @classmethod
    def stored(cls, reason: str) -> Decision:
        return cls(status=EventStatus.STORED, reason=reason)


def base_context(runtime: Runtime, client: Client | None, event_id: str) -> dict[str, Any]:
    settings = runtime.settings
    who = {"id": client.id, "name": client.name} if client else {"id": "support", "name": "Support"}
    return {
        "firm": {"name": settings.firm_name, "support_url": settings.support_url},
        "client": who,
        "event_id": event_id,
        "copy": False,
    }


def with_cycle_label(
    finality: dict[str, Any], trade: dict[str, Any], runtime: Runtime
) -> dict[str, Any]:
    """Return the finality block with T+N computed from the venue's calendar.

    The client is shown the computed label. A label the producer sent is kept as
    ``producer_cycle_label`` and ``cycle_label_mismatch`` says whether it disagreed, for
    support (docs/events.md, "T+N"). ``final_on`` is the venue business day of finality.
    """
    finality = dict(finality)
    if not (finality.get("final_at") and trade.get("trade_date")):
        return finality
    calendar = runtime.calendar.for_venue(trade.get("venue_mic"))
    final_at = datetime.fromisoformat(finality["final_at"])
    trade_date = date.fromisoformat(trade["trade_date"])
    # A block computed before (a correction re-uses the confirmation's) holds the
    # producer's label aside; its cycle_label is ours and must not pass for theirs.
    computed_before = "cycle_label_mismatch" in finality
    producer = finality.get("producer_cycle_label" if computed_before else "cycle_label")
    finality.pop("producer_cycle_label", None)
    computed = cycle_label(trade_date, final_at, calendar)
    finality["cycle_label"] = computed
    finality["cycle_calendar"] = calendar.code
    finality["final_on"] = calendar.on_or_after(calendar.local_date(final_at)).isoformat()
    finality["cycle_label_mismatch"] = bool(producer) and producer != computed
    if producer:
        finality["producer_cycle_label"] = producer
    if finality["cycle_label_mismatch"]:
        log.warning(
            "trade %s: producer cycle label %s, computed %s (%s calendar)",
            trade.get("trade_id"),
            producer,
            computed,
            calendar.code,
        )
    return finality


def original_ref(notice: Notice | None) -> dict[str, Any] | None:
    """Name a notice as the client saw it: its subject and the date it was issued, or that
    it never went out. ``notice_id`` and ``event_id`` are for machines; templates do not
    print them (the client never saw either).

    The row is locked first: a worker may be sending the notice this very moment, and
    what the reference says must match whether it went out (a replaced notice's unsent
    deliveries are skipped in this same transaction).
    """
    if notice is None:
        return None
    session = object_session(notice)
    went_out = False
    if session is not None:
        session.refresh(notice, with_for_update=True)
        went_out = bool(session.scalar(_WENT_OUT, {"notice_id": notice.id}))
    sent = went_out and notice.subject is not None and notice.rendered_at is not None
    return {
        "notice_id": notice.id,
        "event_id": notice.event.event_id if notice.event else None,
        "trade_id": notice.trade_id,
        "sent": sent,
        "subject": notice.subject if sent else None,
        "sent_at": notice.rendered_at.isoformat() if sent and notice.rendered_at else None,
    }


# Sent, or on the wire now (a replaced notice's attempt in flight is not called back).
_WENT_OUT = select(func.count(Delivery.id)).where(
    Delivery.notice_id == bindparam("notice_id"),
    Delivery.status.in_((DeliveryStatus.SENT, DeliveryStatus.SENDING)),
)


def deadline_for(runtime: Runtime, client: Client, trade: dict[str, Any]) -> datetime:
    """Return the client's confirmation deadline, in the trade venue's calendar."""
    return confirmation_deadline(
        client.regime,
        datetime.fromisoformat(trade["executed_at"]),
        date.fromisoformat(trade["settlement_date"]),
        runtime.calendar.for_venue(trade.get("venue_mic")),
    )


def execution_plan(
    runtime: Runtime, client: Client, event_id: str, trade: dict[str, Any]
) -> NoticePlan:
    """Plan the execution confirmation (FIX AK): sent whatever the lane, with its deadline."""
    deadline = deadline_for(runtime, client, trade)
    context = base_context(runtime, client, event_id) | {
        "trade": trade,
        "deadline_at": deadline.isoformat(),
    }
    return NoticePlan(
        kind="execution_confirmation",
        client_id=client.id,
        trade_id=trade["trade_id"],
        dedup_key=f"execution_confirmation:{trade['trade_id']}",
        context=context,
        deadline_at=deadline,
    )


def confirmation_plan(
    runtime: Runtime,
    client: Client,
    event_id: str,
    trade: dict[str, Any],
    finality: dict[str, Any],
    execution: Notice | None = None,
) -> NoticePlan:
    """Plan the L1 or L2 (provisional / final) settlement-status confirmation of one trade.

    ``execution`` is the execution confirmation it follows, which it names.
    """
    finality = with_cycle_label(finality, trade, runtime)
    layer, status = finality["layer"], finality["status"]
    kind = "confirmation_l1" if layer == "L1" else "confirmation_l2"
    batch_id = (finality.get("l2") or {}).get("batch_id")
    deadline = deadline_for(runtime, client, trade)
    context = base_context(runtime, client, event_id) | {
        "trade": trade,
        "finality": finality,
        "execution": original_ref(execution),
        # Without an execution confirmation this is the trade's confirmation: it asks
        # the client to check it and report discrepancies by the deadline.
        "deadline_at": None if execution else deadline.isoformat(),
    }
    return NoticePlan(
        kind=kind,
        variant=status,
        client_id=client.id,
        trade_id=trade["trade_id"],
        batch_id=batch_id,
        dedup_key=f"{kind}:{status}:{trade['trade_id']}",
        context=context,
        deadline_at=deadline,
    )


def finalised_context(
    previous: dict[str, Any],
    runtime: Runtime,
    event_id: str,
    batch: dict[str, Any],
    value_date: str | None = None,
) -> dict[str, Any]:
    """Turn a provisional L2 confirmation's context into the final one for ``batch``.

    A trade rolled to another batch settles in that batch's window, on the new value
    date the delay announced (``value_date``).
    """
    context = copy.deepcopy(previous)
    finality = context["finality"]
    finality["status"] = "final"
    finality["final_at"] = batch["final_at"]
    finality.pop("cycle_label", None)
    finality.pop("expected_final_by", None)
    if finality["l2"]["batch_id"] != batch["batch_id"]:
        finality["l2"].pop("batch_window_start", None)  # the old batch's window
    if value_date:
        context["trade"] = dict(context["trade"], settlement_date=value_date)
    finality["l2"]["batch_id"] = batch["batch_id"]
    finality["l2"]["batch_end_at"] = batch["batch_end_at"]
    context["finality"] = with_cycle_label(finality, context["trade"], runtime)
    context["event_id"] = event_id
    context["copy"] = False
    return context


def primer_plan(runtime: Runtime, client: Client, event_id: str) -> NoticePlan:
    """Plan the L1-vs-L2 primer that precedes a client's first Layer-2 notice (once)."""
    settings = runtime.settings
    context = base_context(runtime, client, event_id) | {
        "links": {
            "explainer": settings.primer_explainer_url,
            "announcement": settings.primer_announcement_url,
        }
    }
    return NoticePlan(
        kind="primer_l2", client_id=client.id, dedup_key=f"primer_l2:{client.id}", context=context
    )


def escalation_plan(
    runtime: Runtime,
    *,
    cause: str,
    key: str,
    event_id: str,
    affected: list[dict[str, Any]],
    batch_id: str | None = None,
    reason: dict[str, Any] | None = None,
    deadline_at: datetime | None = None,
) -> NoticePlan:
    """Plan one escalation to the support team; ``key`` makes it unique."""
    context = base_context(runtime, None, event_id) | {
        "cause": cause,
        "batch": {"batch_id": batch_id} if batch_id else None,
        "reason": reason,
        "affected": affected,
        "counts": affected_counts(affected),
        "deadline_at": deadline_at.isoformat() if deadline_at else None,
    }
    return NoticePlan(
        kind="escalation",
        variant=cause,
        client_id=SUPPORT_AUDIENCE,
        batch_id=batch_id,
        dedup_key=f"escalation:{cause}:{key}",
        context=context,
    )


def affected_counts(affected: list[dict[str, Any]]) -> dict[str, int]:
    return {
        "trades": len({a["trade_id"] for a in affected if a.get("trade_id")}),
        "clients": len({a["client_id"] for a in affected}),
    }


def failure_plan(
    runtime: Runtime,
    client: Client,
    event_id: str,
    *,
    kind: str,
    variant: str,
    trade: dict[str, Any],
    latest: Notice | None,
    batch_id: str | None,
    failure: dict[str, Any],
) -> NoticePlan:
    """Plan a reversal, or a finality revocation (``kind``), of one trade.

    ``failure`` holds what the event said: ``reason`` and ``outcome`` (contract v1.1).
    """
    context = base_context(runtime, client, event_id) | {
        "variant": variant,
        "trade": trade,
        "finality": latest.context.get("finality") if latest else None,
        "batch": {"batch_id": batch_id} if batch_id else None,
        "reason": failure.get("reason"),
        "outcome": failure.get("outcome"),
        "original": original_ref(latest),
    }
    return NoticePlan(
        kind=kind,
        variant=variant,
        client_id=client.id,
        trade_id=trade["trade_id"],
        batch_id=batch_id,
        dedup_key=f"{kind}:{trade['trade_id']}",
        context=context,
        supersedes_id=latest.id if latest else None,
    )


def trade_changes(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    """List each trade key that differs, with its old and new value (sorted by key)."""
    return [
        {"field": key, "old": old.get(key), "new": new.get(key)}
        for key in sorted(set(old) | set(new))
        if old.get(key) != new.get(key)
    ]


def affected_entry(notice: Notice, client: Client | None) -> dict[str, Any]:
    return {
        "client_id": notice.client_id,
        "client_name": client.name if client else notice.client_id,
        "trade_id": notice.trade_id,
        "notice_id": notice.id,
    }
