"""Celery tasks: thin, take ids, own the retry schedule. The work is in the services."""

from __future__ import annotations

from celery import shared_task

from notifier import heartbeats, task_names
from notifier.notices import escalation
from notifier.notices.batch_fanout import fan_out as fan_out_service
from notifier.notices.publish import enqueue_delivery, enqueue_fanout, enqueue_notices
from notifier.runtime import Runtime
from notifier.worker import pipeline
from notifier.worker import relay as relay_service
from notifier.worker.celery_app import RuntimeTask
from notifier.worker.recording import FollowUp

# A broker countdown is held unacknowledged by a worker; on Redis one longer than the
# visibility timeout (an hour) is handed out again, and a worker restart drops none but
# delays all. Longer waits are left to the relay, which reads next_attempt_at every few
# seconds: the database holds the schedule, the broker only wakes the worker early.
COUNTDOWN_LIMIT_SECONDS = 600.0


def _hand_on(runtime: Runtime, follow_up: FollowUp) -> None:
    """Schedule near retries at their wait and send new notices (escalations) on."""
    for retry in follow_up.retries:
        if retry.delay <= COUNTDOWN_LIMIT_SECONDS:
            enqueue_delivery(runtime, retry.delivery_id, countdown=retry.delay)
    enqueue_notices(runtime, follow_up.notice_ids)


@shared_task(name=task_names.PROCESS_NOTICES, bind=True, acks_late=True)  # type: ignore[untyped-decorator]  # celery ships no types
def process_notices(task: RuntimeTask, notice_ids: list[int]) -> None:
    """Render notices and attempt their deliveries, in the order given, with what queued behind."""
    runtime = task.runtime
    follow_up = pipeline.process_notices(
        runtime,
        notice_ids,
        take_more=pipeline.TAKE_MORE,
        hand_on=lambda late: _hand_on(runtime, late),
    )
    _hand_on(runtime, follow_up)


@shared_task(name=task_names.DELIVER, bind=True, acks_late=True)  # type: ignore[untyped-decorator]  # celery ships no types
def deliver(task: RuntimeTask, delivery_id: int) -> None:
    """Attempt one delivery and schedule its next attempt if it failed."""
    _hand_on(task.runtime, pipeline.deliver(task.runtime, delivery_id))


@shared_task(name=task_names.FAN_OUT, bind=True, acks_late=True)  # type: ignore[untyped-decorator]  # celery ships no types
def fan_out(task: RuntimeTask, event_pk: int) -> None:
    """Write a batch event's per-trade notices in chunks, sending each chunk on at once."""
    runtime = task.runtime
    fan_out_service(runtime, event_pk, lambda ids: enqueue_notices(runtime, ids))


@shared_task(name=task_names.RELAY, bind=True, acks_late=True)  # type: ignore[untyped-decorator]  # celery ships no types
def relay(task: RuntimeTask) -> None:
    """Re-enqueue committed work the broker never got (or lost)."""
    heartbeats.beat(task.runtime.db, heartbeats.RELAY, task.runtime.clock())
    escalations = relay_service.recover_lost_sends(task.runtime)
    due = relay_service.due_work(task.runtime)
    enqueue_notices(task.runtime, list(dict.fromkeys(escalations + due.notice_ids)))
    for delivery_id in due.delivery_ids:
        enqueue_delivery(task.runtime, delivery_id)
    for event_pk in due.fanout_event_pks:
        enqueue_fanout(task.runtime, event_pk)


@shared_task(name=task_names.CHECK_DEADLINES, bind=True, acks_late=True)  # type: ignore[untyped-decorator]  # celery ships no types
def check_deadlines(task: RuntimeTask) -> None:
    """Escalate confirmations at risk of missing their deadline."""
    enqueue_notices(task.runtime, escalation.escalate_at_risk(task.runtime))


@shared_task(name="notifier.tasks.check_affirmations", bind=True, acks_late=True)  # type: ignore[untyped-decorator]  # celery ships no types
def check_affirmations(task: RuntimeTask) -> None:
    """Warn support of delivered confirmations still unaffirmed near their deadline."""
    enqueue_notices(task.runtime, escalation.escalate_unaffirmed(task.runtime))
