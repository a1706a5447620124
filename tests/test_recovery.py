"""Losing Redis loses time, never a notice: the outbox relay re-sends committed work."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from notifier.api.app import create_app
from notifier.config import Settings
from notifier.models import Delivery
from notifier.runtime import Runtime
from notifier.tools.replay import FixedClock
from notifier.worker import pipeline
from notifier.worker.relay import find_due_work
from tests.conftest import PRODUCER, load_event
from tests.support.flows import notice_view, register_client, wait_for_status, webhook_channel
from tests.support.receivers import WebhookReceiver, free_port
from tests.support.worker import BeatProcess, RedisServer, WorkerProcess


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    server = RedisServer(free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def broker_url(private_redis: RedisServer) -> str:
    return private_redis.url


@pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)
def test_worker_killed_and_redis_down_at_enqueue_still_delivers(
    live_app: Flask,
    live_env: dict[str, str],
    worker: WorkerProcess,
    private_redis: RedisServer,
    webhook_receiver: WebhookReceiver,
    tmp_path: Path,
) -> None:
    client = live_app.test_client()
    register_client(client, [webhook_channel(webhook_receiver.url)])
    worker.kill()
    private_redis.stop()

    # Committed, then the enqueue fails: the producer still gets its 202.
    response = client.post("/v1/events", json=load_event("l1_final"), headers=PRODUCER)
    assert response.status_code == 202, response.json
    (notice_id,) = response.json["notice_ids"]
    assert notice_view(client, notice_id)["status"] == "pending"
    assert webhook_receiver.requests == []

    private_redis.start()
    beat = BeatProcess(live_env, tmp_path / "beat.log")
    beat.start()
    try:
        worker.start()
        view = wait_for_status(client, notice_id, {"delivered"}, timeout=60)
    finally:
        beat.stop()
    assert len(webhook_receiver.delivered()) == 1
    assert view["deliveries"][0]["attempts"][0]["outcome"] == "sent"


@pytest.mark.parametrize("max_attempts", [3, 1])
def test_a_delivery_lost_with_its_worker_is_retried_or_failed_by_the_relay(
    settings: Settings, webhook_receiver: WebhookReceiver, max_attempts: int
) -> None:
    app = create_app(
        replace(
            settings,
            relay_grace_seconds=0,
            sending_lease_seconds=120,
            delivery_max_attempts=max_attempts,
        )
    )
    runtime: Runtime = app.extensions["notifier"]
    runtime.db.upgrade()
    # Past the confirmation's deadline: before it, a confirmation is never given up.
    clock = FixedClock(datetime.fromisoformat("2026-11-27T16:00:00+00:00"))
    runtime.clock = clock
    try:
        client = app.test_client()
        register_client(client, [webhook_channel(webhook_receiver.url)])
        posted = client.post("/v1/events", json=load_event("l1_final"), headers=PRODUCER)
        (notice_id,) = posted.json["notice_ids"]
        # The worker renders and claims the delivery, then dies before sending.
        # (the worker's own steps, stopped where the crash happens)
        with runtime.db.session() as session:
            (delivery_id,) = session.scalars(select(Delivery.id)).all()
            assert pipeline._render(session, runtime, notice_id) is not None
            assert pipeline._claim(session, runtime, delivery_id) is not None
        clock.now += timedelta(seconds=60)
        assert find_due_work(runtime).delivery_ids == [], "inside the lease nothing moves"
        clock.now += timedelta(seconds=61)
        due = find_due_work(runtime)
        if max_attempts > 1:
            assert due.delivery_ids == [delivery_id]
            with app.app_context():
                pipeline.process_notices(runtime, [notice_id])
                pipeline.deliver(runtime, delivery_id)
            view = notice_view(client, notice_id)
            assert view["status"] == "delivered"
            attempts = view["deliveries"][0]["attempts"]
            assert [a["outcome"] for a in attempts] == ["lost", "sent"]
            assert len(webhook_receiver.delivered()) == 1
        else:
            view = notice_view(client, notice_id)
            assert view["status"] == "failed"
            assert [a["outcome"] for a in view["deliveries"][0]["attempts"]] == ["lost"]
            (escalation_id,) = due.notice_ids
            assert notice_view(client, escalation_id)["variant"] == "channel_outage"
    finally:
        runtime.db.dispose()
