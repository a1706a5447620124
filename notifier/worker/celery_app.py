"""The Celery app: Redis in production, a filesystem broker when embedded."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery import Celery, Task
from celery.signals import after_setup_logger, after_setup_task_logger

from notifier.config import Settings
from notifier.runtime import Runtime
from notifier.secrets import install_log_redaction


def _broker_options(settings: Settings) -> dict[str, Any]:
    if settings.embedded_broker:
        queue = settings.broker_dir / "queue"
        processed = settings.broker_dir / "processed"
        queue.mkdir(parents=True, exist_ok=True)
        processed.mkdir(parents=True, exist_ok=True)
        return {
            "data_folder_in": str(queue),
            "data_folder_out": str(queue),
            "processed_folder": str(processed),
            "store_processed": False,
        }
    return {"visibility_timeout": 3600}


class RuntimeTask(Task):  # type: ignore[misc]  # celery ships no type information
    """A task of one Celery app, carrying that app's runtime (set by :func:`make_celery`)."""

    runtime: Runtime


def make_celery(runtime: Runtime) -> Celery:
    """Create the Celery app whose tasks run with ``runtime``; publishing goes through it."""
    settings = runtime.settings

    class AppTask(RuntimeTask):
        pass

    AppTask.runtime = runtime
    settings.var_dir.mkdir(parents=True, exist_ok=True)  # beat keeps its schedule file there
    celery = Celery("notifier", task_cls=AppTask)
    celery.conf.update(
        broker_url=settings.broker_url,
        broker_transport_options=_broker_options(settings),
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=2,
        task_default_queue=settings.queue_name,
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=4,
        task_serializer="json",
        accept_content=["json"],
        timezone="UTC",
        beat_schedule={
            "relay": {
                "task": "notifier.tasks.relay",
                "schedule": timedelta(seconds=settings.relay_interval_seconds),
            },
            "deadlines": {
                "task": "notifier.tasks.check_deadlines",
                "schedule": timedelta(seconds=settings.deadline_check_seconds),
            },
            "affirmations": {
                "task": "notifier.tasks.check_affirmations",
                "schedule": timedelta(seconds=settings.affirmation_check_seconds),
            },
        },
        beat_schedule_filename=str(settings.var_dir / "celerybeat-schedule"),
        include=["notifier.worker.tasks"],
    )
    celery.set_default()
    runtime.broker = celery
    return celery


@after_setup_logger.connect  # type: ignore[untyped-decorator]  # celery ships no types
@after_setup_task_logger.connect  # type: ignore[untyped-decorator]  # celery ships no types
def _redact_worker_logs(**_: object) -> None:
    install_log_redaction()
