"""How long the support console's dashboard takes on a day of traffic (issue 10).

A script, not a test: it seeds a throwaway SQLite database (or a PostgreSQL schema) with
N events, each with one confirmation, one delivery and its attempts spread over the last
day (a tenth of them failing, some still retrying), then times the dashboard's services
and a whole ``GET /console`` page, logged in, through Flask's test client. Bounded: N
rows, R repetitions; it removes what it made.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from notifier.api.app import create_app
from notifier.config import load_settings
from notifier.models import Delivery, DeliveryAttempt, FinalityEvent, Notice
from notifier.notices.dashboard import (
    dashboard,
    deliveries_per_minute,
    delivery_latency,
)
from notifier.runtime import Runtime

KEY = "bench-support-key-0123456789"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def seed(runtime: Runtime, count: int, rng: random.Random) -> None:
    """N events → notices → deliveries → attempts, received over the last 24 hours."""
    now = datetime.now(UTC)
    with runtime.db.session() as session:
        for i in range(count):
            received = now - timedelta(seconds=rng.uniform(0, 86_400))
            failing = i % 10 == 0
            event = FinalityEvent(
                event_id=f"bench-{i}",
                type="trade.finality",
                status="accepted",
                body={},
                body_hash="x",
                trade_id=f"T-{i}",
                client_id=f"c{i % 50}",
                occurred_at=received,
                received_at=received,
            )
            notice = Notice(
                event=event,
                client_id=f"c{i % 50}",
                trade_id=f"T-{i}",
                kind="confirmation_l1",
                variant="final",
                dedup_key=f"bench:{i}",
                context={},
                locale="en",
                timezone="UTC",
                status="failed" if failing else "delivered",
                created_at=received,
                deadline_at=received + timedelta(days=1),
            )
            delivery = Delivery(
                notice=notice,
                target="hook",
                max_attempts=5,
                message_id=uuid.uuid4().hex,
                status="retrying" if failing and i % 20 == 0 else ("failed" if failing else "sent"),
                updated_at=received,
            )
            for n in range(3 if failing else 1):
                done = received + timedelta(milliseconds=rng.uniform(50, 900) * (n + 1))
                delivery.attempts.append(
                    DeliveryAttempt(
                        number=n + 1,
                        started_at=done,
                        finished_at=done,
                        duration_ms=5,
                        outcome="failed" if failing else "sent",
                    )
                )
            session.add(event)
            if i % 1000 == 999:
                session.flush()


def timed(fn: Any, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url, schema = f"sqlite:///{tmp}/bench.sqlite", None
        if args.database == "postgresql":
            schema = "bench_" + uuid.uuid4().hex[:10]
            admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
            url = f"{PG_URL}?options=-csearch_path%3D{schema}"
        env = {
            "NOTIFIER_VAR_DIR": tmp,
            "NOTIFIER_DATABASE_URL": url,
            "NOTIFIER_ENQUEUE": "0",
            "NOTIFIER_API_KEYS": f"support:{KEY}",
        }
        try:
            run(load_settings(env), args)
        finally:
            if schema:
                with admin.connect() as conn:
                    conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
                admin.dispose()


def run(settings: Any, args: argparse.Namespace) -> None:
    app = create_app(settings)
    runtime: Runtime = app.extensions["notifier"]
    runtime.db.upgrade()
    start = time.perf_counter()
    seed(runtime, args.events, random.Random(7))
    print(
        f"seeded {args.events} events/notices/deliveries in {time.perf_counter() - start:.1f} s"
        f" ({args.database})"
    )
    client = app.test_client()
    login = client.get("https://localhost/console/login").text
    token = login.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    client.post("https://localhost/console/login", data={"key": KEY, "csrf_token": token})

    def page() -> None:
        assert client.get("https://localhost/console").status_code == 200

    for name, fn in (
        ("dashboard()", lambda: dashboard(runtime)),
        ("deliveries_per_minute()", lambda: deliveries_per_minute(runtime)),
        ("delivery_latency()", lambda: delivery_latency(runtime)),
        ("GET /console", page),
    ):
        times = timed(fn, args.repeat)
        print(f"{name:26} median {statistics.median(times):7.1f} ms   max {max(times):7.1f} ms")
    runtime.db.dispose()


if __name__ == "__main__":
    main()
