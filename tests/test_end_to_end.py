"""A finality event becomes a delivered, tracked confirmation through the real parts."""

from __future__ import annotations

import time
from typing import Any

from flask import Flask

from tests.conftest import ADMIN, PRODUCER, SUPPORT, WEBHOOK_SECRET, load_event
from tests.support.receivers import SmtpSink, WebhookReceiver
from tests.support.worker import WorkerProcess


def register(
    client: Any, webhook: WebhookReceiver, smtp: SmtpSink, client_id: str = "acme", **extra: Any
) -> None:
    body = {
        "name": "Acme Capital",
        "locale": "en_US",
        "timezone": "America/New_York",
        "channels": [
            {"name": "hook", "url": webhook.url, "secret": WEBHOOK_SECRET, "priority": 0},
            {"name": "email", "url": smtp.url(), "priority": 1},
        ],
        **extra,
    }
    response = client.put(f"/v1/clients/{client_id}", json=body, headers=ADMIN)
    assert response.status_code in (200, 201), response.json


def wait_for_status(
    client: Any, notice_id: int, wanted: set[str], timeout: float = 30.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    view: dict[str, Any] = {}
    while time.monotonic() < deadline:
        view = client.get(f"/v1/notices/{notice_id}", headers=SUPPORT).json
        if view["status"] in wanted:
            return view
        time.sleep(0.1)
    raise AssertionError(f"notice {notice_id} stayed {view.get('status')}: {view}")


def test_l1_and_l2_confirmations_arrive_by_webhook_and_email(
    live_app: Flask, worker: WorkerProcess, webhook_receiver: WebhookReceiver, smtp_sink: SmtpSink
) -> None:
    client = live_app.test_client()
    register(client, webhook_receiver, smtp_sink)
    ids = []
    for name in ("l1_final", "l2_final"):
        response = client.post("/v1/events", json=load_event(name), headers=PRODUCER)
        assert response.status_code == 202, response.json
        ids.extend(response.json["notice_ids"])
    views = [wait_for_status(client, i, {"delivered"}) for i in ids]
    hooks = webhook_receiver.wait_for(len(ids))
    mails = smtp_sink.wait_for(len(ids))
    kinds = {h.payload["data"]["kind"] for h in hooks}
    assert {"confirmation_l1", "confirmation_l2"} <= kinds
    assert all(h.verified for h in hooks)
    subjects = " | ".join(str(m["Subject"]) for m in mails)
    assert "Layer-1" in subjects and "Layer-2" in subjects
    for view in views:
        for delivery in view["deliveries"]:
            assert delivery["status"] == "sent"
            assert delivery["attempts"][0]["outcome"] == "sent"
