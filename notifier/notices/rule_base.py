"""What every rule module shares: the event being decided, and the trade's notices.

A rule only reads and updates trade / batch state and returns plans; the trade's
state machine is :mod:`notifier.notices.transitions`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from notifier.models import Batch, Client, FinalityEvent, Notice, TradeState
from notifier.notices.kinds import CONFIRMING_KINDS, NoticePlan, failure_plan
from notifier.notices.transitions import Send, Step
from notifier.runtime import Runtime
from notifier.states import NoticeStatus


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


# Session.info key: trade ids whose first event this transaction is taking (intake's
# ordering step creates their state); no notice can name them yet.
NEW_TRADES = "notifier.new_trades"

# Built once: in intake, composing a statement cost more CPU than SQLite took to run it.
_LATEST_CONFIRMING = (
    select(Notice)
    .where(
        Notice.trade_id == bindparam("trade_id"),
        Notice.kind.in_(bindparam("kinds", expanding=True)),
    )
    .order_by(Notice.id.desc())
    .limit(1)
)


def latest_confirming(
    session: Session, trade_id: str, kinds: tuple[str, ...] = CONFIRMING_KINDS
) -> Notice | None:
    """Return the newest confirmation (or correction) sent for a trade."""
    if trade_id in session.info.get(NEW_TRADES, ()):
        return None
    return session.scalar(_LATEST_CONFIRMING, {"trade_id": trade_id, "kinds": list(kinds)})


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


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def move(state: TradeState, found: Step) -> None:
    if found.status is not None:
        state.status = found.status


def plan_failure(
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
