"""Operations surface: ETags, /metrics against the database, /readyz, rate limits, JSON logs."""

from __future__ import annotations

import dataclasses
import json
import logging
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from notifier import heartbeats
from notifier.api.app import create_app
from notifier.config import load_settings
from notifier.logs import JsonFormatter
from notifier.models import DeliveryAttempt, FinalityEvent
from notifier.runtime import Runtime
from notifier.worker import pipeline
from tests.conftest import ADMIN, PRODUCER, REDIS_URL, SUPPORT, auth, load_event
from tests.support.flows import register_client, webhook_channel
from tests.support.receivers import WebhookReceiver
from tests.support.worker import BeatProcess, WorkerProcess


@pytest.fixture(autouse=True)
def _restore_root_logging() -> Iterator[None]:
    """An app built with NOTIFIER_LOG_FORMAT=json sets up the root logger; undo it after."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _deliver(app: Flask, runtime: Runtime, ids: list[int]) -> None:
    with app.app_context():
        pipeline.process_notices(runtime, ids)


def test_notice_etag_304_and_a_new_etag_after_a_state_change(
    app: Flask, runtime: Runtime, webhook_receiver: WebhookReceiver
) -> None:
    client = app.test_client()
    register_client(client, [webhook_channel(webhook_receiver.url)])
    (notice_id,) = client.post("/v1/events", json=load_event("l1_final"), headers=PRODUCER).json[
        "notice_ids"
    ]
    first = client.get(f"/v1/notices/{notice_id}", headers=SUPPORT)
    etag = first.headers["ETag"]
    assert first.headers["Cache-Control"] == "private, no-cache"
    again = client.get(f"/v1/notices/{notice_id}", headers={**SUPPORT, "If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""

    _deliver(app, runtime, [notice_id])  # pending -> delivered
    changed = client.get(f"/v1/notices/{notice_id}", headers={**SUPPORT, "If-None-Match": etag})
    assert changed.status_code == 200 and changed.json["status"] == "delivered"
    assert changed.headers["ETag"] != etag
    for path in ("/v1/notices", "/v1/events", "/v1/clients/acme"):
        answer = client.get(path, headers=SUPPORT)
        assert answer.headers["Cache-Control"] == "private, no-cache", path
        repeat = client.get(path, headers={**SUPPORT, "If-None-Match": answer.headers["ETag"]})
        assert repeat.status_code == 304, path


def _scrape(app: Flask) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = app.test_client().get("/metrics").get_data(as_text=True)
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_match_the_database_after_a_scenario(
    app: Flask, runtime: Runtime, webhook_receiver: WebhookReceiver
) -> None:
    client = app.test_client()
    register_client(client, [webhook_channel(webhook_receiver.url)])
    ids: list[int] = []
    for name in ("trade_executed", "l1_final"):
        ids += client.post("/v1/events", json=load_event(name), headers=PRODUCER).json["notice_ids"]
    _deliver(app, runtime, ids)

    samples = _scrape(app)
    with runtime.db.session() as session:
        events = dict(
            session.execute(
                select(FinalityEvent.status, func.count()).group_by(FinalityEvent.status)
            ).all()
        )
        attempts = dict(
            session.execute(
                select(DeliveryAttempt.outcome, func.count()).group_by(DeliveryAttempt.outcome)
            ).all()
        )
    scraped_events: dict[str, float] = {}
    for (name, labels), value in samples.items():
        if name == "notifier_events_total":
            status = dict(labels)["status"]
            scraped_events[status] = scraped_events.get(status, 0) + value
    assert scraped_events == {k: float(v) for k, v in events.items()}
    assert sum(events.values()) == 2
    scraped_attempts = {
        dict(labels)["outcome"]: value
        for (name, labels), value in samples.items()
        if name == "notifier_delivery_attempts_total"
    }
    assert scraped_attempts == {k: float(v) for k, v in attempts.items()}
    assert scraped_attempts.get("sent", 0) >= 2
    assert samples[("notifier_channel_outages_open", ())] == 0
    assert samples[("notifier_due_deliveries", ())] == 0


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_readyz_names_the_failing_check_and_recovers(
    env: dict[str, str], redis_client: Any
) -> None:
    app = create_app(load_settings({**env, "NOTIFIER_BROKER_URL": REDIS_URL}))
    runtime: Runtime = app.extensions["notifier"]
    runtime.db.upgrade()
    client = app.test_client()
    assert client.get("/healthz").status_code == 200

    never = client.get("/readyz")
    assert never.status_code == 503
    assert set(never.json["failing"]) == {"worker", "relay"}

    heartbeats.beat(runtime.db, heartbeats.WORKER, runtime.clock())
    heartbeats.beat(runtime.db, heartbeats.RELAY, runtime.clock())
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.json
    # No support channel configured: ready, but degraded and saying why.
    assert ready.json["status"] == "degraded"
    assert ready.json["checks"]["support_channels"]["status"] == "degraded"

    good = runtime.settings
    runtime.settings = dataclasses.replace(
        good, broker_url=f"redis://:hunter2secret@127.0.0.1:{_closed_port()}/0"
    )
    down = client.get("/readyz")
    assert down.status_code == 503 and down.json["failing"] == ["broker"]
    assert "hunter2secret" not in down.get_data(as_text=True)
    runtime.settings = good
    assert client.get("/readyz").status_code == 200
    runtime.db.dispose()


def test_wrong_keys_from_one_ip_are_throttled_while_others_keep_working(
    env: dict[str, str], redis_client: Any
) -> None:
    # Redis storage (the production set-up): counters shared by every web process.
    # A queue name of its own keeps these counters apart from other runs on this Redis.
    app = create_app(
        load_settings(
            {
                **env,
                "NOTIFIER_RATE_LIMIT_STORAGE_URL": REDIS_URL,
                "NOTIFIER_QUEUE": f"ops-limits-{uuid.uuid4().hex[:10]}",
            }
        )
    )
    runtime: Runtime = app.extensions["notifier"]
    runtime.db.upgrade()
    client = app.test_client()
    attacker = {"REMOTE_ADDR": "198.51.100.7"}
    statuses: dict[int, int] = {}
    for n in range(2000):
        answer = client.get(
            "/v1/notices",
            headers=auth(f"ntf_guess_{n:06d}_padding_padding_pad"),
            environ_base=attacker,
        )
        statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
        if n == 1999:
            last = answer
    print(f"2,000 wrong keys from one IP: {statuses}")
    assert statuses[429] >= 1900, statuses
    assert statuses.get(401, 0) <= 30, statuses
    assert last.json["error"]["code"] == "too_many_requests"
    assert int(last.headers["Retry-After"]) >= 1
    # Even a valid key from the attacking address waits; another client's does not.
    honest = client.get("/v1/notices", headers=SUPPORT, environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert honest.status_code == 200
    runtime.db.dispose()


def test_per_key_limit_answers_429_with_retry_after_in_the_envelope(env: dict[str, str]) -> None:
    app = create_app(load_settings({**env, "NOTIFIER_RATE_LIMIT_PER_KEY": "5 per minute"}))
    runtime: Runtime = app.extensions["notifier"]
    runtime.db.upgrade()
    client = app.test_client()
    codes = [client.get("/v1/notices", headers=ADMIN).status_code for _ in range(7)]
    assert codes[:5] == [200] * 5 and codes[5:] == [429, 429]
    limited = client.get("/v1/notices", headers=ADMIN)
    assert limited.json["error"]["code"] == "too_many_requests"
    assert int(limited.headers["Retry-After"]) >= 1
    assert client.get("/v1/notices", headers=SUPPORT).status_code == 200  # another key
    runtime.db.dispose()


def test_json_logs_one_line_per_request_without_secrets(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="notifier.requests"):
        app.test_client().get("/v1/notices", headers={**SUPPORT, "X-Request-Id": "req-42"})
    (record,) = [r for r in caplog.records if r.name == "notifier.requests"]
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "req-42" and line["status"] == 200
    assert line["key_name"] == "support-key" and line["path"] == "/v1/notices"
    assert SUPPORT["Authorization"].split()[1] not in json.dumps(line)


@pytest.fixture
def live_extra() -> dict[str, str]:
    return {
        "NOTIFIER_LOG_FORMAT": "json",
        "NOTIFIER_WORKER_HEARTBEAT_SECONDS": "1",
        "NOTIFIER_SUPPORT_CHANNELS": "json://127.0.0.1:9/escalations",
    }


def test_readyz_turns_ready_with_a_real_worker_and_beat_and_tasks_log_json(
    live_env: dict[str, str], live_app: Flask, worker: WorkerProcess, tmp_path: Path
) -> None:
    client = live_app.test_client()
    beat = BeatProcess(live_env, tmp_path / "beat.log")
    beat.start()
    try:
        deadline = time.monotonic() + 60
        answer = client.get("/readyz")
        while answer.status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.5)
            answer = client.get("/readyz")
    finally:
        beat.stop()
    assert answer.status_code == 200, answer.json
    assert answer.json["status"] == "ok" and answer.json["failing"] == []
    task_lines = [
        json.loads(line)
        for line in worker.log().splitlines()
        if line.startswith("{") and '"task_id"' in line
    ]
    relay = [t for t in task_lines if t["task"] == "notifier.tasks.relay"]
    assert relay and relay[0]["state"] == "SUCCESS" and relay[0]["duration_ms"] >= 0
