"""Celery tasks: thin, take ids, own the retry schedule. The work is in the services."""

from __future__ import annotations

from celery import shared_task
from flask import current_app

from notifier import pipeline
from notifier import relay as relay_service
from notifier.queue import enqueue_delivery, enqueue_notices
from notifier.runtime import Runtime


def _runtime() -> Runtime:
    runtime: Runtime = current_app.extensions["notifier"]
    return runtime


@shared_task(name="notifier.tasks.process_notice", acks_late=True)
def process_notice(notice_id: int) -> None:
    """Render a notice and attempt each of its deliveries."""
    for retry in pipeline.process_notice(_runtime(), notice_id):
        enqueue_delivery(retry.delivery_id, countdown=retry.delay)


@shared_task(name="notifier.tasks.deliver", acks_late=True)
def deliver(delivery_id: int) -> None:
    """Attempt one delivery and schedule its next attempt if it failed."""
    delay = pipeline.deliver(_runtime(), delivery_id)
    if delay is not None:
        enqueue_delivery(delivery_id, countdown=delay)


@shared_task(name="notifier.tasks.relay", acks_late=True)
def relay() -> None:
    """Re-enqueue committed work the broker never got (or lost)."""
    due = relay_service.find_due_work(_runtime())
    enqueue_notices(due.notice_ids)
    for delivery_id in due.delivery_ids:
        enqueue_delivery(delivery_id)


@shared_task(name="notifier.tasks.check_deadlines", acks_late=True)
def check_deadlines() -> None:
    """Escalate confirmations at risk of missing their deadline."""
    from notifier import deadlines

    enqueue_notices(deadlines.escalate_at_risk(_runtime()))
