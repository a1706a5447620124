"""Notice kinds and their plan builders: what a rule decides to send, as a plan.

The ``KINDS`` registry is the one list of kinds, and every plan is built here, one
builder per kind (``BUILDERS``): a rule decides *what* happens, a builder builds *the
plan* (its dedup key, what it supersedes, its template context). A plan is only a
decision; :mod:`notifier.notices.outbox` writes plans in the event's transaction. The
context pieces the builders share are in :mod:`notifier.notices.contexts`; their shapes
are documented in ``docs/notice-contexts.md``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from notifier.models import Client, Notice
from notifier.notices.contexts import (
    affected_counts,
    base_context,
    deadline_for,
    original_ref,
    trade_changes,
    with_cycle_label,
)
from notifier.runtime import Runtime
from notifier.states import EventStatus

SUPPORT_AUDIENCE = "@support"  # the client_id of notices addressed to the support team


@dataclass(frozen=True)
class NoticeKind:
    """One kind of notice: its templates live in ``templates/<name>/``.

    The registry below is the one list of kinds: the API's filters, the template check
    (tests/test_kinds.py) and the tests' samples derive from it. A new kind is its
    templates, an entry here and its one plan builder in ``BUILDERS``.
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
    # The per-trade notices are left to the worker's fan-out (notices/batch_fanout.py).
    deferred: bool = False

    @classmethod
    def stored(cls, reason: str) -> Decision:
        return cls(status=EventStatus.STORED, reason=reason)


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


def delay_plan(
    runtime: Runtime,
    client: Client,
    event_id: str,
    *,
    scope: str,
    trade_id: str,
    trade: dict[str, Any],
    latest: Notice | None,
    batch: dict[str, Any] | None,
    reason: dict[str, Any] | None,
    expected_final_by: str | None = None,
    rolled_to: str | None = None,
) -> NoticePlan:
    """Plan a delay of one trade, said of the trade itself or of its batch (``scope``).

    A trade-level delay is keyed by its event; a batch-level one by the batch and where
    it went (``rolled_to``: the next batch or the new value date), once per trade. The
    notice shows the trade as the client last saw it.
    """
    context = base_context(runtime, client, event_id) | {
        "variant": scope,
        "trade": latest.context["trade"] if latest else trade,
        "batch": batch,
        "expected_final_by": expected_final_by,
        "reason": reason,
        "original": original_ref(latest),
    }
    batch_id = batch["batch_id"] if batch else None
    by_trade = scope == "trade"
    return NoticePlan(
        kind="delay",
        variant="trade" if by_trade else None,
        client_id=client.id,
        trade_id=trade_id,
        batch_id=batch_id,
        context=context,
        dedup_key=f"delay:trade:{event_id}"
        if by_trade
        else f"delay:{batch_id}:{rolled_to}:{trade_id}",
    )


def correction_plan(
    runtime: Runtime,
    client: Client,
    event_id: str,
    *,
    trade: dict[str, Any],
    original: Notice,
    finality: dict[str, Any] | None,
    finality_reversed: bool,
) -> NoticePlan:
    """Plan the correction of ``original``: the trade's new details, old -> new.

    ``finality`` is the block to show (None when the trade's finality was reversed).
    """
    reallocated = original.client_id != client.id
    old_trade = original.context.get("trade") or {}
    # Another client's identifiers are not this client's business: a trade moved to
    # them shows its own account, not the one it left.
    hidden = {"client_id"} | ({"account"} if reallocated else set())
    changes = [c for c in trade_changes(old_trade, trade) if c["field"] not in hidden]
    context = base_context(runtime, client, event_id) | {
        "trade": trade,
        "original": original_ref(original),
        "finality": with_cycle_label(finality, trade, runtime) if finality else None,
        "finality_reversed": finality_reversed,
        "reallocated": reallocated,
        "changed_fields": [c["field"] for c in changes],
        "changes": changes,
    }
    return NoticePlan(
        kind="correction",
        client_id=client.id,
        trade_id=trade["trade_id"],
        batch_id=original.batch_id,
        dedup_key=f"correction:{event_id}:{client.id}",
        context=context,
        supersedes_id=original.id,
        deadline_at=deadline_for(runtime, client, trade),
    )


def cancellation_plan(
    runtime: Runtime,
    client: Client,
    event_id: str,
    *,
    trade_id: str,
    original: Notice,
    reason: dict[str, Any],
    variant: str,
) -> NoticePlan:
    """Plan voiding ``original`` (``variant`` cancelled or reallocated): the notice shows
    the figures of the confirmation it voids."""
    context = base_context(runtime, client, event_id) | {
        "variant": variant,
        "trade": original.context["trade"],
        "reason": reason if reason.get("text") else None,
        "original": original_ref(original),
    }
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


def copy_plan(original: Notice, first: int, number: int) -> NoticePlan:
    """Plan copy ``number`` of a sent notice, of any kind: its context, marked COPY.

    ``first`` is the notice copies are numbered from (copies of copies point at it).
    """
    return NoticePlan(
        kind=original.kind,
        variant=original.variant,
        client_id=original.client_id,
        trade_id=original.trade_id,
        batch_id=original.batch_id,
        dedup_key=f"resend:{first}:{number}",
        context=copy.deepcopy(original.context) | {"copy": True},
        resend_of_id=first,
    )


# A status event to a producer's webhook is not a client notice kind either: it has no
# templates, its payload is the message (notices/status_events.py, docs/webhooks.md).
STATUS_KIND = "status_event"


def status_plan(
    audience: str, event_type: str, data: dict[str, Any], payload: dict[str, Any], change: str
) -> NoticePlan:
    """Plan one status event for the webhook ``audience`` (``@status:<name>``)."""
    name = audience.split(":", 1)[-1]
    return NoticePlan(
        kind=STATUS_KIND,
        variant=event_type,
        client_id=audience,
        trade_id=data.get("trade_id"),
        dedup_key=f"status:{name}:{event_type}:{data.get('notice_id')}:{change}",
        context={"event_id": data.get("event_id"), "payload": payload},
    )


# Each registered kind's one builder; tests/test_kinds.py holds this to KINDS. A copy
# (copy_plan) is not a kind of its own: it repeats a notice of any kind.
BUILDERS: dict[str, Callable[..., NoticePlan]] = {
    "confirmation_l1": confirmation_plan,
    "confirmation_l2": confirmation_plan,
    "primer_l2": primer_plan,
    "reversal": failure_plan,
    "delay": delay_plan,
    "correction": correction_plan,
    "cancellation": cancellation_plan,
    "escalation": escalation_plan,
    "execution_confirmation": execution_plan,
    "finality_revoked": failure_plan,
}
