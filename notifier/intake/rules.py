"""What each finality event sends: DESIGN.md's "What each event sends", as a rule table.

``plan_event`` reads an accepted event and returns a :class:`Decision`: the event's
status, the notices to send and the notices they supersede. Each event becomes a signal
per trade; :mod:`notifier.notices.transitions` decides from the trade's status what it sends, so
the arrival order does not matter. Rules only read and update trade / batch state;
:mod:`notifier.intake.accept` writes the plans in the event's transaction. Every plan carries a
dedup key, so however often events arrive, a notice goes out once.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from notifier.intake.batch_rules import BATCH_RULES
from notifier.intake.trade_rules import TRADE_RULES
from notifier.models import Client, FinalityEvent, TradeState
from notifier.notices.kinds import Decision
from notifier.notices.rule_base import Rule
from notifier.runtime import Runtime
from notifier.states import EventStatus, TradeStatus


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
