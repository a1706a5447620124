"""A batch fan-out accepted while Redis was down is written and delivered once it is back.

The fan_out task never reached the broker; the relay (beat) finds the open fan-out row
and enqueues it again, and the worker writes every per-trade notice (issue 8).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from notifier.models import Notice
from notifier.runtime import Runtime
from tests.conftest import PRODUCER, load_event
from tests.support.flows import register_client, webhook_channel
from tests.support.receivers import WebhookReceiver, free_port
from tests.support.worker import BeatProcess, RedisServer, WorkerProcess

TRADES = 5


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    server = RedisServer(free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def broker_url(private_redis: RedisServer) -> str:
    return private_redis.url


@pytest.fixture
def live_extra() -> dict[str, str]:
    return {
        "NOTIFIER_FANOUT_CHUNK_TRADES": "2",
        "NOTIFIER_RELAY_GRACE_SECONDS": "0",
        "NOTIFIER_RELAY_INTERVAL_SECONDS": "1",
        "NOTIFIER_SENDING_LEASE_SECONDS": "5",
    }


def test_a_fan_out_accepted_while_redis_was_down_is_delivered(
    live_app: Flask,
    live_env: dict[str, str],
    worker: WorkerProcess,
    private_redis: RedisServer,
    webhook_receiver: WebhookReceiver,
    tmp_path: Path,
) -> None:
    client = live_app.test_client()
    runtime: Runtime = live_app.extensions["notifier"]
    register_client(client, [webhook_channel(webhook_receiver.url)])
    worker.kill()
    private_redis.stop()
    for n in range(TRADES):
        event = load_event("l2_provisional", event_id=f"evt-prov-{n}")
        event["trade"] = event["trade"] | {"trade_id": f"T-DOWN-{n}"}
        assert client.post("/v1/events", json=event, headers=PRODUCER).status_code == 202
    answer = client.post("/v1/events", json=load_event("batch_final"), headers=PRODUCER)
    assert answer.status_code == 202 and answer.json["notice_ids"] == []

    private_redis.start()
    beat = BeatProcess(live_env, tmp_path / "beat.log")
    beat.start()
    try:
        worker.start()
        deadline, statuses = time.monotonic() + 90, []
        while time.monotonic() < deadline:
            with runtime.db.session() as session:
                statuses = list(
                    session.scalars(
                        select(Notice.status).where(
                            Notice.kind == "confirmation_l2", Notice.variant == "final"
                        )
                    )
                )
            if len(statuses) == TRADES and set(statuses) == {"delivered"}:
                break
            time.sleep(0.2)
    finally:
        beat.stop()
    assert statuses == ["delivered"] * TRADES
    finals = [
        h for h in webhook_receiver.delivered() if h.payload["data"].get("variant") == "final"
    ]
    assert len({h.payload["data"]["notice_id"] for h in finals}) == TRADES
