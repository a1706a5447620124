"""Run a batch's sends side by side, keeping their sending leases while they last.

Sends with the same order key (one client's notices) go one after another, in claim
order, so a primer is sent before its trade's confirmation and a notice's channels in
priority order; different keys run concurrently in a small pool of threads (the pooled
sender in ``delivery/http.py`` is thread-safe and bounds each endpoint on its own).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent import futures
from typing import Protocol, TypeVar

from notifier.delivery.channels import Outcome
from notifier.runtime import Runtime
from notifier.states import AttemptOutcome

log = logging.getLogger(__name__)

# Threads per worker process: enough to overlap the waits on receivers, and more than one
# endpoint may hold (delivery/http.py SENDS_PER_ENDPOINT, 8): a hanging receiver's sends
# wait on their own slots, never on every thread (issue 8). A waiting thread costs no CPU.
SEND_THREADS = 32
# A send that waited longer than this since its claim (behind its client's earlier sends,
# or for a free thread) first asks whether its notice was replaced meanwhile: one query
# for the rest of its chain. A replaced notice is never sent (issue 6).
RECHECK_AFTER_SECONDS = 0.5
NOT_SENT_REPLACED = "not sent: its notice was replaced while the send waited"


class Send(Protocol):
    @property
    def delivery_id(self) -> int: ...

    @property
    def notice_id(self) -> int: ...

    @property
    def order(self) -> str: ...


S = TypeVar("S", bound=Send)

_pool: futures.ThreadPoolExecutor | None = None
_pool_pid = 0
_pool_lock = threading.Lock()


def _executor() -> futures.ThreadPoolExecutor:
    """One pool per process; a forked Celery child makes its own (threads do not fork)."""
    global _pool, _pool_pid
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid():
            _pool = futures.ThreadPoolExecutor(SEND_THREADS, thread_name_prefix="send")
            _pool_pid = os.getpid()
        return _pool


def send_all(
    runtime: Runtime,
    claimed: list[S],
    send: Callable[[Runtime, S], Outcome],
    renew: Callable[[Runtime, list[int]], None],
    replaced: Callable[[Runtime, list[int]], set[int]],
    patience: float | None = None,
    on_late: Callable[[list[tuple[S, Outcome]]], None] | None = None,
) -> list[tuple[S, Outcome]]:
    """Send every claimed delivery once; return each with its outcome, in claim order.

    With ``patience`` and ``on_late``: chains still sending after ``patience`` seconds are
    left to finish on their own and handed to ``on_late`` when they do; the rest return.

    While sends are still waiting or running, their leases are renewed every third of the
    lease, so a batch behind one slow receiver never looks like a lost worker, and a
    worker that dies stops renewing: the relay takes its sends back one lease later.
    """
    chains: dict[str, list[S]] = {}
    for item in claimed:
        chains.setdefault(item.order, []).append(item)
    outcomes: dict[int, Outcome] = {}

    checked = time.monotonic()

    def run(chain: list[S]) -> None:
        last_check, gone = checked, set[int]()
        for index, item in enumerate(chain):
            if time.monotonic() - last_check > RECHECK_AFTER_SECONDS:
                last_check = time.monotonic()
                gone = _replaced(runtime, replaced, [i.notice_id for i in chain[index:]])
            if item.notice_id in gone:
                now = runtime.clock()
                outcomes[item.delivery_id] = Outcome(
                    AttemptOutcome.NOTHING_SENT, now, now, NOT_SENT_REPLACED
                )
            else:
                outcomes[item.delivery_id] = _send_one(runtime, send, item)

    by_future = {_executor().submit(run, chain): chain for chain in chains.values()}
    every = max(runtime.settings.sending_lease_seconds / 3, 0.1)
    end = time.monotonic() + patience if patience is not None else None
    waiting = set(by_future)
    while waiting:
        timeout = every if end is None else max(0.0, min(every, end - time.monotonic()))
        _, waiting = futures.wait(waiting, timeout=timeout)
        if not waiting:
            break
        if end is not None and time.monotonic() >= end and on_late is not None:
            late = [item for f in waiting for item in by_future[f]]
            _detach(runtime, waiting, by_future, outcomes, renew, on_late)
            late_ids = {item.delivery_id for item in late}
            return [(i, outcomes[i.delivery_id]) for i in claimed if i.delivery_id not in late_ids]
        _renew(runtime, renew, [i.delivery_id for i in claimed if i.delivery_id not in outcomes])
    return [(item, outcomes[item.delivery_id]) for item in claimed]


def _renew(runtime: Runtime, renew: Callable[[Runtime, list[int]], None], ids: list[int]) -> None:
    if not ids:
        return
    try:
        renew(runtime, ids)
    except Exception:  # the database is busy or away: the sends go on
        log.exception("could not renew the sending lease of %d", len(ids))


def _detach(
    runtime: Runtime,
    waiting: set[futures.Future[None]],
    by_future: dict[futures.Future[None], list[S]],
    outcomes: dict[int, Outcome],
    renew: Callable[[Runtime, list[int]], None],
    on_late: Callable[[list[tuple[S, Outcome]]], None],
) -> None:
    """Leave chains still sending after the batch's patience to finish on their own.

    One slow or hanging receiver must hold only its own sends, not the batch (and the
    worker process) behind it (issue 8: a hanging client's 10 s sends made every batch
    wait, and another client's confirmations waited 30-50 s). Each late chain is recorded
    by ``on_late`` when it ends; a thread keeps their leases until then, so a worker that
    dies still gives them back to the relay one lease later.
    """
    every = max(runtime.settings.sending_lease_seconds / 3, 0.1)

    def finished(future: futures.Future[None]) -> None:
        chain = by_future[future]
        try:
            on_late([(item, outcomes[item.delivery_id]) for item in chain])
        except Exception:  # the relay takes unrecorded sends back after their lease
            log.exception("could not record %d late sends", len(chain))

    def keep_leases() -> None:
        left = set(waiting)
        while left:
            _, left = futures.wait(left, timeout=every)
            ids = [
                i.delivery_id for f in left for i in by_future[f] if i.delivery_id not in outcomes
            ]
            _renew(runtime, renew, ids)

    for future in waiting:
        future.add_done_callback(finished)
    threading.Thread(target=keep_leases, name="send-leases", daemon=True).start()


def _replaced(
    runtime: Runtime, replaced: Callable[[Runtime, list[int]], set[int]], notice_ids: list[int]
) -> set[int]:
    try:
        return replaced(runtime, notice_ids)
    except Exception:  # the database is away: send as the claim decided
        log.exception("could not check %d notices for a replacement", len(notice_ids))
        return set()


def _send_one(runtime: Runtime, send: Callable[[Runtime, S], Outcome], item: S) -> Outcome:
    try:
        return send(runtime, item)
    except Exception as exc:  # a bug, not a receiver's answer: the others are still recorded
        log.exception("delivery %s: the send raised", item.delivery_id)
        now = runtime.clock()
        # It may have left: retried like a lost send, never reported as not sent.
        return Outcome(AttemptOutcome.UNKNOWN, now, now, f"worker error: {type(exc).__name__}")
