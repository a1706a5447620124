"""Measure the worker's cost per notice in one process, without a profiler.

Sets up an in-process app (SQLite by default, or a throwaway PostgreSQL schema), registers
one client whose only channel is a signed webhook to a ThreadingHTTPServer in this
process, ingests N L1-final events with NOTIFIER_ENQUEUE=0 (nothing goes to a broker),
then times ``pipeline.process_notices(runtime, ids)`` chunk by chunk and prints the cost
per notice split into:

* render        — ``Renderer.render`` (Jinja2 + Babel),
* claim         — the transactions before the send (load, render's own commit, due
                  deliveries, claim), minus the render itself,
* send          — ``channels.send`` (Apprise + HTTP to the receiver in this process;
                  summed over the send threads, so it can exceed the wall time),
* record+settle — the first transaction after each send (attempt, settle, escalation),
* other         — what is left (Python between the steps).

The split comes from wrappers this script puts around the runtime's session factory, the
renderer and ``channels.send``; nothing in notifier/ is changed. SQL statements and
transactions per notice are counted with SQLAlchemy engine events. Bounded (N events),
127.0.0.1 only; the temporary directory and PostgreSQL schema are removed at the end.

    .venv/bin/python bench/bench_worker.py [--events 500] [--chunk 10] [--database postgresql]
    .venv/bin/python bench/bench_worker.py --chunk 1 --take-more 50   # the Celery task's way
"""

from __future__ import annotations

import argparse
import base64
import copy
import cProfile
import gc
import json
import logging
import os
import platform
import pstats
import secrets
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_pipeline import database  # noqa: E402  # the same throwaway-database helper

EVENT_TEMPLATE = ROOT / "tests" / "data" / "l1_final.json"
ADMIN_KEY = "bench-admin-" + secrets.token_hex(16)
PRODUCER_KEY = "bench-producer-" + secrets.token_hex(16)
WEBHOOK_SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
CLIENT_ID = "bench-client"
PHASES = ("render", "claim", "send", "record+settle", "other")


class Receiver:
    """A threaded HTTP server on 127.0.0.1 that answers 200 and counts what arrived."""

    def __init__(self) -> None:
        self.received = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server names it so
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.received += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

        class Server(ThreadingHTTPServer):
            request_queue_size = 1024  # the default 5 turns bursts into fake 1 s latencies
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/bench"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Timings:
    """Wall time per phase, filled by the wrappers below."""

    def __init__(self) -> None:
        self.seconds = dict.fromkeys(PHASES, 0.0)
        self.statements = 0
        self.transactions = 0
        self.after_send = False  # the next session is the send's record+settle
        self.driver = 0.0  # seconds inside the DBAPI's execute (the database's own work)
        self.driver_started = 0.0
        self.sql: list[str] | None = None  # statements, while --echo-sql captures them


