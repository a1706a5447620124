"""The acknowledgement link in headless Chromium, as a client would use it on a phone.

The link is taken from the confirmation mail an aiosmtpd server received; the page is
served by the real app over HTTP. One client (en) affirms; another (ja) disputes with a
reason, and the escalation reaches the support channel. Both pages are checked at 375 px.
Screenshots go to ``docs/screenshots/ack-*.png`` with ``NOTIFIER_WRITE_SCREENSHOTS=1``,
else to the test's tmp_path. Chromium missing is a failure, not a skip.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from notifier.api.app import create_app
from notifier.config import PROJECT_ROOT, load_settings
from notifier.runtime import Runtime
from notifier.worker import pipeline
from tests.conftest import PRODUCER, SUPPORT, load_event, make_env
from tests.support.browser import Browser, PageReport, Viewport
from tests.support.flows import notice_view, register_client
from tests.support.receivers import SmtpSink, WebhookReceiver, free_port
from tests.support.server import LiveServer

pytestmark = pytest.mark.timeout(120)

PHONE_375 = Viewport("phone", 375, 812, 2.0, mobile=True)
SCREENSHOTS_DIR = PROJECT_ROOT / "docs" / "screenshots"
WRITE_SCREENSHOTS = os.environ.get("NOTIFIER_WRITE_SCREENSHOTS") == "1"
LINK = re.compile(r"https?://\S+/ack/[A-Za-z0-9_.\-]+")


@pytest.fixture
def support_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(None)  # support channels are configured URLs, unsigned
    receiver.start()
    yield receiver
    receiver.stop()


@pytest.fixture
def site(
    tmp_path: Path, db_url: str, support_receiver: WebhookReceiver
) -> Iterator[tuple[Flask, LiveServer]]:
    """The app served on a port chosen first, so the links it sends point at it."""
    port = free_port()
    env = make_env(
        tmp_path / "var",
        db_url,
        NOTIFIER_ENQUEUE="0",
        NOTIFIER_PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
        NOTIFIER_SUPPORT_CHANNELS=support_receiver.url,
    )
    app = create_app(load_settings(env))
    runtime: Runtime = app.extensions["notifier"]
    runtime.db.upgrade()
    live = LiveServer(app, port)
    live.start()
    yield app, live
    live.stop()
    runtime.db.dispose()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    with Browser(tmp_path) as opened:
        yield opened


def _ja_event() -> dict[str, Any]:
    event = copy.deepcopy(load_event("l1_final"))
    event["event_id"] = "evt-l1-final-kaito"
    event["trade"]["trade_id"] = "T-KAITO-1"
    event["trade"]["client_id"] = "kaito"
    return event


def _mailed_link(
    app: Flask, smtp_sink: SmtpSink, event: dict[str, Any], count: int
) -> tuple[int, str]:
    """Post the event, deliver its confirmation by mail, return its id and the mail's link."""
    client = app.test_client()
    response = client.post("/v1/events", json=event, headers=PRODUCER)
    (notice_id,) = response.json["notice_ids"]
    pipeline.process_notices(app.extensions["notifier"], [notice_id])
    mail = smtp_sink.wait_for(count)[-1]
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None
    found = LINK.search(body.get_content())
    assert found, "no acknowledgement link in the mail"
    return notice_id, found[0]


def _check_phone(report: PageReport, lang: str) -> None:
    assert report.lang == lang
    assert report.scroll_width <= PHONE_375.width, report.overflowing
    assert report.overflowing == []
    assert "{{" not in report.text and "None" not in report.text


def _submit(browser: Browser, button: str) -> PageReport:
    """Press a form button and wait (bounded) for the answer page: a click does not wait."""
    browser.driver.find_element(By.ID, button).click()
    WebDriverWait(browser.driver, 20).until(
        lambda driver: (
            driver.find_elements(By.ID, "ack-state") or driver.find_elements(By.ID, "ack-error")
        )
    )
    return browser.inspect(PHONE_375)


def _shoot(browser: Browser, name: str, tmp_path: Path) -> None:
    directory = SCREENSHOTS_DIR if WRITE_SCREENSHOTS else tmp_path
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"ack-{name}.png").write_bytes(browser.screenshot(PHONE_375))


def test_affirm_in_english_and_dispute_in_japanese_on_a_phone(
    site: tuple[Flask, LiveServer],
    smtp_sink: SmtpSink,
    support_receiver: WebhookReceiver,
    browser: Browser,
    tmp_path: Path,
) -> None:
    app, _live = site
    client = app.test_client()
    register_client(client, [{"name": "email", "url": smtp_sink.url("acme@example.com")}])
    register_client(
        client,
        [{"name": "email", "url": smtp_sink.url("kaito@example.jp")}],
        client_id="kaito",
        name="Kaito Asset Management",
        locale="ja_JP",
        timezone="Asia/Tokyo",
    )

    final, link = _mailed_link(app, smtp_sink, load_event("l1_final"), 1)
    report = browser.visit(link, PHONE_375)
    _check_phone(report, "en")
    assert "Affirm or dispute your trade confirmation" in report.h1
    assert "T-20261124-0001" in report.text
    _shoot(browser, "en", tmp_path)
    after = _submit(browser, "affirm")
    assert "You affirmed this confirmation" in after.text
    _check_phone(after, "en")
    _shoot(browser, "en-affirmed", tmp_path)
    view = notice_view(client, final)
    assert view["status"] == "acknowledged"
    (entry,) = [e for e in view["timeline"] if e["to"] == "acknowledged"]
    assert entry["actor"] == "client:acme" and "via link" in entry["reason"]

    disputed, link = _mailed_link(app, smtp_sink, _ja_event(), 2)
    report = browser.visit(link, PHONE_375)
    _check_phone(report, "ja")
    assert "取引確認書の承認または異議申し立て" in report.h1
    _shoot(browser, "ja", tmp_path)
    Select(browser.driver.find_element(By.ID, "reason_code")).select_by_value("wrong_price")
    browser.driver.find_element(By.ID, "reason").send_keys("Price should be 187.40")
    after = _submit(browser, "dispute")
    assert "異議を申し立てました" in after.text
    _check_phone(after, "ja")
    _shoot(browser, "ja-disputed", tmp_path)
    assert notice_view(client, disputed)["status"] == "disputed"

    found = client.get("/v1/notices?kind=escalation", headers=SUPPORT).json["notices"]
    (escalation,) = [n["id"] for n in found]
    pipeline.process_notices(app.extensions["notifier"], [escalation])
    (hook,) = support_receiver.wait_for(1)
    data = hook.payload["data"]
    assert data["cause"] == "disputed"
    assert data["reason"] == {"code": "wrong_price", "text": "Price should be 187.40"}
    assert data["affected"][0]["trade_id"] == "T-KAITO-1"
