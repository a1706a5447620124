"""Status webhooks: a producer's receiver hears each state change once, signed, retried."""

from __future__ import annotations

import copy
import json
from collections import Counter
from typing import Any

import pytest
from flask import Flask
from jsonschema import Draft202012Validator, FormatChecker

from notifier.config import PROJECT_ROOT
from tests.conftest import ADMIN, PRODUCER, load_event
from tests.support.flows import register_client, wait_for_status, webhook_channel
from tests.support.receivers import WebhookReceiver
from tests.support.worker import WorkerProcess

STATUS_SCHEMA = json.loads((PROJECT_ROOT / "docs/schemas/status-event-v1.json").read_text())
STATUS_SECRET = "whsec_c3RhdHVzLXdlYmhvb2stc2VjcmV0LTAxMjM0NQ=="
ALL_TYPES = [
    "notice.delivered",
    "notice.failed",
    "notice.acknowledged",
    "notice.disputed",
    "notice.deadline_at_risk",
    "event.rejected_stale",
    "event.unknown_client",
]


@pytest.fixture
def status_receiver() -> Any:
    receiver = WebhookReceiver(STATUS_SECRET)
    receiver.start()
    yield receiver
    receiver.stop()


def _event_for(client_id: str) -> dict[str, Any]:
    event = copy.deepcopy(load_event("l1_final"))
    event["event_id"] = f"evt-l1-final-{client_id}"
    event["trade"]["trade_id"] = f"T-{client_id.upper()}-1"
    event["trade"]["client_id"] = client_id
    return event


def test_register_show_and_delete_never_show_the_secret(live_app: Flask) -> None:
    client = live_app.test_client()
    body = {"url": "https://hooks.example.com/x?token=abc", "secret": STATUS_SECRET}
    bad = client.put(
        "/v1/status-webhooks/ops", json=body | {"event_types": ["nope"]}, headers=ADMIN
    )
    assert bad.status_code == 422 and "event_types.0" in bad.json["error"]["fields"]
    assert client.put("/v1/status-webhooks/ops", json=body, headers=PRODUCER).status_code == 403
    put = client.put(
        "/v1/status-webhooks/ops", json=body | {"event_types": ALL_TYPES}, headers=ADMIN
    )
    assert put.status_code == 201, put.json
    shown = client.get("/v1/status-webhooks/ops", headers=ADMIN)
    assert STATUS_SECRET not in shown.text and "token=abc" not in shown.text
    assert client.delete("/v1/status-webhooks/ops", headers=ADMIN).status_code == 204
    assert client.get("/v1/status-webhooks/ops", headers=ADMIN).status_code == 404


def test_receiver_hears_each_state_change_once_and_its_failures_retry(
    live_app: Flask,
    worker: WorkerProcess,
    webhook_receiver: WebhookReceiver,
    status_receiver: WebhookReceiver,
) -> None:
    client = live_app.test_client()
    put = client.put(
        "/v1/status-webhooks/ops",
        json={"url": status_receiver.url, "secret": STATUS_SECRET, "event_types": ALL_TYPES},
        headers=ADMIN,
    )
    assert put.status_code == 201, put.json
    status_receiver.fail_next(2)  # the producer's endpoint fails at first: retried
    register_client(client, [webhook_channel(webhook_receiver.url)])
    register_client(client, [], client_id="bravo")  # no channel: its notice fails

    good = client.post("/v1/events", json=load_event("l1_final"), headers=PRODUCER)
    bad = client.post("/v1/events", json=_event_for("bravo"), headers=PRODUCER)
    unknown = client.post("/v1/events", json=_event_for("nobody"), headers=PRODUCER)
    assert good.status_code == 202 and bad.status_code == 202, bad.json
    assert unknown.json["status"] == "unknown_client"
    (final,) = good.json["notice_ids"]
    (failed,) = bad.json["notice_ids"]
    wait_for_status(client, final, {"delivered"})
    wait_for_status(client, failed, {"failed"})
    (hook,) = webhook_receiver.wait_for(1)
    path = "/ack/" + hook.payload["data"]["ack_url"].rsplit("/ack/", 1)[1]
    assert client.post(path, json={"status": "affirmed"}).status_code == 200
    dispute = {"status": "disputed", "reason_code": "wrong_price", "reason": "price"}
    assert client.post(path, json=dispute).status_code == 200
    assert client.post(path, json=dispute).status_code == 200  # a repeat is no new change

    seen = status_receiver.wait_for(5, timeout=60)
    assert all(r.verified for r in status_receiver.requests if r.status != 401)
    assert not [r for r in status_receiver.requests if r.status == 401]
    unique = {r.headers["webhook-id"]: r.payload for r in seen}
    changes = Counter(
        (p["type"], p["data"]["event_id"], p["data"]["notice_id"]) for p in unique.values()
    )
    assert changes == Counter(
        {
            ("notice.delivered", "evt-l1-final-0001", final): 1,
            ("notice.failed", "evt-l1-final-bravo", failed): 1,
            ("notice.acknowledged", "evt-l1-final-0001", final): 1,
            ("notice.disputed", "evt-l1-final-0001", final): 1,
            ("event.unknown_client", "evt-l1-final-nobody", None): 1,
        }
    )
    # The two failed answers were retried under the same webhook-id.
    ids = [r.headers["webhook-id"] for r in status_receiver.requests]
    assert len(ids) == len(unique) + 2 and set(ids) == set(unique)
    validator = Draft202012Validator(STATUS_SCHEMA, format_checker=FormatChecker())
    assert [e.message for p in unique.values() for e in validator.iter_errors(p)] == []
    failed_payload = next(p for p in unique.values() if p["type"] == "notice.failed")
    assert failed_payload["data"]["state"] == "failed" and failed_payload["data"]["reason"]

    event = client.get("/v1/events/evt-l1-final-0001", headers=PRODUCER)
    assert event.status_code == 200
    assert event.json["notices"] == [
        {"notice_id": final, "kind": "confirmation_l1", "client_id": "acme", "status": "disputed"}
    ]
