"""Superseded means never sent: a notice replaced before it went out stays unsent.

Each case posts a notice and, before the worker saw it, the event that replaces it; then
the real worker runs. Issue 6 saw the replaced notice go out ~14 s later through the relay
as a webhook with ``subject``/``text``/``html``/``markdown`` all null, and the replacement
read 'The confirmation "None" (notice 21 …) is void'.
"""

from __future__ import annotations

import json
from email.message import EmailMessage
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from notifier.runtime import Runtime
from notifier.worker import pipeline
from notifier.worker.relay import find_due_work
from tests.conftest import PRODUCER, load_event
from tests.support.flows import (
    notice_view,
    register_client,
    run_fanout,
    wait_for_status,
    webhook_channel,
)
from tests.support.receivers import SmtpSink, WebhookReceiver
from tests.support.worker import WorkerProcess


def _post(client: FlaskClient, event: dict[str, Any]) -> list[int]:
    response = client.post("/v1/events", json=event, headers=PRODUCER)
    assert response.status_code == 202, response.json
    return list(response.json["notice_ids"])


def _final_then_cancellation(client: FlaskClient, worker: WorkerProcess) -> tuple[int, int]:
    worker.kill()
    (final,) = _post(client, load_event("l1_final"))
    (cancellation,) = _post(client, load_event("trade_cancelled"))
    return final, cancellation


def _provisional_then_batch_failed(client: FlaskClient, worker: WorkerProcess) -> tuple[int, int]:
    worker.kill()
    _primer, provisional = _post(client, load_event("l2_provisional"))
    failed = load_event("batch_failed")
    # The POST stores the event; its per-trade notices are the fan-out's (issue 8), run
    # here in-process while the worker is down.
    assert _post(client, failed) == []
    runtime: Runtime = client.application.extensions["notifier"]
    reversal, _escalation = run_fanout(runtime, failed["event_id"])
    return provisional, reversal


def _correction_then_cancellation(client: FlaskClient, worker: WorkerProcess) -> tuple[int, int]:
    (final,) = _post(client, load_event("l1_final"))
    wait_for_status(client, final, {"delivered"})
    worker.kill()
    (correction,) = _post(client, load_event("trade_corrected"))
    (cancellation,) = _post(client, load_event("trade_cancelled"))
    return correction, cancellation


CASES = {
    "final-then-cancellation": _final_then_cancellation,
    "provisional-then-batch-failed": _provisional_then_batch_failed,
    "correction-then-cancellation": _correction_then_cancellation,
}


def _assert_all_filled(hooks: list[dict[str, Any]], mails: list[EmailMessage]) -> None:
    """No receiver ever got an empty or null subject or body, or the text "None"."""
    for payload in hooks:
        data = payload["data"]
        for key in ("subject", "text", "html", "markdown"):
            assert isinstance(data[key], str) and data[key].strip(), (key, payload)
        assert "None" not in json.dumps(payload), payload
    for mail in mails:
        assert str(mail["Subject"]).strip() and "None" not in str(mail["Subject"])
        for part in mail.walk():
            if part.get_content_maintype() == "text":
                content = part.get_content()
                assert content.strip() and "None" not in content, content


@pytest.mark.parametrize("case", list(CASES))
def test_a_notice_replaced_before_it_was_sent_is_never_sent(
    live_app: Flask,
    worker: WorkerProcess,
    webhook_receiver: WebhookReceiver,
    smtp_sink: SmtpSink,
    case: str,
) -> None:
    client = live_app.test_client()
    runtime: Runtime = live_app.extensions["notifier"]
    register_client(
        client,
        [
            webhook_channel(webhook_receiver.url),
            {"name": "email", "url": smtp_sink.url(), "priority": 1},
        ],
    )
    replaced, replacement = CASES[case](client, worker)

    # In the same transaction that replaced it, every unsent delivery was skipped.
    view = notice_view(client, replaced)
    assert view["status"] == "superseded"
    assert [d["status"] for d in view["deliveries"]] == ["skipped", "skipped"]
    for delivery in view["deliveries"]:
        assert delivery["status_reason"] and "replaced" in delivery["status_reason"]
    skips = [e for e in view["timeline"] if e["to"] == "skipped"]
    assert len(skips) == 2 and all(e["reason"] for e in skips)

    worker.start()
    wait_for_status(client, replacement, {"delivered"})
    # Neither the relay, nor deliver, nor process_notices picks the replaced notice up.
    delivery_ids = [d["id"] for d in view["deliveries"]]
    assert not set(find_due_work(runtime).delivery_ids) & set(delivery_ids)
    with live_app.app_context():
        for delivery_id in delivery_ids:
            assert pipeline.deliver(runtime, delivery_id).retries == []
        pipeline.process_notices(runtime, [replaced])
    after = notice_view(client, replaced)
    assert [d["status"] for d in after["deliveries"]] == ["skipped", "skipped"]
    assert all(d["attempts"] == [] for d in after["deliveries"])

    hooks = [h.payload for h in webhook_receiver.requests]
    assert replaced not in [h["data"]["notice_id"] for h in hooks]
    _assert_all_filled(hooks, smtp_sink.messages)
    # The replacement names what the client saw, not an internal id.
    text = notice_view(client, replacement)
    shown = " ".join(str(text[k]) for k in ("subject", "text", "html", "markdown"))
    assert f"notice {replaced}" not in shown
    assert "T-2026112" in shown


def test_a_cancellation_racing_the_worker_never_lets_an_empty_notice_out(
    live_app: Flask, worker: WorkerProcess, webhook_receiver: WebhookReceiver, smtp_sink: SmtpSink
) -> None:
    """The issue's own steps: final, then at once the cancellation, with the worker running.

    Whichever wins, the final either went out whole or not at all, and the cancellation
    tells the truth about which.
    """
    client = live_app.test_client()
    register_client(
        client,
        [
            webhook_channel(webhook_receiver.url),
            {"name": "email", "url": smtp_sink.url(), "priority": 1},
        ],
    )
    (final,) = _post(client, load_event("l1_final"))
    (cancellation,) = _post(client, load_event("trade_cancelled"))
    done = wait_for_status(client, cancellation, {"delivered"})
    view = notice_view(client, final)
    assert view["status"] == "superseded"
    for delivery in view["deliveries"]:
        assert delivery["status"] in {"sent", "skipped"}, delivery
        if delivery["status"] == "skipped":
            assert delivery["status_reason"]
    hooks = [h.payload for h in webhook_receiver.requests]
    _assert_all_filled(hooks, smtp_sink.messages)
    went_out = any(d["status"] == "sent" for d in view["deliveries"])
    named = view["subject"] is not None and view["subject"] in done["text"]
    assert named == went_out
    assert ("not yet sent you" in done["text"]) != went_out
