"""Email as a mail client expects it, read back from a real aiosmtpd server.

One ``multipart/alternative`` message: the notice's own text body and its own HTML body
(neither converted from the other), a ``Message-ID`` that stays the same when a delivery
is retried, and ``From`` with the configured display name.
"""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

import pytest
from flask import Flask

from notifier.delivery import channels
from notifier.models import Notice
from notifier.runtime import Runtime
from tests.conftest import PRODUCER, load_event
from tests.support.flows import register_client, wait_for_status
from tests.support.receivers import SmtpSink
from tests.support.worker import WorkerProcess

SENDER = "Northwind Confirmations"
HOSTILE = "<script>alert(1)</script>"


@pytest.fixture
def live_extra() -> dict[str, str]:
    return {"NOTIFIER_EMAIL_FROM_NAME": SENDER, "NOTIFIER_DELIVERY_MAX_ATTEMPTS": "4"}


def _parts(mail: EmailMessage) -> dict[str, str]:
    """The alternative parts by content type, with SMTP's CRLF line ends undone."""
    assert mail.get_content_type() == "multipart/alternative"
    parts = list(mail.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    return {
        p.get_content_type(): str(p.get_content()).replace("\r\n", "\n")  # type: ignore[attr-defined]
        for p in parts
    }


def _stored(app: Flask, notice_id: int) -> Notice:
    runtime: Runtime = app.extensions["notifier"]
    with runtime.db.session() as session:
        notice = session.get(Notice, notice_id)
        assert notice is not None
        session.expunge(notice)
        return notice


def _post(app: Flask, smtp_sink: SmtpSink, **trade_changes: Any) -> int:
    client = app.test_client()
    register_client(client, [{"name": "email", "url": smtp_sink.url(), "priority": 0}])
    event = load_event("l1_final")
    event["trade"].update(trade_changes)
    response = client.post("/v1/events", json=event, headers=PRODUCER)
    assert response.status_code == 202, response.json
    (notice_id,) = response.json["notice_ids"]
    return int(notice_id)


def test_mail_carries_the_stored_text_and_html_bodies(
    live_app: Flask, worker: WorkerProcess, smtp_sink: SmtpSink
) -> None:
    instrument = dict(load_event("l1_final")["trade"]["instrument"], name=f"Acme {HOSTILE}")
    notice_id = _post(live_app, smtp_sink, instrument=instrument)
    wait_for_status(live_app.test_client(), notice_id, {"delivered"})
    (mail,) = smtp_sink.wait_for(1)
    stored = _stored(live_app, notice_id)
    parts = _parts(mail)
    assert parts["text/plain"] == stored.body_text
    assert parts["text/html"] == stored.body_html
    assert str(mail["Subject"]) == stored.subject
    # The producer's markup arrives as text in the HTML part, never as markup.
    assert "<script" not in parts["text/html"]
    assert "Acme &lt;script&gt;alert(1)&lt;/script&gt;" in parts["text/html"]
    assert f"Acme {HOSTILE}" in parts["text/plain"]
    (sender,) = mail["From"].addresses
    assert (sender.display_name, sender.addr_spec) == (SENDER, "confirmations@example.com")
    assert mail["Message-ID"] and mail["Date"]


def test_a_retried_mail_keeps_its_message_id(
    live_app: Flask, worker: WorkerProcess, smtp_sink: SmtpSink
) -> None:
    smtp_sink.refuse_next(1)  # the first attempt gets "451 try again later"
    notice_id = _post(live_app, smtp_sink)
    view = wait_for_status(live_app.test_client(), notice_id, {"delivered", "failed"})
    assert view["status"] == "delivered"
    (delivery,) = view["deliveries"]
    assert [a["outcome"] for a in delivery["attempts"]] == ["failed", "sent"]
    (refused,) = smtp_sink.refused
    (mail,) = smtp_sink.wait_for(1)
    assert mail["Message-ID"] == refused["Message-ID"]
    assert mail["Message-ID"] == f"<{delivery['webhook_id']}@example.com>"
    assert _parts(mail) == _parts(refused)


def test_send_builds_one_mime_message_on_any_apprise_2(smtp_sink: SmtpSink) -> None:
    """The wrapper alone, without the worker: what the delivery layer hands to SMTP."""
    message = channels.Message(
        subject="Trade confirmation T-1 · Buy 1 ACME",
        text="Plain body — ünïcode\n",
        html="<!doctype html><p>HTML body — ünïcode</p>\n",
        markdown="**Markdown body**\n",
        payload={},
    )
    outcome = channels.send(
        smtp_sink.url(), message, message_id="msg_0123456789abcdef", sender_name="Desk"
    )
    assert outcome.ok, outcome.error
    (mail,) = smtp_sink.wait_for(1)
    assert _parts(mail) == {"text/plain": message.text, "text/html": message.html}
    assert mail["Message-ID"] == "<msg_0123456789abcdef@example.com>"
    assert str(mail["From"]) == "Desk <confirmations@example.com>"
    assert str(mail["To"]) == "client@example.com"


def test_non_latin_bodies_and_subjects_arrive_intact(smtp_sink: SmtpSink) -> None:
    line = "取引確認書 — レイヤー2で確定。流動性バッファー 2,500,000.00 米ドル。" * 3
    message = channels.Message(
        subject="取引確認書 T-20261124-0003 · 買付 1,500 ACME — レイヤー2で確定",
        text=f"{line}\n{line}\n",
        html=f"<!doctype html><p>{line}</p>\n",
        markdown="-\n",
        payload={},
    )
    assert channels.send(smtp_sink.url(), message, message_id="msg_ja", sender_name="北風").ok
    (mail,) = smtp_sink.wait_for(1)
    assert str(mail["Subject"]) == message.subject
    assert _parts(mail) == {"text/plain": message.text, "text/html": message.html}
    assert mail["From"].addresses[0].display_name == "北風"


def test_a_display_name_in_the_channel_url_wins(smtp_sink: SmtpSink) -> None:
    url = smtp_sink.url() + "&name=Acme%20Desk"
    message = channels.Message("S", "text\n", "<p>html</p>\n", "md\n", {})
    assert channels.send(url, message, message_id="msg_1", sender_name="Firm").ok
    (mail,) = smtp_sink.wait_for(1)
    assert mail["From"].addresses[0].display_name == "Acme Desk"
