"""The support console in headless Chromium (issue 10, Done-when 2).

Seeded with real events through the API, rendered and delivered by the real pipeline to a
real webhook receiver (and to a closed port, for a failing channel), then driven as an
operator would: log in, read the dashboard, find a notice by trade id, see its HTML,
resend it with a reason, use a canned response, log out. A form post without its CSRF
token is refused and a producer key cannot log in. Screenshots of the dashboard and the
notice page go to ``docs/screenshots/`` with ``NOTIFIER_WRITE_SCREENSHOTS=1``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait
from sqlalchemy import func, select

from notifier.config import PROJECT_ROOT
from notifier.models import AuditEntry, Delivery, Notice
from notifier.runtime import Runtime
from notifier.worker import pipeline
from tests.conftest import PRODUCER, PRODUCER_KEY, SUPPORT_KEY, load_event
from tests.support.browser import DESKTOP, Browser, missing_browser
from tests.support.flows import register_client, webhook_channel
from tests.support.receivers import WebhookReceiver
from tests.support.server import LiveServer

pytestmark = pytest.mark.timeout(120)

SCREENSHOTS_DIR = PROJECT_ROOT / "docs" / "screenshots"
WRITE_SCREENSHOTS = os.environ.get("NOTIFIER_WRITE_SCREENSHOTS") == "1"
L1_TRADE = load_event("l1_final")["trade"]["trade_id"]
WAIT_SECONDS = 15


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    problem = missing_browser()
    if problem:
        pytest.fail(problem, pytrace=False)
    profile = tmp_path / "chromium"
    profile.mkdir()
    with Browser(profile) as running:
        running.driver.set_window_size(DESKTOP.width, DESKTOP.height)
        yield running


def _closed_port() -> int:
    """A port nothing listens on: deliveries to it fail with 'connection refused'."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def seed(app: Flask, runtime: Runtime, receiver: WebhookReceiver) -> dict[str, Any]:
    """Two clients: acme's webhook works, bravo's is down. L1 and L2 trades and a batch."""
    client = app.test_client()
    register_client(client, [webhook_channel(receiver.url)])
    down = f"http://127.0.0.1:{_closed_port()}/hook"
    register_client(client, [webhook_channel(down)], client_id="bravo", name="Bravo Fund")
    bravo_event = load_event("l1_final", event_id="evt-bravo-0001")
    bravo_event["trade"] = bravo_event["trade"] | {"trade_id": "T-BRAVO-1", "client_id": "bravo"}
    ids: list[int] = []
    for body in (
        load_event("l1_final"),
        load_event("l2_provisional"),
        load_event("batch_final"),
        bravo_event,
    ):
        answer = client.post("/v1/events", json=body, headers=PRODUCER)
        assert answer.status_code in (200, 201, 202), answer.json
        ids.extend(answer.json["notice_ids"])
    with app.app_context():
        pipeline.process_notices(runtime, ids)
    receiver.wait_for(1)
    return {"notice_ids": ids, "batch_id": load_event("batch_final")["batch"]["batch_id"]}


def _count(runtime: Runtime, *where: Any) -> int:
    with runtime.db.session() as session:
        return session.scalar(select(func.count()).select_from(Notice).where(*where)) or 0


def _text(driver: WebDriver, css: str) -> str:
    return str(driver.find_element(By.CSS_SELECTOR, css).text).strip()


def _wait_for(driver: WebDriver, css: str) -> None:
    WebDriverWait(driver, WAIT_SECONDS).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, css), f"no {css} on {driver.current_url}"
    )


def _log_in(driver: WebDriver, base: str, key: str) -> None:
    driver.get(f"{base}/console")
    assert driver.current_url.startswith(f"{base}/console/login"), "logged out: to the login"
    driver.find_element(By.NAME, "key").send_keys(key)
    driver.find_element(By.ID, "login").click()


