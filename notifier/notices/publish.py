"""Hand committed work to the broker. Only ids travel; a failure here loses nothing.

If the broker is down the rows stay due in the database and the relay (Celery beat)
enqueues them again once it is back.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from notifier import task_names
from notifier.runtime import Runtime

log = logging.getLogger(__name__)


def _send(runtime: Runtime, name: str, args: list[object], countdown: float | None = None) -> bool:
    assert runtime.broker is not None  # the callers checked settings.enqueue and the broker
    try:
        runtime.broker.send_task(name, args=args, countdown=countdown, retry=False)
    except Exception as exc:  # any broker error: the relay picks the work up later
        log.warning(
            "broker unavailable, %s(%s) left for the relay: %s", name, args, type(exc).__name__
        )
        return False
    return True


# Notices of one event travel together, so a primer is sent before its confirmation;
# a large fan-out (a failed batch) is split so both workers share it.
NOTICES_PER_TASK = 50


def enqueue_notices(runtime: Runtime, notice_ids: Iterable[int]) -> None:
    if not runtime.settings.enqueue or runtime.broker is None:
        return
    ids = list(notice_ids)
    for start in range(0, len(ids), NOTICES_PER_TASK):
        if not _send(runtime, task_names.PROCESS_NOTICES, [ids[start : start + NOTICES_PER_TASK]]):
            return  # the broker is down; do not wait on it once per chunk


def enqueue_fanout(runtime: Runtime, event_pk: int) -> bool:
    """Ask a worker to write a batch event's per-trade notices (the relay re-drives it)."""
    if not runtime.settings.enqueue or runtime.broker is None:
        return False
    return _send(runtime, task_names.FAN_OUT, [event_pk])


def enqueue_delivery(runtime: Runtime, delivery_id: int, countdown: float | None = None) -> bool:
    if not runtime.settings.enqueue or runtime.broker is None:
        return False
    return _send(runtime, task_names.DELIVER, [delivery_id], countdown)
