"""One decision for every attempt's end (finish_attempt), and a relay whose query only reads."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from notifier.api.app import create_app
from notifier.config import Settings
from notifier.models import Delivery, DeliveryAttempt
from notifier.notices.tracking import Attempt, finish_attempt
from notifier.runtime import Runtime
from notifier.states import AttemptOutcome, DeliveryStatus
from notifier.tools.replay import FixedClock
from notifier.worker import pipeline, relay
from tests.conftest import PRODUCER, load_event
from tests.support.flows import register_client, webhook_channel

# After the sample confirmation's deadline: its attempt budget alone decides.
LATE = datetime.fromisoformat("2026-11-27T16:00:00+00:00")


@pytest.fixture
def claimed(settings: Settings) -> Iterator[tuple[Runtime, FixedClock, int]]:
    """A rendered notice whose one delivery a worker has claimed (attempt 1 in flight)."""
    app: Flask = create_app(
        replace(settings, relay_grace_seconds=0, sending_lease_seconds=30, delivery_max_attempts=2)
    )
    runtime: Runtime = app.extensions["notifier"]
    runtime.db.upgrade()
    clock = FixedClock(LATE)
    runtime.clock = clock
    client = app.test_client()
    register_client(client, [webhook_channel("http://127.0.0.1:9/hook")])
    posted = client.post("/v1/events", json=load_event("l1_final"), headers=PRODUCER)
    (notice_id,) = posted.json["notice_ids"]
    with runtime.db.session() as session:
        (delivery_id,) = session.scalars(select(Delivery.id)).all()
        assert pipeline._render(session, runtime, notice_id) is not None
        assert pipeline._claim(session, runtime, delivery_id) is not None
    yield runtime, clock, delivery_id
    runtime.db.dispose()


def _finish(runtime: Runtime, delivery_id: int, attempt: Attempt) -> tuple[float | None, str]:
    with runtime.db.session() as session:
        delivery = session.get(Delivery, delivery_id)
        assert delivery is not None
        delay = finish_attempt(
            session, runtime.retry, delivery, attempt, actor="worker", now=runtime.clock()
        )
        return delay, delivery.status


@pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)
@pytest.mark.parametrize(
    ("outcome", "permanent", "status"),
    [
        (AttemptOutcome.SENT, None, DeliveryStatus.SENT),
        (AttemptOutcome.FAILED, None, DeliveryStatus.RETRYING),
        (AttemptOutcome.UNKNOWN, None, DeliveryStatus.RETRYING),
        (AttemptOutcome.TIMEOUT, "gone", DeliveryStatus.FAILED),
    ],
)
def test_an_attempt_ends_sent_retrying_or_failed(
    claimed: tuple[Runtime, FixedClock, int],
    outcome: AttemptOutcome,
    permanent: str | None,
    status: DeliveryStatus,
) -> None:
    runtime, clock, delivery_id = claimed
    attempt = Attempt(outcome, clock.now, clock.now, None, retry_after=7.0, permanent=permanent)
    delay, now_status = _finish(runtime, delivery_id, attempt)
    assert now_status == status
    assert delay == (7.0 if status == DeliveryStatus.RETRYING else None)
    with runtime.db.session() as session:
        (stored,) = session.scalars(select(DeliveryAttempt)).all()
        assert (stored.number, stored.outcome) == (1, outcome)


@pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)
def test_the_last_attempt_fails_the_delivery_on_both_paths(
    claimed: tuple[Runtime, FixedClock, int],
) -> None:
    runtime, clock, delivery_id = claimed
    delay, status = _finish(runtime, delivery_id, Attempt(AttemptOutcome.FAILED, LATE, LATE))
    assert status == DeliveryStatus.RETRYING and delay is not None
    # Attempt 2 of 2 is claimed, then its worker dies: the relay's lost-send path decides
    # with the same rule and fails it.
    clock.now += timedelta(seconds=delay)
    with runtime.db.session() as session:
        assert pipeline._claim(session, runtime, delivery_id) is not None
    clock.now += timedelta(seconds=31)
    assert relay.due_work(runtime).delivery_ids == [], "due_work only reads: still sending"
    escalations = relay.recover_lost_sends(runtime)
    with runtime.db.session() as session:
        delivery = session.get(Delivery, delivery_id)
        assert delivery is not None
        assert delivery.status == DeliveryStatus.FAILED
        assert delivery.status_reason == "worker lost during the last attempt"
        outcomes = session.scalars(select(DeliveryAttempt.outcome).order_by(DeliveryAttempt.id))
        assert list(outcomes) == ["failed", "lost"]
    assert len(escalations) == 1, "support is told the channel is down"