def _shot(driver: WebDriver, browser: Browser, name: str, tmp_path: Path) -> None:
    target = SCREENSHOTS_DIR if WRITE_SCREENSHOTS else tmp_path
    target.mkdir(parents=True, exist_ok=True)
    png = browser.screenshot(DESKTOP)
    assert png.startswith(b"\x89PNG")
    (target / name).write_bytes(png)


def test_console_end_to_end(
    app: Flask,
    runtime: Runtime,
    server: LiveServer,
    webhook_receiver: WebhookReceiver,
    browser: Browser,
    tmp_path: Path,
) -> None:
    seeded = seed(app, runtime, webhook_receiver)
    driver, base = browser.driver, server.url

    _log_in(driver, base, SUPPORT_KEY)
    _wait_for(driver, "#notices-by-state")
    _check_dashboard(driver, runtime)
    _shot(driver, browser, "console-dashboard.png", tmp_path)

    # Find the L1 notice by its trade id, open it, and see the HTML the client got.
    driver.get(f"{base}/console/notices")
    driver.find_element(By.ID, "trade_id").send_keys(L1_TRADE)
    driver.find_element(By.ID, "search-button").click()
    _wait_for(driver, "tr.notice-row")
    rows = driver.find_elements(By.CSS_SELECTOR, "tr.notice-row")
    assert len(rows) == _count(runtime, Notice.trade_id == L1_TRADE) >= 1
    notice_id = int(rows[-1].get_attribute("data-notice-id") or 0)
    rows[-1].find_element(By.TAG_NAME, "a").click()
    _wait_for(driver, "#notice-html")
    assert _text(driver, "#notice-status") == "delivered"
    frame = driver.find_element(By.ID, "notice-html")
    assert frame.get_attribute("sandbox") == "", "the client's HTML runs with no permissions"
    driver.switch_to.frame(frame)
    assert L1_TRADE in driver.find_element(By.TAG_NAME, "body").text
    driver.switch_to.default_content()
    _use_canned_response(driver)
    _shot(driver, browser, "console-notice.png", tmp_path)

    copy_id = _resend(driver, runtime, notice_id)
    driver.get(f"{base}/console/batches/{seeded['batch_id']}")
    _wait_for(driver, "#batch-trades")
    assert _text(driver, "#batch-status") == "final"

    driver.find_element(By.ID, "logout").click()
    _wait_for(driver, "input[name=key]")
    driver.get(f"{base}/console/notices/{copy_id}")
    assert "/console/login" in driver.current_url, "logged out: the session is gone"


def _check_dashboard(driver: WebDriver, runtime: Runtime) -> None:
    """The dashboard's numbers are the database's."""

    def shown(name: str) -> int:
        cell = driver.find_element(By.CSS_SELECTOR, f'[data-count="{name}"]')
        return int(cell.text.replace(",", ""))

    for status in ("delivered", "delivering", "failed", "pending"):
        assert shown(f"notices-hour-{status}") == _count(runtime, Notice.status == status)
    assert shown("notices-hour-delivered") >= 3, "acme's notices were delivered"
    assert shown("batches-final") == 1
    assert shown("batch-trades-final") == 1, "the L2 trade settles in the final batch"
    with runtime.db.session() as session:
        retrying = session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.status == "retrying")
        )
    assert retrying and shown("retrying-bravo-hook") == retrying, "bravo's channel is failing"
    assert shown("unaffirmed") >= 2, "delivered confirmations, none affirmed yet"
    bars = driver.find_elements(By.CSS_SELECTOR, "#plot-deliveries rect[data-outcome=sent]")
    assert sum(int(b.get_attribute("data-count") or 0) for b in bars) >= 3
    assert driver.find_elements(By.CSS_SELECTOR, "#plot-latency polyline[data-series=p99_ms]")


