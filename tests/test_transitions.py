"""The per-trade state machine: the table itself, arrival order, and issue 7's done-whens."""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from notifier.models import Batch, Notice, TradeState
from notifier.notices.escalation import escalate_at_risk
from notifier.notices.transitions import TRANSITIONS, Send, Signal, step
from notifier.runtime import Runtime
from notifier.states import BatchStatus, TradeStatus
from notifier.tools.replay import FixedClock, replay_lines
from notifier.worker import pipeline
from tests.conftest import ADMIN, DATABASES, PRODUCER, SUPPORT, load_event

STATUSES: list[TradeStatus | None] = [None, *TradeStatus]


@pytest.mark.parametrize("signal", list(Signal))
@pytest.mark.parametrize("status", STATUSES)
def test_every_status_and_signal_has_an_answer(status: TradeStatus | None, signal: Signal) -> None:
    found = step(status, signal)
    assert (found.send is None) == (found.why_not is not None)
    if status == TradeStatus.CANCELLED:
        assert found.send is None, "a cancelled trade is never told anything again"


def test_finality_taken_back_after_final_is_a_revocation() -> None:
    assert step(TradeStatus.FINAL, Signal.REVERTED).send == Send.REVOCATION
    assert step(TradeStatus.FINAL, Signal.REVERTED).status == TradeStatus.REVOKED
    for pending in (None, TradeStatus.EXECUTED, TradeStatus.PROVISIONAL):
        assert step(pending, Signal.REVERTED).send == Send.REVERSAL
    assert step(TradeStatus.FINAL, Signal.PROVISIONAL).send is None
    assert step(TradeStatus.REVERTED, Signal.PROVISIONAL).send is None
    # A reversal with a Layer-1 fallback may still end final.
    assert step(TradeStatus.REVERTED, Signal.FINAL).status == TradeStatus.FINAL


def test_the_table_only_names_real_states() -> None:
    for (status, signal), found in TRANSITIONS.items():
        assert status is None or status in TradeStatus
        assert signal in Signal
        assert found.status is None or found.status in TradeStatus


# --- arrival order, with and without sequence, through the real intake ----------------

CLIENT = {"client": {"client_id": "acme", "name": "Acme", "timezone": "America/New_York"}}


def _events(with_sequence: bool) -> list[dict[str, Any]]:
    executed = load_event("trade_executed")
    provisional = load_event("l2_provisional")
    trade = provisional["trade"]
    executed["trade"] = dict(trade, regulatory=executed["trade"]["regulatory"])
    final = load_event("batch_final")
    events = [executed, provisional, final]
    for number, event in enumerate(events):
        event.pop("sequence", None)
        if with_sequence and event["type"] != "batch.final":
            event["sequence"] = number
    return events


def _replay(events: list[dict[str, Any]], database_url: str | None) -> str:
    lines = [json.dumps(CLIENT), *(json.dumps(e) for e in events), '{"show": "state"}']
    return replay_lines(lines, database_url)


@pytest.mark.parametrize("database", DATABASES)
@pytest.mark.parametrize("with_sequence", [True, False], ids=["sequence", "no-sequence"])
def test_any_arrival_order_ends_final_with_one_final_confirmation(
    database: str, with_sequence: bool, request: pytest.FixtureRequest
) -> None:
    fresh: Callable[[], str | None] = lambda: None  # noqa: E731  # a temporary SQLite file
    if database == "postgresql":
        fresh = request.getfixturevalue("postgres_schema_factory")
    for order in itertools.permutations(_events(with_sequence)):
        report = _replay(list(order), fresh())
        assert "- trade T-20261124-0002: final batch=B-2026-11-24-PM" in report, report
        assert report.count("confirmation_l2/final") == 1, report


# --- done-when 2: an executed trade is confirmed at once; unconfirmed ones escalate ---


def _register(client: FlaskClient, channels: list[dict[str, str]] | None = None) -> None:
    body: dict[str, Any] = {"name": "Acme", "timezone": "America/New_York", "regime": "US"}
    body["channels"] = channels or []
    assert client.put("/v1/clients/acme", json=body, headers=ADMIN).status_code == 201


def test_trade_executed_for_an_l1_trade_confirms_at_once(app: Flask, runtime: Runtime) -> None:
    client = app.test_client()
    _register(client)
    response = client.post("/v1/events", json=load_event("trade_executed"), headers=PRODUCER)
    assert response.status_code == 202, response.json
    (notice_id,) = response.json["notice_ids"]
    with app.app_context():
        pipeline.process_notices(runtime, [notice_id])
    with runtime.db.session() as session:
        notice = session.get(Notice, notice_id)
        assert notice is not None and notice.kind == "execution_confirmation"
        assert notice.deadline_at == datetime.fromisoformat("2026-11-26T00:00:00-05:00")
        assert notice.body_text and "5493001KJTIIGC8Y1R12" in notice.body_text
        assert "report any discrepancy to us by" in notice.body_text
    final = load_event("l1_final")
    final["trade"]["trade_id"] = load_event("trade_executed")["trade"]["trade_id"]
    response = client.post("/v1/events", json=final, headers=PRODUCER)
    (final_id,) = response.json["notice_ids"]
    with runtime.db.session() as session:
        settlement = session.get(Notice, final_id)
        assert settlement is not None and settlement.kind == "confirmation_l1"
        assert settlement.context["execution"]["notice_id"] == notice_id


