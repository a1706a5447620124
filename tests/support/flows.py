"""Steps many tests share: register a client, post an event, wait for a notice."""

from __future__ import annotations

import time
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from notifier.models import FinalityEvent
from notifier.notices.batch_fanout import fan_out
from notifier.notices.publish import enqueue_notices
from notifier.runtime import Runtime
from tests.conftest import ADMIN, WEBHOOK_SECRET


def webhook_channel(url: str, name: str = "hook", priority: int = 0) -> dict[str, Any]:
    return {"name": name, "url": url, "secret": WEBHOOK_SECRET, "priority": priority}


def register_client(
    client: FlaskClient,
    channels: list[dict[str, Any]],
    client_id: str = "acme",
    **extra: Any,
) -> dict[str, Any]:
    body = {
        "name": "Acme Capital",
        "locale": "en_US",
        "timezone": "America/New_York",
        "channels": channels,
        **extra,
    }
    response = client.put(f"/v1/clients/{client_id}", json=body, headers=ADMIN)
    assert response.status_code in (200, 201), response.json
    data: dict[str, Any] = response.json
    return data


def notice_view(
    client: FlaskClient, notice_id: int, headers: dict[str, str] = ADMIN
) -> dict[str, Any]:
    # Admin by default: tests read the send errors, which support sees only in general terms.
    response = client.get(f"/v1/notices/{notice_id}", headers=headers)
    assert response.status_code == 200, response.json
    data: dict[str, Any] = response.json
    return data


def wait_for_status(
    client: FlaskClient, notice_id: int, wanted: set[str], timeout: float = 45.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    view: dict[str, Any] = {}
    while time.monotonic() < deadline:
        view = notice_view(client, notice_id)
        if view["status"] in wanted:
            return view
        time.sleep(0.1)
    raise AssertionError(f"notice {notice_id} stayed {view.get('status')}: {view}")


def run_fanout(runtime: Runtime, event_id: str, chunk_trades: int | None = None) -> list[int]:
    """Write a batch event's deferred fan-out in this process (as the worker's task does)."""
    with runtime.db.session() as session:
        event_pk = session.scalar(
            select(FinalityEvent.id).where(FinalityEvent.event_id == event_id)
        )
    assert event_pk is not None, event_id
    written: list[int] = []

    def publish(ids: list[int]) -> None:
        written.extend(ids)
        enqueue_notices(runtime, ids)  # as the task does; a no-op when nothing is enqueued

    fan_out(runtime, event_pk, publish, chunk_trades)
    return written
