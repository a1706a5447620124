"""A receiver that is down, then up again, gets every notice: through the real worker.

The shipped schedule (5 s, 5 min, 30 min, …) is proven to outlast a 60 s outage on a
fixed clock in ``test_retry.py``; here the same path runs on the real worker and broker,
with waits short enough for a test.
"""

from __future__ import annotations

import time

import pytest
from flask import Flask

from tests.conftest import PRODUCER, SUPPORT, load_event
from tests.support.flows import notice_view, register_client, wait_for_status, webhook_channel
from tests.support.receivers import WebhookReceiver
from tests.support.worker import WorkerProcess


@pytest.fixture
def live_extra() -> dict[str, str]:
    # Two quick retries, then waits long enough that the outage ends before the budget.
    return {"NOTIFIER_RETRY_SCHEDULE": "0.1,0.2,3,5,10,20"}


def test_a_receiver_down_then_up_gets_every_notice_and_none_fails(
    live_app: Flask, worker: WorkerProcess, webhook_receiver: WebhookReceiver
) -> None:
    client = live_app.test_client()
    register_client(client, [webhook_channel(webhook_receiver.url)])
    webhook_receiver.always_fail = True
    notice_ids = []
    for i in range(10):
        event = load_event("l1_final", event_id=f"evt-down-{i}")
        event["trade"]["trade_id"] = f"T-DOWN-{i}"
        response = client.post("/v1/events", json=event, headers=PRODUCER)
        notice_ids.extend(response.json["notice_ids"])
    # Down until every notice has failed at least twice (bounded wait).
    for _ in range(600):
        tries = [len(notice_view(client, i)["deliveries"][0]["attempts"]) for i in notice_ids]
        if min(tries) >= 2:
            break
        time.sleep(0.05)
    assert min(tries) >= 2
    webhook_receiver.always_fail = False
    views = [wait_for_status(client, i, {"delivered", "failed"}, timeout=90) for i in notice_ids]
    assert {v["status"] for v in views} == {"delivered"}
    assert len({h.headers["webhook-id"] for h in webhook_receiver.delivered()}) == 10
    assert client.get("/v1/notices?kind=escalation", headers=SUPPORT).json["notices"] == []
