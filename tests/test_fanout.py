"""Batch fan-out off the request path (issue 8).

With work enqueued, ``batch.final`` answers 202 once the event and the batch's state are
stored; the worker writes the per-trade notices in chunks, each chunk a transaction that
moves the fan-out's cursor, so an interrupted fan-out resumes and never duplicates.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from notifier.models import BatchFanout, FinalityEvent, Notice
from notifier.notices.batch_fanout import run_chunk
from notifier.runtime import Runtime
from notifier.worker.relay import due_work
from tests.conftest import PRODUCER, load_event
from tests.support.flows import register_client, run_fanout, webhook_channel
from tests.support.receivers import WebhookReceiver
from tests.support.worker import WorkerProcess

CLIENTS = ("acme", "bolt", "cove")
TRADES = 7
BATCH = "B-2026-11-24-PM"


@pytest.fixture
def live_extra() -> dict[str, str]:
    # Chunks of 3 trades, so 7 trades take three chunks; the relay re-drives a fan-out at
    # once (no beat runs here: the tests call due_work themselves).
    return {
        "NOTIFIER_FANOUT_CHUNK_TRADES": "3",
        "NOTIFIER_RELAY_GRACE_SECONDS": "0",
        "NOTIFIER_SENDING_LEASE_SECONDS": "0",
    }


def _post(client: FlaskClient, event: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/v1/events", json=event, headers=PRODUCER)
    assert response.status_code == 202, response.json
    body: dict[str, Any] = response.json
    return body


def _provisional_trades(client: FlaskClient, receiver_url: str) -> list[str]:
    for client_id in CLIENTS:
        register_client(client, [webhook_channel(receiver_url)], client_id=client_id)
    trade_ids = []
    for n in range(TRADES):
        event = load_event("l2_provisional", event_id=f"evt-prov-{n}")
        trade_id = f"T-FAN-{n:04d}"
        event["trade"] = event["trade"] | {"trade_id": trade_id, "client_id": CLIENTS[n % 3]}
        _post(client, event)
        trade_ids.append(trade_id)
    return trade_ids


def _finals(runtime: Runtime) -> list[tuple[str | None, str]]:
    with runtime.db.session() as session:
        rows = session.execute(
            select(Notice.trade_id, Notice.status).where(
                Notice.kind == "confirmation_l2", Notice.variant == "final"
            )
        )
        return [(trade_id, status) for trade_id, status in rows]


def _fanout_row(runtime: Runtime, event_id: str) -> BatchFanout:
    with runtime.db.session() as session:
        pk = session.scalar(select(FinalityEvent.id).where(FinalityEvent.event_id == event_id))
        row = session.get(BatchFanout, pk)
        assert row is not None
        session.expunge(row)
        return row


def test_batch_final_answers_before_its_notices_then_all_are_delivered(
    live_app: Flask, worker: WorkerProcess, webhook_receiver: WebhookReceiver
) -> None:
    client = live_app.test_client()
    runtime: Runtime = live_app.extensions["notifier"]
    worker.kill()  # nothing may write the fan-out before we look
    trade_ids = _provisional_trades(client, webhook_receiver.url)

    answer = _post(client, load_event("batch_final"))
    assert answer["status"] == "accepted" and answer["notice_ids"] == []
    assert "fan-out" in answer["reason"]
    assert _finals(runtime) == [], "the POST wrote no per-trade notice"
    assert _fanout_row(runtime, "evt-batch-final-0001").done_at is None

    worker.start()
    deadline = time.monotonic() + 90
    finals = _finals(runtime)
    while time.monotonic() < deadline:
        finals = _finals(runtime)
        if len(finals) == TRADES and all(status == "delivered" for _, status in finals):
            break
        time.sleep(0.2)
    assert sorted(t for t, _ in finals) == trade_ids
    assert all(status == "delivered" for _, status in finals), finals
    row = _fanout_row(runtime, "evt-batch-final-0001")
    assert row.done_at is not None and row.notice_count == TRADES
    event = client.get("/v1/events/evt-batch-final-0001", headers=PRODUCER).json
    assert event["status"] == "accepted"


def test_an_interrupted_fan_out_resumes_without_duplicates(
    live_app: Flask, webhook_receiver: WebhookReceiver
) -> None:
    """No worker runs: the test drives the fan-out itself, one chunk, a "crash", then all."""
    client = live_app.test_client()
    runtime: Runtime = live_app.extensions["notifier"]
    trade_ids = _provisional_trades(client, webhook_receiver.url)
    failed = load_event("batch_failed")
    assert _post(client, failed)["notice_ids"] == []
    row = _fanout_row(runtime, failed["event_id"])
    assert due_work(runtime).fanout_event_pks == [row.event_pk], "the relay re-drives it"

    first, done = run_chunk(runtime, row.event_pk, 3)
    assert len(first) == 3 and not done
    # The worker dies here. A second run (the relay's, or a redelivered task) resumes.
    rest = run_fanout(runtime, failed["event_id"])
    assert run_fanout(runtime, failed["event_id"]) == [], "a finished fan-out writes nothing"

    with runtime.db.session() as session:
        reversals = list(session.scalars(select(Notice.trade_id).where(Notice.kind == "reversal")))
        keys = session.scalar(select(func.count(Notice.dedup_key.distinct())))
        total = session.scalar(select(func.count(Notice.id)))
        escalation = session.scalar(select(Notice).where(Notice.kind == "escalation"))
        assert escalation is not None
        listed = [entry["trade_id"] for entry in escalation.context["affected"]]
    assert sorted(reversals) == trade_ids and len(reversals) == TRADES
    assert keys == total, "no notice written twice"
    assert listed == trade_ids, "the escalation lists the trades of every chunk"
    assert len(first) + len(rest) == TRADES + 1  # every reversal and the one escalation
    assert due_work(runtime).fanout_event_pks == []
    event = client.get(f"/v1/events/{failed['event_id']}", headers=PRODUCER).json
    assert event["status"] == "accepted"


def test_a_crash_inside_a_chunk_leaves_it_to_the_next_run(
    live_app: Flask, webhook_receiver: WebhookReceiver
) -> None:
    """A chunk is one transaction: if it fails, neither its notices nor its cursor stay."""
    client = live_app.test_client()
    runtime: Runtime = live_app.extensions["notifier"]
    trade_ids = _provisional_trades(client, webhook_receiver.url)
    _post(client, load_event("batch_final"))
    row = _fanout_row(runtime, "evt-batch-final-0001")

    clock = runtime.clock
    calls = {"n": 0}

    def failing_clock() -> Any:
        calls["n"] += 1
        if calls["n"] > 2:  # well inside writing the chunk's notices
            raise RuntimeError("worker lost")
        return clock()

    runtime.clock = failing_clock
    with pytest.raises(RuntimeError):
        run_chunk(runtime, row.event_pk, 3)
    runtime.clock = clock
    assert _finals(runtime) == []
    assert _fanout_row(runtime, "evt-batch-final-0001").cursor is None

    run_fanout(runtime, "evt-batch-final-0001")
    assert sorted(t for t, _ in _finals(runtime)) == trade_ids
