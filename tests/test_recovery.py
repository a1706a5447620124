"""Losing Redis loses time, never a notice: the outbox relay re-sends committed work."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

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
