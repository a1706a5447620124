"""The Celery app: Redis in production, a filesystem broker when embedded."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from typing import Any

from celery import Celery, Task
from celery.signals import (
    after_setup_logger,
    after_setup_task_logger,
    task_postrun,
    task_prerun,
    worker_ready,
)

from notifier import heartbeats, task_names
from notifier.config import Settings
from notifier.logs import JsonFormatter
from notifier.runtime import Runtime
from notifier.secrets import install_log_redaction

log = logging.getLogger(__name__)
task_log = logging.getLogger("notifier.tasks")


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
    # A publish never waits on a broker that is down: one try, a short connect (kombu's
    # default retries took ~2 s per POST, 16 s under load). The relay covers what is lost.
    return {"visibility_timeout": 3600, "max_retries": 0, "socket_connect_timeout": 1.0}


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
                "task": task_names.RELAY,
                "schedule": timedelta(seconds=settings.relay_interval_seconds),
            },
            "deadlines": {
                "task": task_names.CHECK_DEADLINES,
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
    _beat_while_running(celery, runtime)
    _log_tasks(celery, runtime)
    return celery


def _beat_while_running(celery: Celery, runtime: Runtime) -> None:
    """Once this app's worker is ready, record a heartbeat every few seconds (for /readyz)."""
    interval = max(1.0, runtime.settings.worker_heartbeat_seconds)

    def start(sender: Any = None, **_: object) -> None:
        if getattr(sender, "app", None) is not celery:
            return  # a signal from another app in this process (tests build several)

        def loop() -> None:
            while True:
                try:
                    heartbeats.beat(runtime.db, heartbeats.WORKER, runtime.clock())
                except Exception:  # a database blip must not kill the heartbeat for good
                    log.warning("could not record the worker heartbeat", exc_info=True)
                time.sleep(interval)

        threading.Thread(target=loop, name="notifier-heartbeat", daemon=True).start()

    worker_ready.connect(start, weak=False)


def _log_tasks(celery: Celery, runtime: Runtime) -> None:
    """One log line per task run: id, name, arguments (ids only), state and duration."""
    started: dict[str, float] = {}

    def before(task_id: str = "", task: Any = None, **_: object) -> None:
        if getattr(task, "app", None) is celery:
            started[task_id] = time.perf_counter()

    def after(task_id: str = "", task: Any = None, state: str = "", **kw: Any) -> None:
        begun = started.pop(task_id, None)
        if begun is None:
            return
        task_log.info(
            "task %s %s %s",
            getattr(task, "name", "?"),
            task_id,
            state,
            extra={
                "task_id": task_id,
                "task": getattr(task, "name", None),
                # Task arguments are notice / delivery ids, never content or secrets.
                "task_args": list(kw.get("args") or ()),
                "state": state,
                "duration_ms": round((time.perf_counter() - begun) * 1000, 1),
            },
        )

    task_prerun.connect(before, weak=False)
    task_postrun.connect(after, weak=False)
    if runtime.settings.log_format == "json":

        def json_logs(logger: Any = None, **_: object) -> None:
            for handler in getattr(logger, "handlers", []):
                handler.setFormatter(JsonFormatter())

        after_setup_logger.connect(json_logs, weak=False)
        after_setup_task_logger.connect(json_logs, weak=False)


@after_setup_logger.connect  # type: ignore[untyped-decorator]  # celery ships no types
@after_setup_task_logger.connect  # type: ignore[untyped-decorator]  # celery ships no types
def _redact_worker_logs(**_: object) -> None:
    install_log_redaction()
