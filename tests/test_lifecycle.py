"""Lifecycle rules at scale and against the clock: batch failure fan-out, deadlines."""

from __future__ import annotations

import copy
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
import requests
from flask import Flask
from sqlalchemy import func, select

from notifier.api.app import create_app
from notifier.config import Settings
from notifier.models import Notice
from notifier.notices.escalation import escalate_at_risk
from notifier.runtime import Runtime
from notifier.tools.replay import FixedClock
from notifier.worker import pipeline
from tests.conftest import ADMIN, PRODUCER, load_event
from tests.support.receivers import WebhookReceiver, free_port
from tests.support.server import LiveServer

BATCH = "B-2026-11-24-PM"


def test_batch_failure_of_200_trades_sends_200_reversals_and_one_escalation(
    app: Flask, runtime: Runtime, server: LiveServer
) -> None:
    client = app.test_client()
    for c in range(50):
        body = {"name": f"Client {c}", "locale": ["en", "de", "fr", "es", "ja"][c % 5]}
        assert client.put(f"/v1/clients/c{c}", json=body, headers=ADMIN).status_code == 201
    template = load_event("l2_provisional")
    for t in range(200):
        event = copy.deepcopy(template)
        event["event_id"] = f"prov-{t}"
        event["trade"]["trade_id"] = f"T-{t:03d}"
        event["trade"]["client_id"] = f"c{t % 50}"
        response = client.post("/v1/events", json=event, headers=PRODUCER)
        assert response.status_code == 202, response.json
    with runtime.db.session() as session:
        before = session.scalar(select(func.max(Notice.id)))
    assert before == 250  # 50 primers + 200 provisional confirmations

    failed = load_event("batch_failed")
    failed["batch"]["batch_id"] = BATCH
    posts = [dict(failed, event_id=f"fail-{i}") for i in range(2)] + [failed]

    def post(event: dict[str, object]) -> requests.Response:
        return requests.post(f"{server.url}/v1/events", json=event, headers=PRODUCER, timeout=120)

    with ThreadPoolExecutor(max_workers=3) as pool:
        responses = list(pool.map(post, posts))
    assert sorted(r.status_code for r in responses) == [202, 202, 202]
    assert sorted(len(r.json()["notice_ids"]) for r in responses) == [0, 0, 201]

    with runtime.db.session() as session:
        new = session.scalars(select(Notice).where(Notice.id > before)).all()
        assert Counter(n.kind for n in new) == {"reversal": 200, "escalation": 1}
        assert len({n.trade_id for n in new if n.kind == "reversal"}) == 200
        assert len({n.client_id for n in new if n.kind == "reversal"}) == 50
        (escalation,) = [n for n in new if n.kind == "escalation"]
        assert escalation.context["counts"] == {"trades": 200, "clients": 50}
        superseded = session.scalar(
            select(func.count()).where(
                Notice.kind == "confirmation_l2", Notice.status == "superseded"
            )
        )
        assert superseded == 200
        # Each reversal points at the confirmation it reverses.
        assert all(n.supersedes_id for n in new if n.kind == "reversal")


def test_undelivered_confirmation_escalates_before_its_deadline(settings: Settings) -> None:
    support = WebhookReceiver(None)
    support.start()
    port = support.url.split(":")[2].split("/")[0]
    app = create_app(
        replace(
            settings,
            support_channel_urls=(f"json://127.0.0.1:{port}/esc",),
            deadline_lead_seconds=4 * 3600,
        )
    )
    runtime: Runtime = app.extensions["notifier"]
    runtime.db.upgrade()
    clock = FixedClock(datetime.fromisoformat("2026-11-24T15:00:00+00:00"))
    runtime.clock = clock
    try:
        client = app.test_client()
        dead_end = f"json://127.0.0.1:{free_port()}/nobody-listens"
        body = {
            "name": "Acme",
            "timezone": "America/New_York",
            "regime": "US",
            "channels": [{"name": "chat", "url": dead_end}],
        }
        assert client.put("/v1/clients/acme", json=body, headers=ADMIN).status_code == 201
        posted = client.post("/v1/events", json=load_event("l1_final"), headers=PRODUCER)
        (notice_id,) = posted.json["notice_ids"]
        other = load_event("l1_final", event_id="evt-l1-final-other")
        other["trade"]["trade_id"] = "T-OTHER"
        (other_id,) = client.post("/v1/events", json=other, headers=PRODUCER).json["notice_ids"]
        with app.app_context():
            pipeline.process_notices(runtime, [notice_id, other_id])
        with runtime.db.session() as session:
            notice = session.get(Notice, notice_id)
            assert notice is not None and notice.deadline_at is not None
            deadline, status = notice.deadline_at, notice.status
        assert status == "delivering"  # its delivery is retrying, not delivered
        # US: by the end of the settlement date (2026-11-25) in the venue's (XNYS) timezone.
        assert deadline == datetime.fromisoformat("2026-11-26T00:00:00-05:00")

        clock.now = deadline - timedelta(hours=4, minutes=1)
        assert escalate_at_risk(runtime) == []
        clock.now = deadline - timedelta(hours=3, minutes=59)
        # One escalation lists both confirmations at risk (not one each), and only once.
        (escalation_id,) = escalate_at_risk(runtime)
        assert escalate_at_risk(runtime) == [], "each confirmation is escalated once"
        with app.app_context():
            pipeline.process_notices(runtime, [escalation_id])
        (received,) = support.wait_for(1)
        assert clock.now < deadline
        text = received.body.decode()
        assert "T-20261124-0001" in text and "T-OTHER" in text and "acme" in text
        with runtime.db.session() as session:
            escalation = session.get(Notice, escalation_id)
            assert escalation is not None
            assert (escalation.kind, escalation.variant) == ("escalation", "deadline_at_risk")
            assert escalation.status == "delivered"
    finally:
        support.stop()
        runtime.db.dispose()


@pytest.mark.parametrize("status", ["reverted", "failed"])
def test_a_reverted_or_failed_trade_is_reversed_and_escalated(
    app: Flask, runtime: Runtime, status: str
) -> None:
    client = app.test_client()
    body = {"name": "Acme", "locale": "de", "channels": []}
    assert client.put("/v1/clients/acme", json=body, headers=ADMIN).status_code == 201
    provisional = load_event("l2_provisional")
    assert client.post("/v1/events", json=provisional, headers=PRODUCER).status_code == 202
    event = copy.deepcopy(provisional)
    event["event_id"] = f"evt-{status}"
    event["sequence"] = 2
    event["finality"]["status"] = status
    event["reason"] = {"code": "SETTLEMENT_FAIL", "text": "Counterparty did not deliver."}
    response = client.post("/v1/events", json=event, headers=PRODUCER)
    assert response.status_code == 202, response.json
    reversal_id, escalation_id = response.json["notice_ids"]
    with app.app_context():
        pipeline.process_notices(runtime, [reversal_id, escalation_id])
    with runtime.db.session() as session:
        reversal = session.get(Notice, reversal_id)
        escalation = session.get(Notice, escalation_id)
        assert reversal is not None and escalation is not None
        assert (reversal.kind, reversal.variant) == ("reversal", f"trade_{status}")
        assert (escalation.kind, escalation.variant) == ("escalation", "trade_reverted")
        assert escalation.subject and "Trade reverted" in escalation.subject
        assert reversal.subject and "T-20261124-0002" in reversal.subject
