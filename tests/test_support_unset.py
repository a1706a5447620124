"""Escalations with nowhere to go are loud (issue 12, item 6).

With NOTIFIER_SUPPORT_CHANNELS unset (the default) 435 escalations of one outage ended
``failed: no active channel`` with no log line. Now: a warning at start, a reason the
readiness check can report, and an ERROR for every escalation support cannot be sent.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from notifier.config import load_settings
from notifier.notices.kinds import escalation_plan
from notifier.notices.outbox import write_plans
from notifier.runtime import Runtime, support_gap
from notifier.worker import pipeline
from tests.conftest import make_env


def _runtime(tmp_path: Path, db_url: str, **extra: str) -> Runtime:
    env = make_env(tmp_path / "var", db_url, NOTIFIER_ENQUEUE="0", **extra)
    runtime = Runtime.boot(load_settings(env))
    runtime.db.upgrade()
    return runtime


def _escalate(runtime: Runtime, key: str) -> int:
    plan = escalation_plan(runtime, cause="deadline_at_risk", key=key, event_id="e", affected=[])
    with runtime.db.session() as session:
        (notice,) = write_plans(session, runtime, [plan], None, "test")
        return notice.id


def _errors(caplog: pytest.LogCaptureFixture, notice_id: int) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.ERROR and f"escalation {notice_id} " in r.getMessage()
    ]


def test_no_support_channel_warns_at_start_and_logs_every_escalation(
    tmp_path: Path, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    runtime = _runtime(tmp_path, db_url)
    try:
        assert support_gap(runtime.settings) is not None
        assert any(
            r.levelno == logging.WARNING and "NOTIFIER_SUPPORT_CHANNELS" in r.getMessage()
            for r in caplog.records
        )
        ids = [_escalate(runtime, f"void-{n}") for n in range(3)]
        pipeline.process_notices(runtime, ids)
        for notice_id in ids:
            (line,) = _errors(caplog, notice_id)
            assert "no support channel is configured" in line
    finally:
        runtime.db.dispose()


def test_a_support_channel_that_fails_for_good_is_logged(
    tmp_path: Path, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    # Port 9 on 127.0.0.1 refuses the connection; one attempt, so it fails for good.
    runtime = _runtime(
        tmp_path,
        db_url,
        NOTIFIER_SUPPORT_CHANNELS="json://127.0.0.1:9/support",
        NOTIFIER_DELIVERY_MAX_ATTEMPTS="1",
    )
    try:
        assert support_gap(runtime.settings) is None
        warned = [r for r in caplog.records if "CHANNELS is empty" in r.getMessage()]
        assert not warned
        notice_id = _escalate(runtime, "down")
        pipeline.process_notices(runtime, [notice_id])
        (line,) = _errors(caplog, notice_id)
        assert "every support channel failed" in line
        assert "127.0.0.1" not in line
    finally:
        runtime.db.dispose()
