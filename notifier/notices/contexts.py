"""Template contexts the plan builders in :mod:`notifier.notices.kinds` share.

What a notice says about its trade, finality, the notice it refers to and the people
affected; the shapes are documented in ``docs/notice-contexts.md``.
"""

from __future__ import annotations

import copy
import logging
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import object_session

from notifier.calendar import confirmation_deadline, cycle_label
from notifier.models import Client, Delivery, Notice
from notifier.runtime import Runtime
from notifier.states import DeliveryStatus

log = logging.getLogger(__name__)


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


def affected_counts(affected: list[dict[str, Any]]) -> dict[str, int]:
    return {
        "trades": len({a["trade_id"] for a in affected if a.get("trade_id")}),
        "clients": len({a["client_id"] for a in affected}),
    }


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
