"""The worker's batch path: many notices per transaction, sends side by side (issue 8).

Two workers given the same batch at once send every delivery once; one receiver failing,
one answering 410 or one notice that cannot be rendered leaves the rest of the batch
delivered and recorded; a notice replaced while its send waits is never sent; a send
longer than the sending lease keeps it; a task takes the notices queued behind it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from notifier.api.app import create_app
from notifier.config import Settings
from notifier.models import Channel, Delivery, DeliveryAttempt, Notice
from notifier.runtime import Runtime
from notifier.worker import pipeline, relay
from notifier.worker.recording import FollowUp
from tests.conftest import PRODUCER, load_event
from tests.support.flows import notice_view, register_client, webhook_channel
from tests.support.receivers import WebhookReceiver


def _final(client_id: str, number: int) -> dict[str, Any]:
    event = load_event("l1_final", event_id=f"evt-{client_id}-{number}")
    event["trade"] = dict(event["trade"], trade_id=f"T-{client_id}-{number}", client_id=client_id)
    return event


def _post(client: FlaskClient, event: dict[str, Any]) -> list[int]:
    response = client.post("/v1/events", json=event, headers=PRODUCER)
    assert response.status_code == 202, response.json
    return list(response.json["notice_ids"])


def _process(app: Flask, ids: list[int]) -> FollowUp:
    runtime: Runtime = app.extensions["notifier"]
    with app.app_context():
        return pipeline.process_notices(runtime, ids)


def test_two_workers_given_one_batch_send_each_delivery_once(
    settings: Settings, webhook_receiver: WebhookReceiver
) -> None:
    # Two runtimes, two engines and connection pools: two workers, as two processes are.
    apps = [create_app(settings), create_app(settings)]
    runtime: Runtime = apps[0].extensions["notifier"]
    runtime.db.upgrade()
    client = apps[0].test_client()
    clients = ("acme", "beta", "gamma")
    for client_id in clients:
        register_client(client, [webhook_channel(webhook_receiver.url)], client_id=client_id)
    ids = [i for n in range(4) for c in clients for i in _post(client, _final(c, n))]
    assert len(ids) == 12
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def work(app: Flask) -> None:
        start.wait()
        try:
            _process(app, ids)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(app,)) for app in apps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    webhook_receiver.wait_for(12)
    assert len(webhook_receiver.requests) == 12, "no delivery went out twice"
    assert len({r.headers["webhook-id"] for r in webhook_receiver.requests}) == 12
    with runtime.db.session() as session:
        statuses = session.scalars(select(Notice.status).where(Notice.id.in_(ids))).all()
        assert set(statuses) == {"delivered"}
        assert session.scalar(select(func.count()).select_from(DeliveryAttempt)) == 12
    for app in apps:
        app.extensions["notifier"].db.dispose()


def test_a_failing_receiver_a_gone_channel_and_a_broken_notice_leave_the_rest_delivered(
    app: Flask, runtime: Runtime, client: FlaskClient, webhook_receiver: WebhookReceiver
) -> None:
    failing, gone = WebhookReceiver(webhook_receiver.secret), WebhookReceiver(None)
    gone.secret = webhook_receiver.secret
    failing.start()
    gone.start()
    try:
        failing.always_fail = True
        gone.answer_next(410)
        register_client(client, [webhook_channel(webhook_receiver.url)], client_id="acme")
        register_client(client, [webhook_channel(failing.url)], client_id="beta")
        register_client(client, [webhook_channel(gone.url)], client_id="gamma")
        (ok_id,) = _post(client, _final("acme", 1))
        (broken_id,) = _post(client, _final("acme", 2))
        (failing_id,) = _post(client, _final("beta", 1))
        (gone_id,) = _post(client, _final("gamma", 1))
        (ok_too_id,) = _post(client, _final("acme", 3))
        with runtime.db.session() as session:
            broken = session.get(Notice, broken_id)
            assert broken is not None
            broken.context = {k: v for k, v in broken.context.items() if k != "trade"}

        follow_up = _process(app, [ok_id, broken_id, failing_id, gone_id, ok_too_id])

        assert notice_view(client, ok_id)["status"] == "delivered"
        assert notice_view(client, ok_too_id)["status"] == "delivered"
        assert len(webhook_receiver.delivered()) == 2
        assert notice_view(client, broken_id)["status"] == "failed"
        with runtime.db.session() as session:
            (failing_delivery,) = session.scalars(
                select(Delivery).where(Delivery.notice_id == failing_id)
            ).all()
            assert failing_delivery.status == "retrying"
            (gone_delivery,) = session.scalars(
                select(Delivery).where(Delivery.notice_id == gone_id)
            ).all()
            assert gone_delivery.status == "failed"
            channel = session.get(Channel, gone_delivery.channel_id)
            assert channel is not None and channel.disabled_at is not None
        assert [r.delivery_id for r in follow_up.retries] == [failing_delivery.id]
        # Escalations: the broken notice, and the disabled channel.
        kinds = [notice_view(client, i)["variant"] for i in follow_up.notice_ids]
        assert sorted(kinds) == ["channel_disabled", "delivery_failed"]

        # The failed one is retried as before, and goes out once its receiver is back.
        failing.always_fail = False
        time.sleep(follow_up.retries[0].delay)
        with app.app_context():
            pipeline.deliver(runtime, failing_delivery.id)
        assert notice_view(client, failing_id)["status"] == "delivered"
        assert len(failing.delivered()) == 1
    finally:
        failing.stop()
        gone.stop()


def test_a_notice_replaced_while_its_send_waits_is_never_sent(
    app: Flask, runtime: Runtime, client: FlaskClient, webhook_receiver: WebhookReceiver
) -> None:
    register_client(client, [webhook_channel(webhook_receiver.url)], client_id="acme")
    (first_id,) = _post(client, _final("acme", 1))
    (replaced_id,) = _post(client, load_event("l1_final"))
    hold = threading.Event()
    webhook_receiver.hold = hold
    # One client: its sends go one after another, the replaced notice's behind the first.
    worker = threading.Thread(target=_process, args=(app, [first_id, replaced_id]))
    worker.start()
    try:
        assert webhook_receiver.arrived.wait(30), "the first send reached the receiver"
        _post(client, load_event("trade_cancelled"))  # replaces the stock l1_final notice
        assert notice_view(client, replaced_id)["status"] == "superseded"
        # Longer than the wait after which a send asks whether its notice was replaced.
        time.sleep(0.6)
    finally:
        webhook_receiver.hold = None
        hold.set()
        worker.join(60)
    assert notice_view(client, first_id)["status"] == "delivered"
    sent_notices = [r.payload["data"]["notice_id"] for r in webhook_receiver.requests]
    assert replaced_id not in sent_notices
    with runtime.db.session() as session:
        (delivery,) = session.scalars(select(Delivery).where(Delivery.notice_id == replaced_id))
        assert delivery.status == "skipped"
        outcomes = session.scalars(
            select(DeliveryAttempt.outcome).where(DeliveryAttempt.delivery_id == delivery.id)
        ).all()
        assert list(outcomes) == ["nothing_sent"]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # PostgreSQL: not yet (pipeline)
def test_a_task_takes_the_notices_queued_behind_it_oldest_first(
    app: Flask, runtime: Runtime, client: FlaskClient, webhook_receiver: WebhookReceiver
) -> None:
    register_client(client, [webhook_channel(webhook_receiver.url)], client_id="acme")
    register_client(client, [webhook_channel(webhook_receiver.url)], client_id="beta")
    (first,) = _post(client, _final("acme", 1))
    (other,) = _post(client, _final("beta", 1))
    primer, provisional = _post(client, load_event("l2_provisional"))

    # Room for one more: the oldest pending one (the primer), never its trade alone.
    with app.app_context():
        pipeline.process_notices(runtime, [first], take_more=2)
    assert [notice_view(client, i)["status"] for i in (first, other, primer, provisional)] == [
        "delivered",
        "delivered",
        "delivered",
        "pending",
    ]
    with app.app_context():
        pipeline.process_notices(runtime, [other], take_more=50)
    assert notice_view(client, provisional)["status"] == "delivered"
    sent = [r.payload["data"]["notice_id"] for r in webhook_receiver.requests]
    assert sent.index(primer) < sent.index(provisional)
    # The tasks of notices already taken find nothing left to do.
    with app.app_context():
        pipeline.process_notices(runtime, [primer, provisional], take_more=50)
    assert len(webhook_receiver.requests) == 4


def test_a_send_longer_than_the_lease_keeps_it_and_the_relay_leaves_it_alone(
    settings: Settings, webhook_receiver: WebhookReceiver
) -> None:
    app = create_app(replace(settings, sending_lease_seconds=3.0, delivery_timeout_seconds=15.0))
    runtime: Runtime = app.extensions["notifier"]
    runtime.db.upgrade()
    client = app.test_client()
    register_client(client, [webhook_channel(webhook_receiver.url)], client_id="acme")
    (notice_id,) = _post(client, _final("acme", 1))
    hold = threading.Event()
    webhook_receiver.hold = hold
    worker = threading.Thread(target=_process, args=(app, [notice_id]))
    worker.start()
    try:
        assert webhook_receiver.arrived.wait(30)
        time.sleep(4.5)  # well past the 3 s lease: only its renewal keeps it
        assert relay.recover_lost_sends(runtime) == []
        with runtime.db.session() as session:
            (delivery,) = session.scalars(select(Delivery)).all()
            assert delivery.status == "sending"
            assert session.scalar(select(func.count()).select_from(DeliveryAttempt)) == 0
    finally:
        webhook_receiver.hold = None
        hold.set()
        worker.join(60)
    assert notice_view(client, notice_id)["status"] == "delivered"
    assert len(webhook_receiver.requests) == 1
    with runtime.db.session() as session:
        outcomes = session.scalars(select(DeliveryAttempt.outcome)).all()
        assert list(outcomes) == ["sent"]
    runtime.db.dispose()
