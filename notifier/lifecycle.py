"""What each finality event sends: the rules of DESIGN.md's "What each event sends" table.

``plan_event`` reads an accepted event and returns the notices it should produce. It
only plans; :mod:`notifier.intake` writes the plans in the event's transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from notifier.finality import cycle_label
from notifier.models import Client, FinalityEvent
from notifier.runtime import Runtime


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
    deadline_at: datetime | None = None


@dataclass
class Decision:
    """The event's recorded status and the notices it sends."""

    status: str = "accepted"
    reason: str | None = None
    plans: list[NoticePlan] = field(default_factory=list)


def _firm(runtime: Runtime) -> dict[str, str]:
    s = runtime.settings
    return {"name": s.firm_name, "support_url": s.support_url}


def _client_view(client: Client) -> dict[str, str]:
    return {"id": client.id, "name": client.name}


def finality_view(body: dict[str, Any], runtime: Runtime) -> dict[str, Any]:
    """Return the finality block with the T+N label filled in when the producer left it out."""
    finality = dict(body.get("finality") or {})
    trade = body.get("trade") or {}
    if "cycle_label" not in finality and finality.get("final_at") and trade.get("executed_at"):
        finality["cycle_label"] = cycle_label(
            datetime.fromisoformat(trade["executed_at"]),
            datetime.fromisoformat(finality["final_at"]),
            runtime.calendar,
        )
    return finality


def confirmation_context(
    body: dict[str, Any], client: Client, runtime: Runtime, event: FinalityEvent
) -> dict[str, Any]:
    return {
        "firm": _firm(runtime),
        "client": _client_view(client),
        "event_id": event.event_id,
        "trade": body["trade"],
        "finality": finality_view(body, runtime),
        "copy": False,
    }


def _trade_finality(
    session: Session, runtime: Runtime, event: FinalityEvent, body: dict[str, Any], client: Client
) -> Decision:
    finality = body["finality"]
    trade_id = body["trade"]["trade_id"]
    layer, status = finality["layer"], finality["status"]
    context = confirmation_context(body, client, runtime, event)
    if layer == "L1" and status == "final":
        return Decision(
            plans=[
                NoticePlan(
                    kind="confirmation_l1",
                    variant="final",
                    client_id=client.id,
                    trade_id=trade_id,
                    dedup_key=f"confirmation_l1:final:{trade_id}",
                    context=context,
                )
            ]
        )
    if layer == "L2" and status in {"provisional", "final"}:
        batch_id = finality["l2"]["batch_id"]
        return Decision(
            plans=[
                NoticePlan(
                    kind="confirmation_l2",
                    variant=status,
                    client_id=client.id,
                    trade_id=trade_id,
                    batch_id=batch_id,
                    dedup_key=f"confirmation_l2:{status}:{trade_id}",
                    context=context,
                )
            ]
        )
    return Decision(status="stored", reason=f"{layer} {status}: recorded, nothing to send")


Handler = Callable[[Session, Runtime, FinalityEvent, dict[str, Any], Client], Decision]

# Trade events need a known client; batch events find their clients through notices.
TRADE_RULES: dict[str, Handler] = {
    "trade.finality": _trade_finality,
}


def plan_event(
    session: Session, runtime: Runtime, event: FinalityEvent, body: dict[str, Any]
) -> Decision:
    """Decide what ``event`` sends."""
    trade = body.get("trade")
    if trade is not None:
        client = session.scalar(select(Client).where(Client.id == trade["client_id"]))
        if client is None:
            return Decision(
                status="unknown_client", reason=f"client {trade['client_id']} is not registered"
            )
        rule = TRADE_RULES.get(event.type)
        if rule is None:
            return Decision(status="stored", reason=f"{event.type}: recorded, nothing to send")
        return rule(session, runtime, event, body, client)
    return Decision(status="stored", reason=f"{event.type}: recorded, nothing to send")
