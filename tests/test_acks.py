"""The acknowledgement link over real HTTP: affirm, repeat, tampered, expired, superseded."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import requests
from flask import Flask
from flask.testing import FlaskClient

from notifier.notices.acks import make_token
from notifier.runtime import Runtime
from notifier.worker import pipeline
from tests.conftest import PRODUCER, SUPPORT, load_event
from tests.support.flows import notice_view, register_client, webhook_channel
from tests.support.receivers import WebhookReceiver
from tests.support.server import LiveServer


def _deliver(client: FlaskClient, runtime: Runtime, event: dict[str, Any]) -> list[int]:
    """Post an event and run its notices through the real pipeline, in this process."""
    response = client.post("/v1/events", json=event, headers=PRODUCER)
    assert response.status_code == 202, response.json
    ids = list(response.json["notice_ids"])
    pipeline.process_notices(runtime, ids)
    return ids


def _token(url: str) -> str:
    return url.rsplit("/ack/", 1)[1]


def test_affirm_repeat_tampered_expired_and_superseded(
    app: Flask, runtime: Runtime, server: LiveServer, webhook_receiver: WebhookReceiver
) -> None:
    client = app.test_client()
    register_client(client, [webhook_channel(webhook_receiver.url)])
    (final,) = _deliver(client, runtime, load_event("l1_final"))
    (hook,) = webhook_receiver.wait_for(1)
    ack_url = hook.payload["data"]["ack_url"]
    assert ack_url.startswith(runtime.settings.public_base_url + "/ack/")
    assert ack_url in notice_view(client, final)["text"]  # every format carries the link
    link = f"{server.url}/ack/{_token(ack_url)}"

    first = requests.post(link, json={"status": "affirmed"}, timeout=10)
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "acknowledged"
    assert first.json()["affirm_status"] == "affirmed"
    again = requests.post(link, json={"status": "affirmed"}, timeout=10)
    assert (again.status_code, again.json()) == (200, first.json())

    view = notice_view(client, final)
    assert view["status"] == "acknowledged"
    acks = [e for e in view["timeline"] if e["to"] == "acknowledged"]
    assert len(acks) == 1 and acks[0]["actor"] == "client:acme"
    assert "via api" in acks[0]["reason"]
    assert view["affirmation"]["affirmed"] is True

    token = _token(ack_url)
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    bad = requests.post(f"{server.url}/ack/{tampered}", json={"status": "affirmed"}, timeout=10)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_token"
    assert token not in bad.text

    expired_token = make_token(runtime, final, "acme", runtime.clock() - timedelta(seconds=1))
    expired = requests.post(
        f"{server.url}/ack/{expired_token}", json={"status": "affirmed"}, timeout=10
    )
    assert expired.status_code == 410 and expired.json()["error"]["code"] == "token_expired"
    page = requests.get(f"{server.url}/ack/{expired_token}", timeout=10)
    assert page.status_code == 410 and "expired" in page.text

    (correction,) = _deliver(client, runtime, load_event("trade_corrected"))
    replaced = requests.post(link, json={"status": "disputed", "reason_code": "other"}, timeout=10)
    assert replaced.status_code == 409, replaced.text
    assert replaced.json()["error"]["code"] == "notice_replaced"
    assert replaced.json()["error"]["fields"]["replaced_by"] == [str(correction)]


def test_a_dispute_needs_a_reason_and_escalates(
    app: Flask, runtime: Runtime, webhook_receiver: WebhookReceiver
) -> None:
    client = app.test_client()
    register_client(client, [webhook_channel(webhook_receiver.url)])
    _deliver(client, runtime, load_event("l1_final"))
    (hook,) = webhook_receiver.wait_for(1)
    path = "/ack/" + _token(hook.payload["data"]["ack_url"])
    missing = client.post(path, json={"status": "disputed"})
    assert missing.status_code == 422
    assert "reason_code" in missing.json["error"]["fields"]
    disputed = client.post(
        path, json={"status": "disputed", "reason_code": "wrong_price", "reason": "I paid 10.00"}
    )
    assert disputed.status_code == 200 and disputed.json["status"] == "disputed"
    found = client.get("/v1/notices?kind=escalation", headers=SUPPORT).json["notices"]
    assert len(found) == 1
    escalation = notice_view(client, found[0]["id"])
    assert escalation["variant"] == "disputed"
