"""Hand committed work to the broker. Only ids travel; a failure here loses nothing.

If the broker is down the rows stay due in the database and the relay (Celery beat)
enqueues them again once it is back.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
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
    if not ids:
        return
    if runtime.publisher is not None:
        runtime.publisher.submit(ids)
        return
    _send_groups(runtime, [ids])


def _send_groups(runtime: Runtime, groups: list[list[int]]) -> None:
    """Publish groups of notice ids in as few tasks as fit, a group never split across two
    tasks unless it alone is larger than one task (a batch's fan-out)."""
    task: list[int] = []
    for ids in groups:
        if task and len(task) + len(ids) > NOTICES_PER_TASK:
            if not _send(runtime, task_names.PROCESS_NOTICES, [task]):
                return  # the broker is down; do not wait on it once per chunk
            task = []
        task.extend(ids)
        while len(task) > NOTICES_PER_TASK:
            if not _send(runtime, task_names.PROCESS_NOTICES, [task[:NOTICES_PER_TASK]]):
                return
            task = task[NOTICES_PER_TASK:]
    if task:
        _send(runtime, task_names.PROCESS_NOTICES, [task])


# At most one task per this interval from one web process under load (latency: ≤ 10 ms).
MIN_TASK_INTERVAL_SECONDS = 0.01


class Publisher:
    """Publish notice ids from one background thread, coalescing what arrives meanwhile.

    The web answers a POST once its transaction has committed; publishing is not its
    business (issue 8: the publish cost ~12 % of the web's CPU per event, and a broker
    that is down must not hold any answer). Ids handed over while a publish is under
    way go out together in the next task, so under load one task carries several
    events' notices (fewer messages for the broker and the workers) and when idle an
    event's notices leave at once. Each call's ids stay together and in order (a primer
    before its confirmation). Ids a dying process never published are committed work:
    the relay finds them after its grace period, as when the broker is down.
    """

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = weakref.ref(runtime)
        self._pending: list[list[int]] = []
        self._busy = False
        self._closed = False
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._pid = 0
        atexit.register(self.close)

    def submit(self, ids: list[int]) -> None:
        with self._cond:
            self._pending.append(ids)
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._pid = os.getpid()
                self._thread = threading.Thread(
                    target=self._run, name="notifier-publisher", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything submitted so far was handed to the broker (or given up)."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._pending and not self._busy, timeout)

    def close(self, timeout: float = 2.0) -> None:
        self.flush(timeout)
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _run(self) -> None:
        last = 0.0
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending or self._closed)
                if self._closed and not self._pending:
                    return
                self._busy = True
            # Under load (the last task left moments ago) wait out the rest of a short
            # interval, so what arrives meanwhile shares the task; when idle, no wait.
            time.sleep(max(0.0, last + MIN_TASK_INTERVAL_SECONDS - time.monotonic()))
            last = time.monotonic()
            with self._cond:
                groups, self._pending = self._pending, []
            try:
                runtime = self._runtime()
                if runtime is not None:
                    _send_groups(runtime, groups)
            except Exception:  # never let the thread die: the relay covers what is lost
                log.exception("publishing %d notice group(s) failed", len(groups))
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()


def enqueue_fanout(runtime: Runtime, event_pk: int) -> bool:
    """Ask a worker to write a batch event's per-trade notices (the relay re-drives it)."""
    if not runtime.settings.enqueue or runtime.broker is None:
        return False
    return _send(runtime, task_names.FAN_OUT, [event_pk])


def enqueue_delivery(runtime: Runtime, delivery_id: int, countdown: float | None = None) -> bool:
    if not runtime.settings.enqueue or runtime.broker is None:
        return False
    return _send(runtime, task_names.DELIVER, [delivery_id], countdown)
