"""A queued escalation goes to the support channel it was written for (issue 11, item 6).

Support channels are configuration. Deliveries used to name them by position
(``support:N``): reorder NOTIFIER_SUPPORT_CHANNELS while an escalation is queued and it
went to another channel; shorten the list and the send hit an IndexError, swallowed, and
failed permanently. Real SMTP, the real pipeline, both databases.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from notifier.api.app import create_app
from notifier.config import load_settings
from notifier.models import Delivery
from notifier.notices.kinds import escalation_plan
from notifier.notices.outbox import write_plans
from notifier.runtime import Runtime
from notifier.worker import pipeline
from tests.conftest import make_env
from tests.support.receivers import SmtpSink


def _app(tmp_path: Path, db_url: str, support: list[str]) -> Flask:
    env = make_env(
        tmp_path / "var", db_url, NOTIFIER_ENQUEUE="0", NOTIFIER_SUPPORT_CHANNELS=" ".join(support)
    )
    app = create_app(load_settings(env))
    app.extensions["notifier"].db.upgrade()
    return app


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()


def _queue_escalation(runtime: Runtime) -> int:
    plan = escalation_plan(
        runtime, cause="deadline_at_risk", key="support-channels", event_id="evt-1", affected=[]
    )
    with runtime.db.session() as session:
        (notice,) = write_plans(session, runtime, [plan], None, "test")
        return notice.id


def _deliveries(runtime: Runtime, notice_id: int) -> list[Delivery]:
    with runtime.db.session() as session:
        rows = session.query(Delivery).filter_by(notice_id=notice_id).order_by(Delivery.id)
        return list(rows)


def test_reordered_support_channels_keep_each_escalation_on_its_own_channel(
    tmp_path: Path, db_url: str, sink: SmtpSink
) -> None:
    first, second = sink.url(to="first@example.com"), sink.url(to="second@example.com")
    before = _app(tmp_path, db_url, [first, second]).extensions["notifier"]
    notice_id = _queue_escalation(before)
    before.db.dispose()

    after = _app(tmp_path, db_url, [second, first]).extensions["notifier"]
    try:
        pipeline.process_notices(after, [notice_id])
        messages = sink.wait_for(2)
        to_by_message_id = {m["Message-ID"].split("@")[0].lstrip("<"): m["To"] for m in messages}
        deliveries = _deliveries(after, notice_id)
        assert [d.status for d in deliveries] == ["sent", "sent"]
        # Written for [first, second]: each delivery reaches the address it was written for.
        assert [to_by_message_id[d.message_id] for d in deliveries] == [
            "first@example.com",
            "second@example.com",
        ]
    finally:
        after.db.dispose()


def test_a_removed_support_channel_is_not_replaced_by_another(
    tmp_path: Path, db_url: str, sink: SmtpSink, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = sink.url(to="first@example.com"), sink.url(to="second@example.com")
    before = _app(tmp_path, db_url, [first, second]).extensions["notifier"]
    notice_id = _queue_escalation(before)
    before.db.dispose()

    after = _app(tmp_path, db_url, [second]).extensions["notifier"]
    try:
        pipeline.process_notices(after, [notice_id])
        messages = sink.wait_for(1)
        assert [m["To"] for m in messages] == ["second@example.com"]
        gone, kept = _deliveries(after, notice_id)
        assert kept.status == "sent"
        assert gone.status in {"retrying", "failed"}
        assert pipeline.SUPPORT_CHANNEL_GONE in caplog.text or any(
            "NOTIFIER_SUPPORT_CHANNELS" in r.getMessage() for r in caplog.records
        )
        # Only the one channel still configured got anything.
        assert len(sink.messages) == 1
    finally:
        after.db.dispose()


def test_support_targets_name_no_url(tmp_path: Path) -> None:
    """What support reads as the channel name carries no part of the URL (a credential)."""
    runtime = Runtime.from_settings(
        load_settings(make_env(tmp_path, f"sqlite:///{tmp_path}/x.sqlite", NOTIFIER_ENQUEUE="0"))
    )
    from notifier.notices.outbox import support_target

    target = support_target(runtime, "json://ops:hunter2@127.0.0.1:9/x")
    assert target.startswith("support:")
    assert "hunter2" not in target
    assert "127.0.0.1" not in target