def _use_canned_response(driver: WebDriver) -> None:
    choice = Select(driver.find_element(By.ID, "canned-choice"))
    choice.select_by_value("canned_copy_resent")
    area = driver.find_element(By.CSS_SELECTOR, 'textarea[data-name="canned_copy_resent"]')
    assert area.is_displayed()
    assert L1_TRADE in area.get_attribute("value") and "Acme Capital" in area.get_attribute("value")
    driver.find_element(By.ID, "copy-canned").click()
    WebDriverWait(driver, WAIT_SECONDS).until(
        lambda d: d.find_element(By.ID, "copy-status").text.strip(), "nothing said after copy"
    )
    assert _text(driver, "#copy-status") == "Copied."


def _resend(driver: WebDriver, runtime: Runtime, notice_id: int) -> int:
    """Resend with a reason: the new notice's page opens; the reason is audited."""
    reason = "Client's back office lost the original"
    driver.find_element(By.ID, "resend-reason").send_keys(reason)
    driver.find_element(By.ID, "resend").click()
    _wait_for(driver, "#resend-of")
    copy_id = int(driver.current_url.rstrip("/").rsplit("/", 1)[1])
    assert copy_id != notice_id
    assert _text(driver, "#resend-of") == f"N-{notice_id}"
    assert reason in _text(driver, "#timeline"), "the copy's timeline shows the reason"
    with runtime.db.session() as session:
        entry = session.scalar(
            select(AuditEntry).where(
                AuditEntry.subject_id == notice_id, AuditEntry.action == "resend"
            )
        )
    assert entry is not None and reason in (entry.reason or "")
    assert entry.actor == "support-key (console)"
    driver.find_element(By.ID, "resend-of").click()
    _wait_for(driver, "tr.audit-resend")
    return copy_id


def test_producer_key_and_csrf_less_posts_are_refused(
    app: Flask, runtime: Runtime, server: LiveServer, browser: Browser
) -> None:
    driver, base = browser.driver, server.url
    _log_in(driver, base, PRODUCER_KEY)
    _wait_for(driver, "#login-refused")
    assert "/console/login" in driver.current_url

    # A login form posted without its token is refused before the key is looked at.
    status = driver.execute_async_script(
        _POST_WITHOUT_TOKEN, "/console/login", f"key={SUPPORT_KEY}"
    )
    assert status == 400

    _log_in(driver, base, SUPPORT_KEY)
    _wait_for(driver, "#notices-by-state")
    status = driver.execute_async_script(
        _POST_WITHOUT_TOKEN, "/console/notices/1/resend", "reason=forged"
    )
    assert status == 400, "a logged-in operator's form without its CSRF token is refused"
    with runtime.db.session() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == 0


# Post a form from the page itself (same origin, with the session cookie), no csrf_token.
_POST_WITHOUT_TOKEN = """
const [path, body, done] = arguments;
fetch(path, {method: "POST", body: body, redirect: "manual",
  headers: {"Content-Type": "application/x-www-form-urlencoded"}})
  .then((r) => done(r.status), () => done(-1));
"""


@pytest.mark.parametrize(
    ("accept", "wanted"),
    [("de-DE,de;q=0.9", "Anmelden"), ("ja", "ログイン"), ("fr", "Se connecter"), ("xx", "Log in")],
)
def test_login_page_speaks_the_operators_language(app: Flask, accept: str, wanted: str) -> None:
    page = app.test_client().get("/console/login", headers={"Accept-Language": accept})
    assert page.status_code == 200
    assert f'id="login">{wanted}</button>' in page.text
    assert page.headers["Cache-Control"] == "no-store"


def test_every_console_message_is_translated() -> None:
    from notifier.rendering.catalogs import CONSOLE_DOMAIN, po_path, read_catalog

    locales = PROJECT_ROOT / "locales"
    wanted = {m.id for m in read_catalog(locales / "console.pot", domain=CONSOLE_DOMAIN) if m.id}
    for lang in ("de", "fr", "es", "ja"):
        catalog = read_catalog(po_path(locales, lang, CONSOLE_DOMAIN), lang, CONSOLE_DOMAIN)
        done = {m.id for m in catalog if m.id and m.string and not m.fuzzy}
        assert wanted - done == set(), f"{lang}: untranslated console messages"
