"""Steps many tests share: register a client, post an event, wait for a notice."""

from __future__ import annotations

import time
from typing import Any

from flask.testing import FlaskClient

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