def instrument(runtime: Any, timings: Timings) -> None:
    """Wrap the runtime's session factory, renderer and channels.send with timers."""
    from sqlalchemy import event

    from notifier.delivery import channels

    db = runtime.db
    plain_session = db.session

    @contextmanager
    def timed_session() -> Iterator[Any]:
        phase = "record+settle" if timings.after_send else "claim"
        timings.after_send = False
        rendered_before = timings.seconds["render"]
        start = time.perf_counter()
        try:
            with plain_session() as session:
                yield session
        finally:
            spent = time.perf_counter() - start
            # Rendering inside a transaction is counted as render, not as claim.
            timings.seconds[phase] += spent - (timings.seconds["render"] - rendered_before)

    db.session = timed_session

    renderer = runtime.renderer
    plain_render = renderer.render

    def timed_render(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return plain_render(*args, **kwargs)
        finally:
            timings.seconds["render"] += time.perf_counter() - start

    renderer.render = timed_render

    plain_send = channels.send

    def timed_send(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return plain_send(*args, **kwargs)
        finally:
            timings.seconds["send"] += time.perf_counter() - start
            timings.after_send = True

    channels.send = timed_send  # pipeline calls it as channels.send, so this is seen

    def count_statement(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        timings.statements += 1
        timings.driver_started = time.perf_counter()
        if timings.sql is not None:
            timings.sql.append(" ".join(statement.split())[:160])

    def statement_done(*_: Any) -> None:
        timings.driver += time.perf_counter() - timings.driver_started

    def count_transaction(*_: Any) -> None:
        timings.transactions += 1

    event.listen(db.engine, "before_cursor_execute", count_statement)
    event.listen(db.engine, "after_cursor_execute", statement_done)
    event.listen(db.engine, "commit", count_transaction)


def _gc_timer() -> Any:
    """Start timing the garbage collector; return a function giving (seconds, runs per gen)."""
    spent = [0.0]
    runs = [0, 0, 0]
    started = [0.0]

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            spent[0] += time.perf_counter() - started[0]
            runs[info["generation"]] += 1

    gc.callbacks.append(callback)

    def stop() -> tuple[float, list[int]]:
        gc.callbacks.remove(callback)
        return spent[0], runs

    return stop


def make_event(template: dict[str, Any], run_id: str, index: int) -> dict[str, Any]:
    body = copy.deepcopy(template)
    body["event_id"] = f"benchw-{run_id}-{index:06d}"
    body["trade"]["trade_id"] = f"BW-{run_id}-{index:06d}"
    body["trade"]["client_id"] = CLIENT_ID
    return body


def run(args: argparse.Namespace) -> int:
    from notifier.api.app import create_app
    from notifier.config import load_settings
    from notifier.worker import pipeline

    receiver = Receiver()
    template = json.loads(EVENT_TEMPLATE.read_text())
    run_id = uuid.uuid4().hex[:8]
    try:
        with (
            tempfile.TemporaryDirectory(prefix="notifier-benchw-") as tmp,
            database(args.database, Path(tmp), args.pg_url) as db_url,
        ):
            env = {
                "NOTIFIER_VAR_DIR": str(Path(tmp) / "var"),
                "NOTIFIER_DATABASE_URL": db_url,
                "NOTIFIER_API_KEYS": f"admin:{ADMIN_KEY},producer:{PRODUCER_KEY}",
                "NOTIFIER_SECRET_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
                "NOTIFIER_ENQUEUE": "0",
            }
            app = create_app(load_settings(env))
            # As the benchmark's Celery worker runs (--loglevel WARNING): Apprise's INFO
            # line per send is not formatted or written.
            logging.getLogger().setLevel(args.log_level)
            runtime = app.extensions["notifier"]
            runtime.db.upgrade()
            try:
                return _measure(args, app, runtime, pipeline, receiver, template, run_id)
            finally:
                runtime.db.dispose()
    finally:
        receiver.stop()


def _ingest(app: Any, template: dict[str, Any], run_id: str, start: int, count: int) -> list[int]:
    client = app.test_client()
    ids: list[int] = []
    for index in range(start, start + count):
        response = client.post(
            "/v1/events",
            json=make_event(template, run_id, index),
            headers={"Authorization": f"Bearer {PRODUCER_KEY}"},
        )
        if response.status_code != 202:
            raise RuntimeError(f"event refused: {response.status_code} {response.json}")
        ids.extend(response.json["notice_ids"])
    return ids


def _measure(
    args: argparse.Namespace,
    app: Any,
    runtime: Any,
    pipeline: Any,
    receiver: Receiver,
    template: dict[str, Any],
    run_id: str,
) -> int:
    response = app.test_client().put(
        f"/v1/clients/{CLIENT_ID}",
        json={
            "name": "Bench Capital",
            "locale": "en_US",
            "timezone": "America/New_York",
            "channels": [{"name": "hook", "url": receiver.url, "secret": WEBHOOK_SECRET}],
        },
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
    )
    if response.status_code not in (200, 201):
        print(f"bench: registering the client failed: {response.json}", file=sys.stderr)
        return 1

    # Warm-up (templates compiled, Apprise plugins loaded, pools filled): not counted.
    warm = _ingest(app, template, run_id, 900_000, args.warmup)
    t0 = time.perf_counter()
    ids = _ingest(app, template, run_id, 0, args.events)
    ingest_seconds = time.perf_counter() - t0
    pipeline.process_notices(runtime, warm)

    timings = Timings()
    instrument(runtime, timings)
    chunks = [ids[i : i + args.chunk] for i in range(0, len(ids), args.chunk)]
    per_chunk: list[float] = []
    chunk_phases: dict[str, list[float]] = {p: [] for p in PHASES}
    profiler = cProfile.Profile() if args.profile else None
    gc_spent = _gc_timer()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    with app.app_context():
        for chunk in chunks:
            start = time.perf_counter()
            if profiler is not None:
                profiler.enable()
            before = dict(timings.seconds)
            follow_up = (
                pipeline.process_notices(runtime, chunk, take_more=args.take_more)
                if args.take_more
                else pipeline.process_notices(runtime, chunk)
            )
            if profiler is not None:
                profiler.disable()
            spent = time.perf_counter() - start
            per_chunk.append(spent / len(chunk))
            phases = {p: (timings.seconds[p] - before[p]) / len(chunk) for p in PHASES}
            phases["other"] = spent / len(chunk) - sum(phases.values())
            for phase, value in phases.items():
                chunk_phases[phase].append(value)
            if follow_up.retries or follow_up.notice_ids:
                print(f"bench: unexpected follow-up work {follow_up}", file=sys.stderr)
                return 1
    wall = time.perf_counter() - wall0
    gc_seconds, gc_runs = gc_spent()
    cpu = time.process_time() - cpu0
    n = len(ids)
    timings.seconds["other"] = wall - sum(timings.seconds[p] for p in PHASES if p != "other")

    with runtime.db.session() as session:
        from sqlalchemy import func, select

        from notifier.models import Notice

        statuses = dict(
            session.execute(
                select(Notice.status, func.count())
                .where(Notice.id.in_(ids))
                .group_by(Notice.status)
            ).all()
        )

    print(f"notifier worker benchmark — {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC")
    print(
        f"  machine      {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}; load avg {os.getloadavg()[0]:.2f}"
    )
    print(
        f"  set-up       {args.database}, in-process; signed webhook to 127.0.0.1 "
        f"(receiver threads in this process)"
    )
    print(
        f"  load         {n} L1-final notices in chunks of {args.chunk}"
        f"{f' (+ up to {args.take_more} more per call)' if args.take_more else ''} "
        f"(ingest {ingest_seconds / args.events * 1000:.2f} ms/event, not part of the split)"
    )
    print(
        f"  per notice   {wall / n * 1000:6.2f} ms wall, {cpu / n * 1000:6.2f} ms CPU "
        f"(median chunk {statistics.median(per_chunk) * 1000:.2f} ms/notice)"
    )
    split = "  ".join(f"{p} {timings.seconds[p] / n * 1000:.2f}" for p in PHASES)
    print(f"  split (ms)   {split}")
    # This machine is shared (a VM): the median over chunks is steadier than the mean.
    medians = "  ".join(f"{p} {statistics.median(chunk_phases[p]) * 1000:.2f}" for p in PHASES)
    print(f"  median (ms)  {medians}")
    print(
        f"  database     {timings.statements / n:.1f} statements, "
        f"{timings.transactions / n:.1f} commits per notice; "
        f"{timings.driver / n * 1000:.2f} ms per notice inside the driver's execute"
    )
    print(
        f"  gc           {gc_seconds / n * 1000:.2f} ms per notice in the cyclic garbage "
        f"collector ({gc_runs[2]} full collections, {gc_runs[0]} / {gc_runs[1]} young)"
    )
    print(f"  outcome      {statuses}; receiver got {receiver.received - len(warm)}")
    ok = statuses == {"delivered": n} and receiver.received - len(warm) == n
    if args.echo_sql:
        extra = _ingest(app, template, run_id, 990_000, args.chunk)
        timings.sql = []
        pipeline.process_notices(runtime, extra)
        print(f"  SQL of one more chunk ({args.chunk} notices):")
        for number, statement in enumerate(timings.sql, 1):
            print(f"    {number:2d}. {statement}")
    if profiler is not None:
        stats = pstats.Stats(profiler).sort_stats(args.profile)
        stats.print_stats(args.profile_lines)
    if not ok:
        print("  PROBLEM      not every notice was delivered exactly once", file=sys.stderr)
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--events", type=int, default=500, help="L1-final events (500)")
    parser.add_argument("--chunk", type=int, default=10, help="notice ids per call (10)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed events first (20)")
    parser.add_argument(
        "--take-more",
        type=int,
        default=0,
        help="each call also takes up to N other pending notices, as the Celery task does "
        "(50); later chunks then find their notices done (the per-chunk medians mean little)",
    )
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--pg-url",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/test",
        help="PostgreSQL database to create a throwaway schema in (--database postgresql)",
    )
    parser.add_argument(
        "--profile",
        metavar="SORT",
        help="also profile the timed part with cProfile, sorted by SORT (distorts the figures)",
    )
    parser.add_argument("--profile-lines", type=int, default=40)
    parser.add_argument("--log-level", default="WARNING", help="root log level (WARNING)")
    parser.add_argument(
        "--echo-sql", action="store_true", help="print the SQL of one more chunk processed"
    )
    args = parser.parse_args(argv)
    if "127.0.0.1" not in args.pg_url and "localhost" not in args.pg_url:
        parser.error("the benchmark only talks to 127.0.0.1")
    if not 1 <= args.events <= 100_000:
        parser.error("--events must be between 1 and 100000")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
