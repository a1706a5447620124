"""The web's publisher: notice ids leave in few tasks, none lost, each event's ids together."""

from __future__ import annotations

import base64
import json
import threading
from typing import Any

import redis
from flask import Flask

from notifier.notices.publish import NOTICES_PER_TASK, Publisher
from notifier.runtime import Runtime
from notifier.task_names import PROCESS_NOTICES


def _queued_tasks(redis_client: redis.Redis, queue: str) -> list[list[int]]:
    """The notice-id lists of the process_notices tasks waiting in ``queue``, oldest first."""
    tasks = []
    for raw in reversed(redis_client.lrange(queue, 0, -1)):  # kombu LPUSHes, workers BRPOP
        message: dict[str, Any] = json.loads(raw)
        assert message["headers"]["task"] == PROCESS_NOTICES
        args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        tasks.append(args[0])
    return tasks


def test_concurrent_posts_are_coalesced_without_losing_or_splitting_one(
    live_app: Flask, live_env: dict[str, str], redis_client: redis.Redis
) -> None:
    runtime: Runtime = live_app.extensions["notifier"]
    assert isinstance(runtime.publisher, Publisher)  # the web publishes from its own thread
    queue = live_env["NOTIFIER_QUEUE"]
    groups = [[1000 * t + 10 * i, 1000 * t + 10 * i + 1] for t in range(8) for i in range(40)]

    def post(thread: int) -> None:
        for group in groups[thread * 40 : (thread + 1) * 40]:
            runtime.publisher.submit(list(group))  # type: ignore[union-attr]

    threads = [threading.Thread(target=post, args=(t,)) for t in range(8)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert runtime.publisher.flush(30)  # type: ignore[union-attr]
        tasks = _queued_tasks(redis_client, queue)
    finally:
        redis_client.delete(queue)

    published = [notice_id for task in tasks for notice_id in task]
    assert sorted(published) == sorted(n for g in groups for n in g)  # each id exactly once
    assert all(len(task) <= NOTICES_PER_TASK for task in tasks)
    for group in groups:  # a primer and its confirmation travel in one task, in order
        assert any(task[i : i + 2] == group for task in tasks for i in range(len(task) - 1))
    assert len(tasks) < len(groups)  # 320 submissions in fewer tasks: coalesced


def test_a_large_group_is_split_into_full_tasks(
    live_app: Flask, live_env: dict[str, str], redis_client: redis.Redis
) -> None:
    runtime: Runtime = live_app.extensions["notifier"]
    queue = live_env["NOTIFIER_QUEUE"]
    fan_out = list(range(1, 2 * NOTICES_PER_TASK + 8))
    try:
        runtime.publisher.submit(fan_out)  # type: ignore[union-attr]
        assert runtime.publisher.flush(30)  # type: ignore[union-attr]
        tasks = _queued_tasks(redis_client, queue)
    finally:
        redis_client.delete(queue)
    assert [len(t) for t in tasks] == [NOTICES_PER_TASK, NOTICES_PER_TASK, 7]
    assert [n for t in tasks for n in t] == fan_out
