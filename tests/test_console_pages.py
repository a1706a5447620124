"""The console's pages and forms through Flask's test client (HTTPS, so the Secure cookie
is sent): search with a date range and paging, bad search input, redeliver, the event and
batch pages, what a logged-out visitor and a stray ``next`` get. The browser journey is
tests/test_console.py.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from notifier.keys import create_key, revoke_key, rotate_key
from notifier.models import AuditEntry, Delivery
from notifier.runtime import Runtime
from notifier.worker import pipeline
from tests.conftest import PRODUCER, SUPPORT_KEY, load_event
from tests.support.flows import register_client, webhook_channel
from tests.support.receivers import WebhookReceiver

BASE = "https://localhost"
TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def _token(page: str) -> str:
    found = TOKEN.search(page)
    assert found, "the form carries a csrf_token"
    return found.group(1)


@pytest.fixture
def console(app: Flask) -> FlaskClient:
    client = app.test_client()
    login = client.get(f"{BASE}/console/login")
    answer = client.post(
        f"{BASE}/console/login?next=//evil.example/x",
        data={"key": SUPPORT_KEY, "csrf_token": _token(login.text)},
    )
    assert answer.status_code == 302
    assert answer.location == "/console", "a next that leaves the console is ignored"
    cookie = answer.headers["Set-Cookie"]
    for flag in ("Secure", "HttpOnly", "SameSite=Strict", "Path=/console"):
        assert flag in cookie
    return client


@pytest.fixture
def seeded(app: Flask, runtime: Runtime, webhook_receiver: WebhookReceiver) -> list[int]:
    api = app.test_client()
    register_client(api, [webhook_channel(webhook_receiver.url)])
    ids: list[int] = []
    for name in ("l1_final", "l2_provisional", "batch_final"):
        ids.extend(
            api.post("/v1/events", json=load_event(name), headers=PRODUCER).json["notice_ids"]
        )
    with app.app_context():
        pipeline.process_notices(runtime, ids)
    return ids


def test_logged_out_visitors_go_to_the_login(app: Flask) -> None:
    client = app.test_client()
    for path in (
        "/console",
        "/console/notices?trade_id=x",
        "/console/notices/1",
        "/console/batches/B",
    ):
        answer = client.get(f"{BASE}{path}")
        assert answer.status_code == 302 and answer.location.startswith("/console/login?next=")


def test_search_with_dates_and_pages(console: FlaskClient, seeded: list[int]) -> None:
    today = datetime.now(UTC).date()
    found = console.get(f"{BASE}/console/notices?from={today}&to={today}")
    assert found.text.count('class="notice-row"') == len(seeded)
    later = console.get(f"{BASE}/console/notices?from={today + timedelta(days=1)}")
    assert 'class="notice-row"' not in later.text
    first = console.get(f"{BASE}/console/notices?limit=1")
    assert first.text.count('class="notice-row"') == 1 and 'id="next-page"' in first.text
    bad = console.get(f"{BASE}/console/notices?from=yesterday&kind=nope")
    assert bad.status_code == 400
    assert "<b>from</b>" in bad.text and "<b>kind</b>" in bad.text, "the page names each field"


def test_redeliver_from_the_notice_page(
    console: FlaskClient, runtime: Runtime, seeded: list[int]
) -> None:
    notice_id = seeded[0]
    page = console.get(f"{BASE}/console/notices/{notice_id}")
    with runtime.db.session() as session:
        delivery_id = session.scalar(select(Delivery.id).where(Delivery.notice_id == notice_id))
    answer = console.post(
        f"{BASE}/console/deliveries/{delivery_id}/redeliver",
        data={
            "reason": "client fixed their endpoint",
            "notice_id": notice_id,
            "csrf_token": _token(page.text),
        },
        follow_redirects=True,
    )
    assert answer.status_code == 200 and "The delivery was queued again." in answer.text
    with runtime.db.session() as session:
        entry = session.scalar(
            select(AuditEntry).where(
                AuditEntry.subject_id == delivery_id, AuditEntry.action == "redeliver"
            )
        )
    assert entry is not None and entry.actor == "support-key (console)"
    again = console.post(
        f"{BASE}/console/deliveries/{delivery_id}/redeliver",
        data={"reason": "twice", "notice_id": notice_id, "csrf_token": _token(page.text)},
        follow_redirects=True,
    )
    assert "still on its way" in again.text, "the service's refusal is shown, not a 500"


def test_event_and_batch_pages(console: FlaskClient, seeded: list[int]) -> None:
    event = load_event("l2_provisional")
    page = console.get(f"{BASE}/console/events/{event['event_id']}")
    assert page.status_code == 200 and event["trade"]["trade_id"] in page.text
    batch_id = load_event("batch_final")["batch"]["batch_id"]
    batch = console.get(f"{BASE}/console/batches/{batch_id}")
    assert batch.status_code == 200 and event["trade"]["trade_id"] in batch.text
    assert console.get(f"{BASE}/console/batches/NOPE").status_code == 404
    assert console.get(f"{BASE}/console/notices/999999").status_code == 404
    assert console.get(f"{BASE}/console/events/nope").status_code == 404


def test_language_is_remembered_for_the_session(console: FlaskClient) -> None:
    assert "Abmelden" in console.get(f"{BASE}/console?lang=de").text
    assert "Abmelden" in console.get(f"{BASE}/console/notices").text


def test_a_broken_support_text_does_not_break_the_notice_page(
    console: FlaskClient,
    runtime: Runtime,
    seeded: list[int],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    support = tmp_path / "templates" / "support"
    support.mkdir(parents=True)
    (support / "canned_ok.txt").write_text("{#- title: Fine -#}\nDear {{ client.name }}\n")
    (support / "canned_typo.txt").write_text("{#- title: Typo -#}\n{{ notice.no_such_fact }}\n")
    monkeypatch.setattr(
        runtime, "settings", replace(runtime.settings, templates_dir=tmp_path / "templates")
    )
    page = console.get(f"{BASE}/console/notices/{seeded[0]}")
    assert page.status_code == 200
    assert "Dear Acme Capital" in page.text
    assert "canned_typo.txt cannot be filled in" in page.text


def test_a_revoked_or_rotated_key_ends_its_console_session_at_once(
    app: Flask, runtime: Runtime
) -> None:
    def logged_in(key: str) -> FlaskClient:
        client = app.test_client()
        login = client.get(f"{BASE}/console/login")
        answer = client.post(
            f"{BASE}/console/login", data={"key": key, "csrf_token": _token(login.text)}
        )
        assert answer.status_code == 302, "the key logs in"
        assert client.get(f"{BASE}/console").status_code == 200
        return client

    client = logged_in(create_key(runtime, "carol", "support"))
    revoke_key(runtime, "carol")
    answer = client.get(f"{BASE}/console")
    assert answer.status_code == 302 and answer.location.startswith("/console/login")

    client = logged_in(create_key(runtime, "dave", "support"))
    rotate_key(runtime, "dave")
    answer = client.get(f"{BASE}/console/notices")
    assert answer.status_code == 302 and answer.location.startswith("/console/login")
