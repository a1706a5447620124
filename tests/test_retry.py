"""Retries outlast an outage and stop at the deadline; 410 disables, Retry-After is honoured.

Issue 6: with the old defaults attempts ran at +0, +1.9, +5.3, +9.4, +21.4 s and then the
delivery failed, so a receiver down for 60 s lost 186-190 of 400 notices, and each failed
notice raised its own escalation (439 for one outage).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from notifier.api.app import create_app
from notifier.config import Settings, load_settings
from notifier.models import Channel, Delivery
from notifier.retry import DEFAULT_SCHEDULE, RetryPolicy, parse_retry_after
from notifier.runtime import Runtime
from notifier.tools.replay import FixedClock
from notifier.worker import pipeline
from tests.conftest import ADMIN, PRODUCER, SUPPORT, load_event
from tests.support.flows import notice_view, register_client, wait_for_status, webhook_channel
from tests.support.receivers import WebhookReceiver
from tests.support.worker import WorkerProcess

T0 = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


# --- the policy ------------------------------------------------------------------------


def test_the_default_schedule_is_svix_like_and_outlasts_an_outage() -> None:
    policy = RetryPolicy(jitter=0)
    waits = [policy.delay(n) for n in range(1, policy.max_attempts)]
    assert waits == [5, 300, 1800, 7200, 18000, 36000, 36000]
    assert tuple(waits) == DEFAULT_SCHEDULE
    # With the most jitter, the waits before the last attempt still add up to over 20 h.
    shortest = RetryPolicy()
    lowest = [w * (1 - shortest.jitter) for w in waits]
    assert sum(lowest[:2]) > 60, "a 60 s outage is outlasted by the second retry"
    assert sum(lowest) > 20 * 3600
    for n in range(1, shortest.max_attempts):
        assert lowest[n - 1] <= shortest.delay(n) <= waits[n - 1]
    assert load_settings({"NOTIFIER_SECRET_KEY": "x6k4bYpD1mW2vYk0oQp3b8N5m9cL7a1sT0uV2wX3yZ4="})


def test_exhaustion_waits_for_the_deadline_and_the_last_try_lands_on_it() -> None:
    policy = RetryPolicy(jitter=0)
    assert not policy.exhausted(7, T0, None)
    assert policy.exhausted(8, T0, None)
    deadline = T0 + timedelta(days=3)
    # A confirmation is not given up while its deadline is ahead, however many attempts.
    assert not policy.exhausted(50, T0, deadline)
    assert policy.exhausted(50, deadline, deadline)
    assert not policy.exhausted(3, deadline, deadline), "past the deadline the schedule runs out"
    soon = T0 + timedelta(seconds=100)
    assert policy.next_attempt_at(2, T0, soon) == soon  # 300 s would overshoot it
    assert policy.next_attempt_at(1, T0, soon) == T0 + timedelta(seconds=5)
    assert policy.next_attempt_at(2, T0, soon - timedelta(days=1)) == T0 + timedelta(seconds=300)


def test_retry_after_is_seconds_or_an_http_date() -> None:
    policy = RetryPolicy(jitter=0)
    assert policy.delay(1, retry_after=7) == 7
    assert policy.delay(6, retry_after=7) == 7
    assert policy.delay(1, retry_after=10**9) == 24 * 3600
    assert RetryPolicy(schedule=(0.1,)).delay(1, retry_after=7) == 7
    assert parse_retry_after("7", T0) == 7
    assert parse_retry_after(format_datetime(T0 + timedelta(seconds=90), usegmt=True), T0) == 90
    assert parse_retry_after("soon", T0) is None
    assert parse_retry_after(None, T0) is None


# --- a 60 s outage with the default settings, on a fixed clock ----------------------------


@pytest.fixture
def default_settings(env: dict[str, str]) -> Settings:
    """The test environment without its short retry schedule: the shipped defaults."""
    settings = load_settings({k: v for k, v in env.items() if not k.startswith("NOTIFIER_RETRY")})
    assert settings.retry_schedule == DEFAULT_SCHEDULE
    assert settings.delivery_max_attempts == len(DEFAULT_SCHEDULE) + 1
    return settings


def _post_trades(client: FlaskClient, count: int) -> list[int]:
    ids = []
    for i in range(count):
        event = load_event("l1_final", event_id=f"evt-outage-{i}")
        event["trade"]["trade_id"] = f"T-OUT-{i:03d}"
        response = client.post("/v1/events", json=event, headers=PRODUCER)
        assert response.status_code == 202, response.json
        ids.extend(response.json["notice_ids"])
    return ids


def test_a_receiver_down_for_60_s_loses_nothing_with_the_default_schedule(
    default_settings: Settings, webhook_receiver: WebhookReceiver
) -> None:
    app = create_app(default_settings)
    runtime: Runtime = app.extensions["notifier"]
    runtime.db.upgrade()
    clock = runtime.clock = FixedClock(T0)
    try:
        client = app.test_client()
        register_client(client, [webhook_channel(webhook_receiver.url)])
        notice_ids = _post_trades(client, 20)
        with runtime.db.session() as session:
            delivery_ids = list(session.scalars(select(Delivery.id)))
        webhook_receiver.always_fail = True  # down: every request answers 500
        with app.app_context():
            pipeline.process_notices(runtime, notice_ids)
            # The worker is asked again every 5 s of the outage, as a busy relay would.
            while clock.now < T0 + timedelta(seconds=60):
                clock.now += timedelta(seconds=5)
                for delivery_id in delivery_ids:
                    pipeline.deliver(runtime, delivery_id)
            webhook_receiver.always_fail = False  # up again
            for _ in range(100):  # bounded: 100 steps of 10 s
                clock.now += timedelta(seconds=10)
                for delivery_id in delivery_ids:
                    pipeline.deliver(runtime, delivery_id)
                if len(webhook_receiver.delivered()) == len(notice_ids):
                    break
        views = [notice_view(client, i) for i in notice_ids]
        assert {v["status"] for v in views} == {"delivered"}
        assert len({h.headers["webhook-id"] for h in webhook_receiver.delivered()}) == 20
        failed_tries = [len(v["deliveries"][0]["attempts"]) - 1 for v in views]
        assert min(failed_tries) >= 2, "the outage was felt: it took a 5 min wait to end"
        escalations = client.get("/v1/notices?kind=escalation", headers=SUPPORT).json["notices"]
        assert escalations == []
    finally:
        runtime.db.dispose()


# --- through the real worker ------------------------------------------------------------


@pytest.fixture
def live_extra() -> dict[str, str]:
    return {"NOTIFIER_RETRY_SCHEDULE": "0.1", "NOTIFIER_DELIVERY_MAX_ATTEMPTS": "2"}


def test_one_channel_down_for_100_notices_raises_one_escalation(
    live_app: Flask, worker: WorkerProcess, webhook_receiver: WebhookReceiver
) -> None:
    client = live_app.test_client()
    register_client(client, [webhook_channel(webhook_receiver.url)])
    webhook_receiver.always_fail = True
    notice_ids = _post_trades(client, 100)
    for notice_id in notice_ids:
        assert wait_for_status(client, notice_id, {"failed", "delivered"})["status"] == "failed"
    escalations = client.get("/v1/notices?kind=escalation", headers=SUPPORT).json["notices"]
    assert [e["variant"] for e in escalations] == ["channel_outage"]
    view = notice_view(client, escalations[0]["id"])
    assert view["outage"]["notices_failed"] == 100
    assert view["outage"]["closed_at"] is None
    # The channel is back: the next delivery on it succeeds and ends the outage.
    webhook_receiver.always_fail = False
    (after,) = _post_trades_named(client, "after")
    wait_for_status(client, after, {"delivered"})
    assert notice_view(client, escalations[0]["id"])["outage"]["closed_at"] is not None


def _post_trades_named(client: FlaskClient, name: str) -> list[int]:
    event = load_event("l1_final", event_id=f"evt-{name}")
    event["trade"]["trade_id"] = f"T-{name}"
    response = client.post("/v1/events", json=event, headers=PRODUCER)
    assert response.status_code == 202, response.json
    return list(response.json["notice_ids"])


def test_a_receiver_answering_410_disables_its_channel_and_support_is_told_once(
    live_app: Flask, worker: WorkerProcess, webhook_receiver: WebhookReceiver
) -> None:
    client = live_app.test_client()
    runtime: Runtime = live_app.extensions["notifier"]
    register_client(client, [webhook_channel(webhook_receiver.url)])
    webhook_receiver.answer_next(410, count=5)
    (first,) = _post_trades_named(client, "gone-1")
    view = wait_for_status(client, first, {"failed", "delivered"})
    (delivery,) = view["deliveries"]
    assert delivery["status"] == "failed" and delivery["attempt_count"] == 1
    assert "410" in delivery["status_reason"]
    shown = client.get("/v1/clients/acme", headers=ADMIN).json
    assert shown["channels"] == []
    (disabled,) = shown["disabled_channels"]
    assert disabled["name"] == "hook" and "410" in disabled["reason"]
    (second,) = _post_trades_named(client, "gone-2")
    assert notice_view(client, second)["deliveries"] == [], "nothing more goes to it"
    escalations = client.get("/v1/notices?kind=escalation", headers=SUPPORT).json["notices"]
    assert [e["variant"] for e in escalations].count("channel_disabled") == 1
    assert len(webhook_receiver.requests) == 1
    # Registering the channel again enables it.
    register_client(client, [webhook_channel(webhook_receiver.url)])
    with runtime.db.session() as session:
        channel = session.scalars(select(Channel)).one()
        assert channel.active and channel.disabled_at is None


@pytest.mark.parametrize(
    ("status", "header", "at_least"),
    [
        (429, lambda now: "7", 7),
        (503, lambda now: format_datetime(now + timedelta(seconds=40), usegmt=True), 38),
    ],
    ids=["429-seconds", "503-http-date"],
)
def test_429_and_503_retry_no_sooner_than_retry_after(
    live_app: Flask,
    worker: WorkerProcess,
    webhook_receiver: WebhookReceiver,
    status: int,
    header: Any,
    at_least: float,
) -> None:
    client = live_app.test_client()
    register_client(client, [webhook_channel(webhook_receiver.url)])
    webhook_receiver.answer_next(status, {"Retry-After": header(datetime.now(UTC))})
    (notice_id,) = _post_trades_named(client, f"busy-{status}")
    view = wait_for_status(client, notice_id, {"delivering"})
    for _ in range(400):  # bounded: until the first attempt is on record, waiting 7 s+
        (delivery,) = view["deliveries"]
        if delivery["status"] == "retrying":
            break
        time.sleep(0.05)
        view = notice_view(client, notice_id)
    assert delivery["status"] == "retrying"
    (attempt,) = delivery["attempts"]
    assert f"HTTP {status}" in (attempt["error"] or "")
    waited = datetime.fromisoformat(delivery["next_attempt_at"]) - datetime.fromisoformat(
        attempt["finished_at"]
    )
    assert waited >= timedelta(seconds=at_least)
