"""One event, however often and however concurrently a producer sends it."""

from __future__ import annotations

import copy
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import requests
from flask import Flask
from sqlalchemy import func, select

from notifier.models import Delivery, FinalityEvent, Notice
from notifier.runtime import Runtime
from tests.conftest import PRODUCER, load_event
from tests.support.flows import register_client, webhook_channel
from tests.support.server import LiveServer


def test_same_event_posted_20_times_concurrently_is_one_event(
    app: Flask, runtime: Runtime, server: LiveServer
) -> None:
    register_client(
        app.test_client(),
        [
            webhook_channel("http://127.0.0.1:9/a", "hook"),
            {"name": "chat", "url": "json://127.0.0.1:9/b", "priority": 1},
        ],
    )
    event = load_event("l2_final")

    def post(_: int) -> requests.Response:
        return requests.post(f"{server.url}/v1/events", json=event, headers=PRODUCER, timeout=60)

    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(post, range(20)))
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {202: 1, 200: 19}, statuses
    answers = {tuple(r.json()["notice_ids"]) for r in responses}
    assert len(answers) == 1, "every repeat gets the original answer"

    with runtime.db.session() as session:
        assert session.scalar(select(func.count()).select_from(FinalityEvent)) == 1
        kinds = Counter(session.scalars(select(Notice.kind)))
        assert kinds == {"primer_l2": 1, "confirmation_l2": 1}
        per_notice = Counter(session.scalars(select(Delivery.notice_id)))
        assert sorted(per_notice.values()) == [2, 2], "one delivery per channel"

    other = copy.deepcopy(event)
    other["trade"]["account"] = "ACME-002"  # quantity would now break gross = qty * price
    conflict = requests.post(f"{server.url}/v1/events", json=other, headers=PRODUCER, timeout=30)
    assert conflict.status_code == 409
    assert "event_id" in conflict.json()["error"]["fields"]
