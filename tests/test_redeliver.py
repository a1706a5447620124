"""Support sees exactly what went out and retries one failed channel, same webhook-id.

Issue 6: ``GET /v1/notices/{id}`` returned the subject but no bodies, and resend sent a
COPY to every channel; there was no way to retry only the channel that failed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import PRODUCER, SUPPORT, WEBHOOK_SECRET, load_event
from tests.support.flows import notice_view, register_client, wait_for_status, webhook_channel
from tests.support.receivers import WebhookReceiver
from tests.support.worker import WorkerProcess


@pytest.fixture
def live_extra() -> dict[str, str]:
    return {"NOTIFIER_RETRY_SCHEDULE": "0.1", "NOTIFIER_DELIVERY_MAX_ATTEMPTS": "2"}


@pytest.fixture
def second_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(WEBHOOK_SECRET)
    receiver.start()
    yield receiver
    receiver.stop()


def _redeliver(client: FlaskClient, delivery_id: int, **body: object) -> tuple[int, Any]:
    response = client.post(f"/v1/deliveries/{delivery_id}/redeliver", json=body, headers=SUPPORT)
    return response.status_code, response.json


def test_redeliver_sends_one_failed_channel_again_with_the_same_webhook_id(
    live_app: Flask,
    worker: WorkerProcess,
    webhook_receiver: WebhookReceiver,
    second_receiver: WebhookReceiver,
) -> None:
    client = live_app.test_client()
    register_client(
        client,
        [
            webhook_channel(webhook_receiver.url, name="down"),
            webhook_channel(second_receiver.url, name="up", priority=1),
        ],
    )
    webhook_receiver.always_fail = True
    response = client.post("/v1/events", json=load_event("l1_final"), headers=PRODUCER)
    (notice_id,) = response.json["notice_ids"]
    view = wait_for_status(client, notice_id, {"partially_delivered"})
    down, up = view["deliveries"]
    assert (down["status"], up["status"]) == ("failed", "sent")
    # What went out, as stored: subject and every body, exactly as the receiver got them.
    (sent,) = second_receiver.delivered()
    for key in ("subject", "text", "html", "markdown"):
        assert view[key] and view[key] == sent.payload["data"][key]

    assert _redeliver(client, down["id"])[0] == 422, "a reason is required"
    webhook_receiver.always_fail = False
    status, answer = _redeliver(client, down["id"], reason="Client fixed their endpoint")
    assert status == 202, answer
    assert answer["webhook_id"] == down["webhook_id"]
    after = wait_for_status(client, notice_id, {"delivered"})
    down_after, up_after = after["deliveries"]
    assert (down_after["status"], up_after["status"]) == ("sent", "sent")
    assert [a["outcome"] for a in down_after["attempts"]] == ["failed", "failed", "sent"]
    # That channel only, with the same webhook-id on every try; the other got nothing new.
    assert {r.headers["webhook-id"] for r in webhook_receiver.requests} == {down["webhook_id"]}
    assert len(webhook_receiver.delivered()) == 1
    assert len(second_receiver.requests) == 1
    assert webhook_receiver.delivered()[0].payload["data"]["text"] == after["text"]
    audited = [e for e in after["timeline"] if e["action"] == "redeliver"]
    assert len(audited) == 1
    assert audited[0]["actor"] == "support-key"
    assert audited[0]["reason"] == "Client fixed their endpoint"
    assert audited[0]["subject"] == f"delivery:{down['id']}"


def test_redeliver_refusals(
    live_app: Flask, worker: WorkerProcess, webhook_receiver: WebhookReceiver
) -> None:
    client = live_app.test_client()
    register_client(client, [webhook_channel(webhook_receiver.url)])
    assert _redeliver(client, 999, reason="why not")[0] == 404
    (final,) = client.post("/v1/events", json=load_event("l1_final"), headers=PRODUCER).json[
        "notice_ids"
    ]
    (delivery,) = wait_for_status(client, final, {"delivered"})["deliveries"]
    forbidden = client.post(
        f"/v1/deliveries/{delivery['id']}/redeliver",
        json={"reason": "from a producer"},
        headers=PRODUCER,
    )
    assert forbidden.status_code == 403
    client.post("/v1/events", json=load_event("trade_cancelled"), headers=PRODUCER)
    status, answer = _redeliver(client, delivery["id"], reason="once more")
    assert status == 409, answer
    assert "replaced" in answer["error"]["message"]
    assert notice_view(client, final)["status"] == "superseded"
