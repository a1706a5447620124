"""Per-trade ordering under concurrency: the newest sequence wins on every database.

Issue 12 saw PostgreSQL lower a trade's last sequence when two requests read it at once;
these rounds post 50 sequenced corrections for one trade at the same time.
"""

from __future__ import annotations

import copy
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests
from flask import Flask
from sqlalchemy import select

from notifier.models import Batch, FinalityEvent, Notice, TradeState
from notifier.runtime import Runtime
from notifier.states import NoticeStatus
from tests.conftest import PRODUCER, load_event
from tests.support.flows import register_client, webhook_channel
from tests.support.server import LiveServer

ROUNDS = 5
CORRECTIONS = 50  # sequences 2..51 after the final confirmation's 1


def _trade_events(round_no: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    trade_id = f"T-ORDER-{round_no:02d}"
    final = load_event("l1_final", event_id=f"evt-order-{round_no}-final")
    final["trade"]["trade_id"] = trade_id
    corrections = []
    for sequence in range(2, CORRECTIONS + 2):
        event = copy.deepcopy(load_event("trade_corrected"))
        event["event_id"] = f"evt-order-{round_no}-corr-{sequence:02d}"
        event["sequence"] = sequence
        event["supersedes_event_id"] = final["event_id"]
        event["trade"]["trade_id"] = trade_id
        event["reason"]["text"] = f"correction number {sequence}"
        corrections.append(event)
    return final, corrections


def _post(server: LiveServer, event: dict[str, Any]) -> requests.Response:
    return requests.post(f"{server.url}/v1/events", json=event, headers=PRODUCER, timeout=120)


def test_concurrent_sequenced_corrections_leave_the_newest_live(
    app: Flask, runtime: Runtime, server: LiveServer
) -> None:
    register_client(app.test_client(), [webhook_channel("http://127.0.0.1:9/a")])
    for round_no in range(ROUNDS):
        final, corrections = _trade_events(round_no)
        assert _post(server, final).status_code == 202
        with ThreadPoolExecutor(max_workers=CORRECTIONS) as pool:
            responses = list(pool.map(lambda e: _post(server, e), corrections))
        assert Counter(r.status_code for r in responses) == {202: CORRECTIONS}, [
            r.text for r in responses if r.status_code != 202
        ]
        trade_id = final["trade"]["trade_id"]
        with runtime.db.session() as session:
            state = session.get(TradeState, trade_id)
            assert state is not None
            assert state.last_sequence == CORRECTIONS + 1, f"round {round_no}"
            live = session.execute(
                select(Notice.id, FinalityEvent.sequence)
                .join(FinalityEvent, Notice.event_pk == FinalityEvent.id)
                .where(
                    Notice.trade_id == trade_id,
                    Notice.kind == "correction",
                    Notice.status != NoticeStatus.SUPERSEDED,
                )
            ).all()
            assert [row.sequence for row in live] == [CORRECTIONS + 1], f"round {round_no}"
            last_event = session.get(FinalityEvent, state.last_event_pk)
            assert last_event is not None and last_event.sequence == CORRECTIONS + 1


def _l2_trade(round_no: int, index: int, batch_id: str) -> dict[str, Any]:
    event = load_event("l2_provisional", event_id=f"evt-border-{round_no}-{index}")
    event["trade"]["trade_id"] = f"T-BORDER-{round_no:02d}-{index}"
    event["finality"]["l2"]["batch_id"] = batch_id
    return event


SERIAL_OUTCOMES = {
    "revoked": (
        "revoked",
        [
            ("confirmation_l2", "provisional", "superseded"),
            ("confirmation_l2", "final", "superseded"),
            ("finality_revoked", "batch_failed", "pending"),
        ],
    ),
    "failed": (
        "reverted",
        [("confirmation_l2", "provisional", "superseded"), ("reversal", "batch_failed", "pending")],
    ),
}


def test_concurrent_final_and_failed_for_one_batch_apply_one_after_the_other(
    app: Flask, runtime: Runtime, server: LiveServer
) -> None:
    """batch.final and batch.failed at once: the outcome of one order or the other, never a mix."""
    register_client(app.test_client(), [webhook_channel("http://127.0.0.1:9/a")])
    for round_no in range(ROUNDS):
        batch_id = f"B-BORDER-{round_no:02d}"
        trades = [_l2_trade(round_no, i, batch_id) for i in range(3)]
        for trade in trades:
            assert _post(server, trade).status_code == 202
        final = load_event("batch_final", event_id=f"evt-border-{round_no}-final")
        failed = load_event("batch_failed", event_id=f"evt-border-{round_no}-failed")
        for event in (final, failed):
            event["batch"]["batch_id"] = batch_id
        with ThreadPoolExecutor(max_workers=2) as pool:
            responses = list(pool.map(lambda e: _post(server, e), [final, failed]))
        assert [r.status_code for r in responses] == [202, 202], [r.text for r in responses]
        with runtime.db.session() as session:
            batch = session.get(Batch, batch_id)
            assert batch is not None and batch.status in {"revoked", "failed"}
            # What each serial order leaves (SQLite, one after the other): final then
            # failed revokes the final confirmation; failed then final is stored, not final.
            wanted, notices = SERIAL_OUTCOMES[batch.status]
            for trade in trades:
                trade_id = trade["trade"]["trade_id"]
                state = session.get(TradeState, trade_id)
                assert state is not None and state.status == wanted, (round_no, batch.status)
                rows = session.execute(
                    select(Notice.kind, Notice.variant, Notice.status).where(
                        Notice.trade_id == trade_id
                    )
                )
                assert Counter(tuple(row) for row in rows) == Counter(notices), round_no
