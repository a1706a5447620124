"""A receiver that trickles its answer holds no send past its deadline (issue 12, item 2).

Through the real pipeline (render, claim, send, record) on both databases: client acme's
webhook reads the request and then answers one byte every 0.5 s, far slower than the
3 s delivery timeout the tests run with; client bravo's answers at once. Every send to
acme is one attempt record (no send outlives its record or is repeated inside it), ends
within the deadline, and is recorded ``unknown`` (the request left; no answer came), never
a clean ``timeout``; bravo's deliveries are ``sent``.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from notifier.models import Delivery, DeliveryAttempt, Notice
from notifier.runtime import Runtime
from notifier.states import AttemptOutcome
from notifier.worker import pipeline
from tests.conftest import PRODUCER, load_event
from tests.support.flows import register_client, webhook_channel
from tests.support.receivers import WebhookReceiver, read_http_request

DEADLINE_S = 3.0  # NOTIFIER_DELIVERY_TIMEOUT_SECONDS in tests/conftest.py::make_env
SLACK_S = 1.5  # recording and scheduling around the send, not the send itself


class TricklingReceiver:
    """Reads each request in full, then answers one byte every ``pause`` seconds."""

    def __init__(self, pause: float = 0.5) -> None:
        self.pause = pause
        self.requests = 0
        self._lock = threading.Lock()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}/hooks/slow"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.settimeout(10)
            if not read_http_request(conn):
                return
            with self._lock:
                self.requests += 1
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n":
                if self._stop.is_set():
                    return
                conn.sendall(bytes([byte]))  # raises once the sender has hung up
                time.sleep(self.pause)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()


@pytest.fixture
def trickling() -> Iterator[TricklingReceiver]:
    receiver = TricklingReceiver()
    yield receiver
    receiver.close()


def _event(client_id: str, n: int) -> dict[str, Any]:
    event = load_event("l1_final", event_id=f"evt-{client_id}-{n}")
    event["trade"] = event["trade"] | {"trade_id": f"T-{client_id}-{n}", "client_id": client_id}
    return event


def test_a_trickling_receiver_holds_no_send_past_its_deadline(
    app: Flask,
    runtime: Runtime,
    trickling: TricklingReceiver,
    webhook_receiver: WebhookReceiver,
) -> None:
    api = app.test_client()
    register_client(api, [webhook_channel(trickling.url)], client_id="acme")
    register_client(api, [webhook_channel(webhook_receiver.url)], client_id="bravo", name="Bravo")
    ids: list[int] = []
    for n in range(3):
        for client_id in ("acme", "bravo"):
            answer = api.post("/v1/events", json=_event(client_id, n), headers=PRODUCER)
            assert answer.status_code == 202, answer.json
            ids.extend(answer.json["notice_ids"])

    with app.app_context():
        pipeline.process_notices(runtime, ids)

    with runtime.db.session() as session:
        rows = session.execute(
            select(Notice.client_id, DeliveryAttempt)
            .join(Delivery, Delivery.notice_id == Notice.id)
            .join(DeliveryAttempt, DeliveryAttempt.delivery_id == Delivery.id)
            .where(Notice.id.in_(ids))
        ).all()
    acme = [attempt for client_id, attempt in rows if client_id == "acme"]
    bravo = [attempt for client_id, attempt in rows if client_id == "bravo"]

    assert acme and bravo
    assert {a.outcome for a in bravo} == {AttemptOutcome.SENT}, "the fast client is unaffected"
    assert {a.outcome for a in acme} == {AttemptOutcome.UNKNOWN}, (
        "bytes left but no answer came: unknown, never a clean timeout"
    )
    for attempt in acme:
        took = (attempt.finished_at - attempt.started_at).total_seconds()
        assert took <= DEADLINE_S + SLACK_S, f"attempt {attempt.id} ran {took:.1f} s"
    # One request per attempt record: nothing was sent twice inside one attempt, and no
    # send went on after its attempt was recorded (give a straggler time to show up).
    time.sleep(1.0)
    assert trickling.requests == len(acme)
