"""How long POST /v1/events takes while Redis is down (issue 8: "blocked up to 16 s").

A script, not a test: an in-process app (SQLite in a temporary directory) publishing to a
private redis-server on a free port, which is stopped before N events are posted one after
another; prints the median and slowest answer times. Every POST must answer 202: the
notices are committed and the relay enqueues them once Redis is back.

    .venv/bin/python bench/bench_broker_down.py [--events 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from notifier.api.app import create_app  # noqa: E402
from notifier.config import load_settings  # noqa: E402
from tests.conftest import PRODUCER, load_event, make_env  # noqa: E402
from tests.support.flows import register_client, webhook_channel  # noqa: E402
from tests.support.receivers import free_port  # noqa: E402
from tests.support.worker import RedisServer  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20)
    args = parser.parse_args()
    redis = RedisServer(free_port())
    redis.start()
    with tempfile.TemporaryDirectory() as tmp:
        env = make_env(Path(tmp) / "var", f"sqlite:///{tmp}/n.db", NOTIFIER_BROKER_URL=redis.url)
        app = create_app(load_settings(env))
        app.extensions["notifier"].db.upgrade()
        client = app.test_client()
        register_client(client, [webhook_channel("http://127.0.0.1:9/hook")])
        took: list[float] = []
        for index in range(args.events + 1):
            if index == 1:  # the first POST warms the process up, with Redis still there
                redis.stop()
                took.clear()
            event = load_event("l1_final", event_id=f"evt-{uuid.uuid4()}")
            event["trade"]["trade_id"] = f"T-{uuid.uuid4()}"
            started = time.perf_counter()
            answer = client.post("/v1/events", json=event, headers=PRODUCER)
            took.append(time.perf_counter() - started)
            assert answer.status_code == 202, answer.json
        print(f"Redis down: {args.events} POSTs, all 202")
        print(f"  answer time  median {statistics.median(took):.3f} s, max {max(took):.3f} s")
        print("  each (s)    ", " ".join(f"{t:.2f}" for t in took))
    return 0


if __name__ == "__main__":
    sys.exit(main())
