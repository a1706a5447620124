"""Retries on the schedule, and a final failure with its reason on record, on a real worker."""

from __future__ import annotations

import pytest
from flask import Flask

from tests.conftest import PRODUCER, load_event
from tests.support.flows import register_client, wait_for_status, webhook_channel
from tests.support.receivers import WebhookReceiver
from tests.support.worker import WorkerProcess


@pytest.fixture
def live_extra() -> dict[str, str]:
    return {"NOTIFIER_DELIVERY_MAX_ATTEMPTS": "4"}


def _post_l1(app: Flask, receiver: WebhookReceiver) -> int:
    client = app.test_client()
    register_client(client, [webhook_channel(receiver.url)])
    response = client.post("/v1/events", json=load_event("l1_final"), headers=PRODUCER)
    assert response.status_code == 202, response.json
    (notice_id,) = response.json["notice_ids"]
    return int(notice_id)


def test_receiver_failing_twice_then_succeeding_gives_three_attempts(
    live_app: Flask, worker: WorkerProcess, webhook_receiver: WebhookReceiver
) -> None:
    webhook_receiver.fail_next(2)
    notice_id = _post_l1(live_app, webhook_receiver)
    view = wait_for_status(live_app.test_client(), notice_id, {"delivered", "failed"})
    assert view["status"] == "delivered"
    (delivery,) = view["deliveries"]
    assert delivery["status"] == "sent"
    assert [a["outcome"] for a in delivery["attempts"]] == ["failed", "failed", "sent"]
    assert [a["number"] for a in delivery["attempts"]] == [1, 2, 3]
    assert "HTTP 500" in (delivery["attempts"][0]["error"] or "")
    # Every try carried the same webhook-id, so the receiver can drop duplicates.
    ids = {r.headers["webhook-id"] for r in webhook_receiver.requests}
    assert ids == {delivery["webhook_id"]}
    assert len(webhook_receiver.requests) == 3
    # The retries followed one another (the test schedule: 0.2 s, 0.4 s, …).
    starts = [a["started_at"] for a in delivery["attempts"]]
    assert starts == sorted(starts)
    actions = [
        (e["from"], e["to"]) for e in view["timeline"] if e["subject"].startswith("delivery")
    ]
    assert actions.count(("sending", "retrying")) == 2


def test_receiver_always_failing_ends_failed_with_reason_and_escalation(
    live_app: Flask, worker: WorkerProcess, webhook_receiver: WebhookReceiver
) -> None:
    webhook_receiver.always_fail = True
    notice_id = _post_l1(live_app, webhook_receiver)
    client = live_app.test_client()
    view = wait_for_status(client, notice_id, {"failed", "delivered"})
    assert view["status"] == "failed"
    (delivery,) = view["deliveries"]
    assert delivery["status"] == "failed"
    assert delivery["attempt_count"] == 4
    assert [a["outcome"] for a in delivery["attempts"]] == ["failed"] * 4
    assert delivery["last_error"] == "Webhook answered HTTP 500."
    assert len(webhook_receiver.requests) == 4
    # Support hears of it: an escalation notice for this one.
    escalation = wait_for_status(client, notice_id + 1, {"failed", "delivered"})
    # One per channel outage (issue 6), naming the channel and its error.
    assert (escalation["kind"], escalation["variant"]) == ("escalation", "channel_outage")
