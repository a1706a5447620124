"""A finality event becomes a delivered, tracked confirmation through the real parts."""

from __future__ import annotations

from flask import Flask

from tests.conftest import PRODUCER, load_event
from tests.support.flows import register_client, wait_for_status, webhook_channel
from tests.support.receivers import SmtpSink, WebhookReceiver
from tests.support.worker import WorkerProcess


def test_l1_and_l2_confirmations_arrive_by_webhook_and_email(
    live_app: Flask, worker: WorkerProcess, webhook_receiver: WebhookReceiver, smtp_sink: SmtpSink
) -> None:
    client = live_app.test_client()
    register_client(
        client,
        [
            webhook_channel(webhook_receiver.url),
            {"name": "email", "url": smtp_sink.url(), "priority": 1},
        ],
    )
    ids = []
    for name in ("l1_final", "l2_final"):
        response = client.post("/v1/events", json=load_event(name), headers=PRODUCER)
        assert response.status_code == 202, response.json
        ids.extend(response.json["notice_ids"])
    views = [wait_for_status(client, i, {"delivered"}) for i in ids]
    kinds = [v["kind"] for v in views]
    # The client's first Layer-2 notice is preceded by the primer.
    assert kinds == ["confirmation_l1", "primer_l2", "confirmation_l2"]
    hooks = webhook_receiver.wait_for(len(ids))
    mails = smtp_sink.wait_for(len(ids))
    assert all(h.verified for h in hooks)
    assert len({h.headers["webhook-id"] for h in hooks}) == len(ids)
    arrived = [h.payload["data"]["kind"] for h in hooks]
    assert sorted(arrived) == sorted(kinds)
    assert arrived.index("primer_l2") < arrived.index("confirmation_l2")
    subjects = [str(m["Subject"]) for m in mails]
    assert any("settled on Layer-1" in s for s in subjects)
    assert any("final on Layer-2" in s for s in subjects)
    l2_mail = next(m for m in mails if "final on Layer-2" in str(m["Subject"]))
    body = l2_mail.get_body(preferencelist=("plain", "html"))
    assert body is not None
    text = body.get_content()
    # 02:00Z on the 25th is 21:00 on the trade date in New York, the venue: T+0.
    assert "Settled on Layer-2 — final at T+0" in text
    for view in views:
        for delivery in view["deliveries"]:
            assert delivery["status"] == "sent"
            assert [a["outcome"] for a in delivery["attempts"]] == ["sent"]
