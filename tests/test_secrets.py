"""Canary secrets never reach logs, API responses or stored text.

Every kind of secret the service holds is planted with a recognisable value: API keys,
a webhook signing secret, passwords and tokens inside Apprise URLs (client channels and
the support channel). Deliveries are made to fail so error text is produced and stored.
Then the worker's log, the web process's log records, every API answer and every text
column of the database are searched for the canaries.
"""

from __future__ import annotations

import base64
import logging
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from flask import Flask

from notifier.models import Base
from notifier.runtime import Runtime
from tests.conftest import load_event
from tests.support.receivers import SmtpSink, WebhookReceiver, free_port
from tests.support.server import LiveServer
from tests.support.worker import WorkerProcess

CANARY_SIGNING = "whsec_" + base64.b64encode(b"CanarySigningSecret0042").decode()
CANARIES = {
    "admin key": "CanaryAdminKey7391x_padded_to_32_chars_long_ok",
    "producer key": "ntf_CanaryProducerKey5520_padded_to_32_chars_long_ok",
    "support key": "CanarySupportKey8812y_padded_to_32_chars_long_ok",
    "wrong key": "CanaryWrongKey4410z",
    "signing secret": CANARY_SIGNING,
    "signing secret body": "Q2FuYXJ5U2lnbmluZ1NlY3JldDAwNDI",
    "mail password": "CanaryMailPass6631",
    "json password": "CanaryJsonPass2273",
    "header token": "CanaryHeaderTok9902",
    "query token": "CanaryQueryTok1187",
    "support password": "CanarySupportPass5540",
}
ADMIN = {"Authorization": f"Bearer {CANARIES['admin key']}"}
PRODUCER = {"Authorization": f"Bearer {CANARIES['producer key']}"}
SUPPORT = {"Authorization": f"Bearer {CANARIES['support key']}"}


@pytest.fixture
def live_extra() -> dict[str, str]:
    closed = free_port()
    return {
        "NOTIFIER_API_KEYS": (
            f"admin:{CANARIES['admin key']},producer:{CANARIES['producer key']},"
            f"support:{CANARIES['support key']}"
        ),
        "NOTIFIER_SUPPORT_CHANNELS": (
            f"json://ops:{CANARIES['support password']}@127.0.0.1:{closed}/escalations"
        ),
        "NOTIFIER_DELIVERY_MAX_ATTEMPTS": "2",
    }


def _wait_settled(app: Flask, notice_id: int) -> dict[str, Any]:
    client = app.test_client()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        response = client.get(f"/v1/notices/{notice_id}", headers=SUPPORT)
        if response.json["status"] in {"delivered", "partially_delivered", "failed"}:
            return dict(response.json)
        time.sleep(0.2)
    raise AssertionError("the notice never settled")


def _database_text(runtime: Runtime) -> str:
    parts: list[str] = []
    with runtime.db.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            for row in conn.execute(sa.select(table)):
                parts.extend(v.decode("latin-1") if isinstance(v, bytes) else str(v) for v in row)
    return "\n".join(parts)