def test_an_executed_trade_without_a_confirmation_escalates_at_its_deadline(
    app: Flask, runtime: Runtime
) -> None:
    clock = FixedClock(datetime.fromisoformat("2026-11-25T15:00:00+00:00"))
    runtime.clock = clock
    client = app.test_client()
    _register(client)
    failed = load_event("l1_final", event_id="evt-l1-failed")
    failed["finality"] = {"layer": "L1", "status": "failed"}
    failed["reason"] = {"code": "DK", "text": "The counterparty did not know the trade."}
    assert client.post("/v1/events", json=failed, headers=PRODUCER).status_code == 202
    with runtime.db.session() as session:
        state = session.get(TradeState, failed["trade"]["trade_id"])
        assert state is not None and state.deadline_at is not None
        deadline = state.deadline_at
        kinds = set(session.scalars(select(Notice.kind)))
    assert "execution_confirmation" not in kinds  # only the reversal and its escalation
    clock.now = deadline - timedelta(hours=5)
    assert escalate_at_risk(runtime) == []
    clock.now = deadline - timedelta(hours=1)
    (escalation_id,) = escalate_at_risk(runtime)
    assert escalate_at_risk(runtime) == [], "once per trade"
    with runtime.db.session() as session:
        escalation = session.get(Notice, escalation_id)
        assert escalation is not None and escalation.variant == "deadline_at_risk"
        assert escalation.context["affected"][0]["trade_id"] == failed["trade"]["trade_id"]


# --- done-when 3: outcome in reversals; revocation after final ------------------------


def _post(client: FlaskClient, event: dict[str, Any]) -> list[int]:
    response = client.post("/v1/events", json=event, headers=PRODUCER)
    assert response.status_code == 202, response.json
    return list(response.json["notice_ids"])


def _rendered(app: Flask, runtime: Runtime, ids: list[int]) -> dict[str, Notice]:
    with app.app_context():
        pipeline.process_notices(runtime, ids)
    with runtime.db.session() as session:
        notices = session.scalars(select(Notice).where(Notice.id.in_(ids))).all()
        session.expunge_all()
    return {n.kind: n for n in notices}


def test_batch_failed_with_a_fallback_shows_the_date_and_the_clients_action(
    app: Flask, runtime: Runtime
) -> None:
    client = app.test_client()
    _register(client)
    _post(client, load_event("l2_provisional"))
    notices = _rendered(app, runtime, _post(client, load_event("batch_failed_fallback")))
    reversal = notices["reversal"]
    assert reversal.body_text is not None
    assert "Nov 26, 2026" in reversal.body_text and "through DTC" in reversal.body_text
    assert "Keep USD funds available in account ACME-001" in reversal.body_text
    assert "by Nov 25, 2026" in reversal.body_text
    assert "You do not need to do anything now" not in reversal.body_text
    assert "no longer valid" not in reversal.body_text
    assert notices["escalation"].variant == "batch_failed"


def test_batch_failed_after_batch_final_revokes_finality(app: Flask, runtime: Runtime) -> None:
    client = app.test_client()
    _register(client)
    _post(client, load_event("l2_provisional"))
    _post(client, load_event("batch_final"))
    failed = copy.deepcopy(load_event("batch_failed_fallback"))
    notices = _rendered(app, runtime, _post(client, failed))
    assert set(notices) == {"finality_revoked", "escalation"}
    revoked = notices["finality_revoked"]
    assert revoked.body_text and "FINALITY REVOKED" in revoked.body_text
    assert "Nov 26, 2026" in revoked.body_text
    assert notices["escalation"].variant == "finality_revoked"
    with runtime.db.session() as session:
        batch = session.get(Batch, failed["batch"]["batch_id"])
        assert batch is not None and batch.status == BatchStatus.REVOKED
        assert batch.revoked_at is not None
        assert (batch.details or {})["outcome"]["action"] == "fallback_l1"
        state = session.get(TradeState, load_event("l2_provisional")["trade"]["trade_id"])
        assert state is not None and state.status == TradeStatus.REVOKED
    found = client.get("/v1/notices?kind=finality_revoked", headers=SUPPORT)
    assert found.status_code == 200, found.json
    assert [n["id"] for n in found.json["notices"]] == [revoked.id]


def test_a_trade_reverted_after_it_was_final_is_a_revocation(app: Flask, runtime: Runtime) -> None:
    client = app.test_client()
    _register(client)
    provisional = load_event("l2_provisional")
    _post(client, provisional)
    _post(client, load_event("batch_final"))
    reverted = copy.deepcopy(provisional)
    reverted.update(event_id="evt-reverted-after-final", sequence=2)
    reverted["finality"]["status"] = "reverted"
    reverted["outcome"] = {"action": "cancelled"}
    notices = _rendered(app, runtime, _post(client, reverted))
    assert set(notices) == {"finality_revoked", "escalation"}
    assert notices["escalation"].variant == "finality_revoked"
    text = notices["finality_revoked"].body_text or ""
    assert "will be cancelled" in text
    assert "batch B-2026-11-24-PM has since failed" not in text, "the batch did not fail"
    with runtime.db.session() as session:
        batch = session.get(Batch, "B-2026-11-24-PM")
        assert batch is not None and batch.status == BatchStatus.FINAL
