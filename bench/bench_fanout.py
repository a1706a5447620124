"""Benchmark a batch fan-out: N provisional trades across M clients, then one batch.final.

The trades are seeded in this process through the app itself (validation, rules, the
outbox) with nothing enqueued, so their primers and provisional confirmations stay
pending and never compete with what is measured (no beat runs, so no relay sends them).
Then the service's own processes start (gunicorn + a Celery worker on Redis, as in
``bench_pipeline.py``), one ``batch.final`` is posted, and the script prints:

* how long the POST took to answer (it stores the event; the worker fans out),
* the time from the POST until every final confirmation was received (signed webhook),
* duplicates, bad signatures and missing finals, and peak RSS of web and worker.

Bounded: N trades, one overall timeout.

    .venv/bin/python bench/bench_fanout.py --trades 10000 --clients 1000
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import secrets
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_pipeline import (  # noqa: E402
    ADMIN_KEY,
    PRODUCER_KEY,
    SUPPORT_KEY,
    WEBHOOK_SECRET,
    PeakRss,
    Receiver,
    Service,
    check_redis,
    database,
    flush_redis,
    request,
)

BATCH_ID = "B-BENCH-FANOUT"


def _env(workdir: Path, db_url: str, redis_url: str) -> dict[str, str]:
    return {
        "NOTIFIER_VAR_DIR": str(workdir / "var"),
        "NOTIFIER_DATABASE_URL": db_url,
        "NOTIFIER_BROKER_URL": redis_url,
        "NOTIFIER_API_KEYS": f"admin:{ADMIN_KEY},producer:{PRODUCER_KEY},support:{SUPPORT_KEY}",
        "NOTIFIER_SECRET_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
    }


def seed(env: dict[str, str], receiver_url: str, trades: int, clients: int) -> float:
    """Register the clients and post the provisional trades in-process; return seconds."""
    from notifier.api.app import create_app
    from notifier.config import load_settings

    started = time.monotonic()
    app = create_app(load_settings(env | {"NOTIFIER_ENQUEUE": "0"}))
    app.extensions["notifier"].db.upgrade()
    client = app.test_client()
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    producer = {"Authorization": f"Bearer {PRODUCER_KEY}"}
    hook = {"name": "hook", "url": receiver_url, "secret": WEBHOOK_SECRET}
    for n in range(clients):
        body = {"name": f"Client {n}", "locale": "en_US", "timezone": "UTC", "channels": [hook]}
        answer = client.put(f"/v1/clients/bench-{n:05d}", json=body, headers=admin)
        assert answer.status_code in (200, 201), answer.json
    template = json.loads((ROOT / "tests" / "data" / "l2_provisional.json").read_text())
    for n in range(trades):
        event = json.loads(json.dumps(template))
        event["event_id"] = f"bench-prov-{n:06d}"
        event["trade"] |= {"trade_id": f"BT-{n:06d}", "client_id": f"bench-{n % clients:05d}"}
        event["finality"]["l2"]["batch_id"] = BATCH_ID
        answer = client.post("/v1/events", json=event, headers=producer)
        assert answer.status_code == 202, answer.json
    app.extensions["notifier"].db.dispose()
    return time.monotonic() - started


def count_finals(db_url: str) -> int:
    import sqlalchemy as sa

    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        found = conn.exec_driver_sql(
            "SELECT count(*) FROM notices WHERE kind = 'confirmation_l2' AND variant = 'final'"
        ).scalar_one()
    engine.dispose()
    return int(found)


def run(args: argparse.Namespace) -> int:
    check_redis(args.redis_url)
    receiver = Receiver()
    with (
        tempfile.TemporaryDirectory(prefix="notifier-fanout-") as tmp,
        database(args.database, Path(tmp), args.pg_url) as db_url,
    ):
        workdir = Path(tmp)
        env = _env(workdir, db_url, args.redis_url)
        seeded = seed(env, receiver.url, args.trades, args.clients)
        print(f"seeded {args.trades} provisional trades / {args.clients} clients in {seeded:.0f} s")
        service = Service(env, workdir, args.web_workers, args.worker_concurrency)
        try:
            service.start()
            return _measure(args, service, receiver, db_url)
        finally:
            service.stop()
            receiver.stop()
            flush_redis(args.redis_url)


def _measure(args: argparse.Namespace, service: Service, receiver: Receiver, db_url: str) -> int:
    event = {
        "event_id": f"bench-final-{uuid.uuid4().hex[:8]}",
        "type": "batch.final",
        "occurred_at": "2026-11-25T02:00:05Z",
        "batch": {
            "batch_id": BATCH_ID,
            "batch_end_at": "2026-11-25T02:00:00Z",
            "final_at": "2026-11-25T02:00:03Z",
        },
    }
    roots = {name: p.pid for name, p in service.processes.items()}
    load_before = os.getloadavg()
    with PeakRss(roots) as rss:
        t0 = time.monotonic()
        status, body = request(service.base_url, "POST", "/v1/events", event, PRODUCER_KEY)
        answered = time.monotonic() - t0
        deadline = t0 + args.timeout
        while time.monotonic() < deadline:
            with receiver.lock:
                arrived = len(receiver.received)
            if arrived >= args.trades:
                break
            time.sleep(0.05)
        with receiver.lock:
            times = sorted(receiver.received.values())
    finals = count_finals(db_url)
    print(f"notifier fan-out benchmark — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(
        f"  machine      {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"load avg before {load_before[0]:.2f} / {load_before[1]:.2f} / {load_before[2]:.2f}"
    )
    print(
        f"  set-up       {args.database} + Redis; gunicorn sync x{args.web_workers}; "
        f"celery prefork x{args.worker_concurrency}; signed webhooks to 127.0.0.1"
    )
    print(f"  POST         batch.final answered {status} in {answered * 1000:.0f} ms: {body}")
    if times:
        print(
            f"  delivered    {len(times)}/{args.trades} finals; first after "
            f"{times[0] - t0:.2f} s, all after {times[-1] - t0:.2f} s "
            f"({len(times) / (times[-1] - t0):.0f}/s)"
        )
    print(
        f"  peak RSS     web {rss.peaks['web'] / 1024:.0f} MiB, "
        f"worker {rss.peaks['worker'] / 1024:.0f} MiB; load avg after {os.getloadavg()[0]:.2f}"
    )
    print(
        f"  checks       finals written {finals}, duplicates {receiver.duplicates}, "
        f"bad signatures {receiver.bad_signatures}"
    )
    ok = status == 202 and len(times) == args.trades == finals and not receiver.bad_signatures
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trades", type=int, default=10_000, help="provisional trades (10000)")
    parser.add_argument("--clients", type=int, default=1_000, help="clients (1000)")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--pg-url",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/test",
        help="PostgreSQL database to create a throwaway schema in (--database postgresql)",
    )
    parser.add_argument(
        "--redis-url",
        default="redis://127.0.0.1:6379/12",
        help="an empty Redis database for the broker; flushed afterwards (db 12)",
    )
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn sync workers (2)")
    parser.add_argument("--worker-concurrency", type=int, default=2, help="celery processes (2)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait (600)")
    args = parser.parse_args(argv)
    for host_url in (args.redis_url, args.pg_url):
        if "127.0.0.1" not in host_url and "localhost" not in host_url:
            parser.error("the benchmark only talks to 127.0.0.1")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
