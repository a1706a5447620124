"""Unit tests of the event rules (intake/rules.py, trade_rules.py, batch_rules.py): each
event's Decision read straight from ``plan_event``, on a real database in-process, with no
HTTP, no broker and no worker. Earlier events go through ``accept_event`` so the notices a
rule looks back at are real rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from notifier.api.schemas.events import FinalityEventSchema
from notifier.config import load_settings
from notifier.intake.accept import accept_event
from notifier.intake.rules import plan_event
from notifier.models import Client, FinalityEvent, TradeState
from notifier.notices.kinds import SUPPORT_AUDIENCE, Decision
from notifier.runtime import Runtime
from notifier.states import EventStatus, TradeStatus
from tests.conftest import load_event, make_env

L2_TRADE = "T-20261124-0002"
L1_TRADE = "T-20261124-0001"
BATCH = "B-2026-11-24-PM"


@pytest.fixture
def rt(tmp_path: Path, db_url: str) -> Iterator[Runtime]:
    runtime = Runtime.from_settings(
        load_settings(make_env(tmp_path / "var", db_url, NOTIFIER_ENQUEUE="0"))
    )
    runtime.db.upgrade()
    with runtime.db.session() as session:
        session.add(Client(id="acme", name="Acme", timezone="America/New_York"))
        session.add(Client(id="globex", name="Globex"))
    yield runtime
    runtime.db.dispose()


def canonical(name: str, **changes: Any) -> dict[str, Any]:
    schema = FinalityEventSchema(amount_tolerance=1)
    body: dict[str, Any] = schema.dump(schema.load(load_event(name, **changes)))
    return body


def accept(runtime: Runtime, name: str, **changes: Any) -> list[int]:
    return accept_event(runtime, canonical(name, **changes)).notice_ids


def decide(runtime: Runtime, name: str, **changes: Any) -> Decision:
    """What the rules decide for event ``name``; the session is rolled back, nothing kept."""
    body = canonical(name, **changes)
    trade = body.get("trade") or {}
    with runtime.db.session() as session:
        event = FinalityEvent(
            event_id=body["event_id"],
            type=body["type"],
            status=EventStatus.ACCEPTED,
            body=body,
            body_hash="unit-test",  # never compared: the session is rolled back
            trade_id=trade.get("trade_id"),
            client_id=trade.get("client_id"),
            sequence=body.get("sequence"),
            occurred_at=datetime.fromisoformat(body["occurred_at"]),
            received_at=runtime.clock(),
        )
        session.add(event)
        session.flush()
        decision = plan_event(session, runtime, event, body)
        session.rollback()
    return decision


def kinds_of(decision: Decision) -> list[tuple[str, str | None]]:
    return [(p.kind, p.variant) for p in decision.plans]


def test_an_unknown_client_is_recorded_and_sent_nothing(rt: Runtime) -> None:
    trade = load_event("l1_final")["trade"] | {"client_id": "nobody"}
    decision = decide(rt, "l1_final", trade=trade)
    assert decision.status == EventStatus.UNKNOWN_CLIENT
    assert decision.plans == []


def test_an_execution_is_confirmed_once(rt: Runtime) -> None:
    decision = decide(rt, "trade_executed")
    assert kinds_of(decision) == [("execution_confirmation", None)]
    (plan,) = decision.plans
    assert plan.dedup_key == f"execution_confirmation:{plan.trade_id}"
    assert plan.deadline_at is not None
    accept(rt, "trade_executed")
    again = decide(rt, "trade_executed", event_id="evt-executed-again")
    assert again.status == EventStatus.STORED and again.plans == []


def test_l1_final_confirms_the_trade(rt: Runtime) -> None:
    decision = decide(rt, "l1_final")
    assert kinds_of(decision) == [("confirmation_l1", "final")]
    assert decision.plans[0].context["deadline_at"] is not None  # no execution notice before


def test_a_first_l2_trade_is_preceded_by_the_primer(rt: Runtime) -> None:
    decision = decide(rt, "l2_provisional")
    assert kinds_of(decision) == [("primer_l2", None), ("confirmation_l2", "provisional")]
    assert decision.plans[1].batch_id == BATCH


def test_batch_final_finalises_its_provisional_trades(rt: Runtime) -> None:
    accept(rt, "l2_provisional")
    decision = decide(rt, "batch_final")
    assert kinds_of(decision) == [("confirmation_l2", "final")]
    assert decision.plans[0].trade_id == L2_TRADE
    assert decision.plans[0].context["finality"]["status"] == "final"


def test_batch_final_with_no_provisional_trade_sends_nothing(rt: Runtime) -> None:
    decision = decide(rt, "batch_final")
    assert decision.status == EventStatus.STORED and decision.plans == []


def test_batch_failed_reverses_each_trade_and_tells_support(rt: Runtime) -> None:
    sent = accept(rt, "l2_provisional")
    decision = decide(rt, "batch_failed")
    assert kinds_of(decision) == [("reversal", "batch_failed"), ("escalation", "batch_failed")]
    reversal, escalation = decision.plans
    assert reversal.supersedes_id in sent
    assert escalation.client_id == SUPPORT_AUDIENCE
    assert escalation.context["counts"] == {"trades": 1, "clients": 1}
    assert set(decision.supersede) <= set(sent) and decision.supersede


def test_batch_failed_after_final_is_a_revocation(rt: Runtime) -> None:
    accept(rt, "l2_provisional")
    accept(rt, "batch_final")
    decision = decide(rt, "batch_failed", event_id="evt-batch-failed-late")
    kinds = kinds_of(decision)
    assert ("finality_revoked", "batch_failed") in kinds
    assert ("escalation", "finality_revoked") in kinds


def test_batch_delayed_tells_each_provisional_trade(rt: Runtime) -> None:
    accept(rt, "l2_provisional")
    decision = decide(rt, "batch_delayed")
    assert kinds_of(decision) == [("delay", None)]
    (plan,) = decision.plans
    assert plan.context["variant"] == "batch"
    assert plan.dedup_key.startswith(f"delay:{BATCH}:")
    assert plan.dedup_key.endswith(f":{L2_TRADE}")


def test_a_trade_delay_confirms_an_unknown_trade_first(rt: Runtime) -> None:
    body = load_event("l2_provisional")
    finality = body["finality"] | {"status": "delayed"}
    decision = decide(rt, "l2_provisional", event_id="evt-trade-delay", finality=finality)
    assert kinds_of(decision) == [("execution_confirmation", None), ("delay", "trade")]
    assert decision.plans[1].dedup_key == "delay:trade:evt-trade-delay"


def test_a_correction_replaces_the_confirmation(rt: Runtime) -> None:
    sent = accept(rt, "l1_final")
    decision = decide(rt, "trade_corrected")
    assert kinds_of(decision) == [("correction", None)]
    (plan,) = decision.plans
    assert plan.supersedes_id in sent
    assert plan.context["changes"], "a correction says what changed"
    assert decision.supersede == sent


def test_a_correction_to_another_client_voids_the_old_clients_confirmation(
    rt: Runtime,
) -> None:
    accept(rt, "l1_final")
    trade = load_event("trade_corrected")["trade"] | {"client_id": "globex"}
    decision = decide(rt, "trade_corrected", trade=trade)
    assert kinds_of(decision) == [("correction", None), ("cancellation", "reallocated")]
    correction, cancellation = decision.plans
    assert (correction.client_id, cancellation.client_id) == ("globex", "acme")
    assert correction.context["reallocated"] is True
    assert "account" not in correction.context["changed_fields"]


def test_a_cancellation_voids_the_confirmation(rt: Runtime) -> None:
    sent = accept(rt, "l1_final")
    decision = decide(rt, "trade_cancelled")
    assert kinds_of(decision) == [("cancellation", None)]
    assert decision.plans[0].supersedes_id in sent


def test_a_correction_without_a_confirmation_is_only_stored(rt: Runtime) -> None:
    decision = decide(rt, "trade_corrected")
    assert decision.status == EventStatus.STORED and decision.plans == []


def test_a_cancelled_trade_is_told_nothing_more(rt: Runtime) -> None:
    accept(rt, "l1_final")
    accept(rt, "trade_cancelled")
    decision = decide(rt, "trade_corrected")
    assert decision.status == EventStatus.STORED and decision.plans == []
    with rt.db.session() as session:
        assert _status(session, L1_TRADE) == TradeStatus.CANCELLED


def _status(session: Session, trade_id: str) -> str | None:
    state = session.get(TradeState, trade_id)
    return state.status if state else None
