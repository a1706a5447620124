"""Rate-limit storage down: every call still answered, and one log line, not a flood."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

import notifier.api.limits as limits
from notifier.api.app import create_app
from notifier.config import load_settings
from tests.conftest import PRODUCER, load_event, make_env
from tests.support.receivers import free_port


def test_a_down_limiter_store_is_reported_once_not_per_request(
    tmp_path: Path, db_url: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A closed port: every limiter call fails at once, as when Redis is down.
    down = f"redis://127.0.0.1:{free_port()}/0"
    env = make_env(
        tmp_path / "var", db_url, NOTIFIER_ENQUEUE="0", NOTIFIER_RATE_LIMIT_STORAGE_URL=down
    )
    monkeypatch.setattr(limits, "_last_unreachable_log", 0.0)
    app = create_app(load_settings(env))
    app.extensions["notifier"].db.upgrade()
    client = app.test_client()
    try:
        with caplog.at_level(logging.WARNING, logger="notifier.api.limits"):
            for index in range(30):
                body = load_event("l1_final", event_id=f"evt-down-{index}")
                answer = client.post("/v1/events", json=body, headers=PRODUCER)
                assert answer.status_code in (202, 200), answer.json
        reports = [r for r in caplog.records if r.name == "notifier.api.limits"]
        assert len(reports) == 1, [r.getMessage() for r in reports]
        assert reports[0].exc_info is None  # a line, not a traceback
    finally:
        app.extensions["notifier"].db.dispose()