def test_no_canary_reaches_logs_responses_or_storage(
    live_app: Flask,
    worker: WorkerProcess,
    smtp_sink: SmtpSink,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    receiver = WebhookReceiver(CANARY_SIGNING)
    receiver.start()
    closed = free_port()
    client = live_app.test_client()
    answers: list[str] = []
    try:
        channels = [
            {"name": "hook", "url": receiver.url, "secret": CANARY_SIGNING},
            {
                "name": "badhook",
                "url": f"http://127.0.0.1:{closed}/in?token={CANARIES['query token']}",
                "secret": CANARY_SIGNING,
            },
            {
                "name": "mail",
                "url": f"mailto://mailer:{CANARIES['mail password']}@127.0.0.1:{smtp_sink.port}"
                "?from=ops@example.com&to=client@example.com",
            },
            {
                "name": "chat",
                "url": f"json://bot:{CANARIES['json password']}@127.0.0.1:{closed}/in",
            },
        ]
        # Headers from a URL are refused (issue 12), and the refusal does not repeat them.
        shaped = f"json://127.0.0.1:{closed}/in?+X-Token={CANARIES['header token']}"
        refused = client.put(
            "/v1/clients/acme",
            json={"name": "Acme", "channels": [{"name": "chat", "url": shaped}]},
            headers=ADMIN,
        )
        assert refused.status_code == 422
        answers.append(refused.get_data(as_text=True))
        body = {"name": "Acme", "channels": channels}
        put = client.put("/v1/clients/acme", json=body, headers=ADMIN)
        assert put.status_code == 201, put.json
        answers.append(put.get_data(as_text=True))
        bad = client.post(
            "/v1/events",
            json=load_event("l1_final"),
            headers={"Authorization": f"Bearer {CANARIES['wrong key']}"},
        )
        assert bad.status_code == 401
        answers.append(bad.get_data(as_text=True))
        posted = client.post("/v1/events", json=load_event("l1_final"), headers=PRODUCER)
        assert posted.status_code == 202, posted.json
        answers.append(posted.get_data(as_text=True))
        notice_id = posted.json["notice_ids"][0]
        view = _wait_settled(live_app, notice_id)
        assert view["status"] == "partially_delivered"
        # The failed deliveries did record why they failed.
        errors = [d["last_error"] for d in view["deliveries"] if d["status"] == "failed"]
        assert len(errors) == 3 and all(errors)
        answers.append(client.get("/v1/clients/acme", headers=SUPPORT).get_data(as_text=True))
        answers.append(
            client.get(f"/v1/events/{posted.json['event_id']}", headers=SUPPORT).get_data(
                as_text=True
            )
        )
        answers.append(
            client.get(f"/v1/notices/{notice_id}", headers=SUPPORT).get_data(as_text=True)
        )
        assert len(receiver.delivered()) == 1
    finally:
        receiver.stop()
        worker.stop()

    places = {
        "worker log": worker.log(),
        "web log": caplog.text,
        "API answers": "\n".join(answers),
        "database": _database_text(live_app.extensions["notifier"]),
    }
    # The test can fail: the planted values are really in what we search.
    assert "escalations" in worker.log() or "Notifying" in worker.log()
    leaks = [
        f"{what} in {where}"
        for where, text in places.items()
        for what, canary in CANARIES.items()
        if canary in text
    ]
    assert leaks == []


STATUS_SECRET = "whsec_" + base64.b64encode(b"CanaryStatusSecret0077").decode()


def test_ack_tokens_and_status_webhook_secrets_are_never_logged(
    live_app: Flask,
    worker: WorkerProcess,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    receiver, status = WebhookReceiver(CANARY_SIGNING), WebhookReceiver(STATUS_SECRET)
    server = LiveServer(live_app)  # over real HTTP: the server logs each request's path
    receiver.start()
    status.start()
    server.start()
    client = live_app.test_client()
    try:
        hook_url = f"{status.url}?token={CANARIES['query token']}"
        put = client.put(
            "/v1/status-webhooks/ops",
            json={"url": hook_url, "secret": STATUS_SECRET, "event_types": ["notice.delivered"]},
            headers=ADMIN,
        )
        assert put.status_code == 201, put.json
        shown = client.get("/v1/status-webhooks/ops", headers=ADMIN).get_data(as_text=True)
        channels = [{"name": "hook", "url": receiver.url, "secret": CANARY_SIGNING}]
        client.put("/v1/clients/acme", json={"name": "Acme", "channels": channels}, headers=ADMIN)
        posted = client.post("/v1/events", json=load_event("l1_final"), headers=PRODUCER)
        assert posted.status_code == 202, posted.json
        (hook,) = receiver.wait_for(1)
        status.wait_for(1)
        token = hook.payload["data"]["ack_url"].rsplit("/ack/", 1)[1]
        page = requests.get(f"{server.url}/ack/{token}", timeout=10)
        answer = requests.post(f"{server.url}/ack/{token}", json={"status": "affirmed"}, timeout=10)
        assert page.status_code == 200 and answer.status_code == 200
    finally:
        receiver.stop()
        status.stop()
        server.stop()
        worker.stop()
    logs = {"worker log": worker.log(), "web log": caplog.text}
    assert "/ack/" in caplog.text  # the requests were logged, with the token redacted
    leaks = [
        f"{what} in {where}"
        for where, text in logs.items()
        for what, canary in {"ack token": token, "status secret": STATUS_SECRET}.items()
        if canary in text
    ]
    assert leaks == []
    assert STATUS_SECRET not in shown and CANARIES["query token"] not in shown
    assert STATUS_SECRET not in page.text and token not in answer.text
    assert STATUS_SECRET not in _database_text(live_app.extensions["notifier"])
