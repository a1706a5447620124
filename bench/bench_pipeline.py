"""Benchmark the whole pipeline: POST /v1/events → worker → signed webhook received.

Starts the service's own processes on 127.0.0.1 — gunicorn (sync workers) and a Celery
worker (prefork) on a Redis broker, with SQLite (default) or PostgreSQL — registers one
client whose only channel is a signed webhook pointing at a receiver in this process,
posts N L1-final events with unique ids at a fixed concurrency and prints:

* ingest events/s (first POST start → last POST answered),
* delivered confirmations/s (first POST start → last webhook received),
* p50 / p99 event→delivered latency (POST start → webhook received, same clock),
* peak RSS of the web and worker process trees (sampled from /proc).

Bounded: N events, one overall timeout. Run it with ``make bench`` or
``.venv/bin/python bench/bench_pipeline.py --help``.
"""

from __future__ import annotations

import argparse
import base64
import copy
import http.client
import json
import os
import platform
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EVENT_TEMPLATE = ROOT / "tests" / "data" / "l1_final.json"
ADMIN_KEY = "bench-admin-" + secrets.token_hex(16)
PRODUCER_KEY = "bench-producer-" + secrets.token_hex(16)
SUPPORT_KEY = "bench-support-" + secrets.token_hex(16)
WEBHOOK_SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
CLIENT_ID = "bench-client"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- the receiver ----------------------------------------------------------------------


@dataclass
class Receiver:
    """A threaded HTTP server that verifies signatures and notes when each notice arrived."""

    received: dict[int, float] = field(default_factory=dict)
    bad_signatures: int = 0
    duplicates: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    arrived: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self.arrived = threading.Condition(self.lock)
        from standardwebhooks.webhooks import Webhook, WebhookVerificationError

        receiver = self
        verifier = Webhook(WEBHOOK_SECRET)

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server names it so
                at = time.monotonic()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    verifier.verify(body, headers)
                except WebhookVerificationError:
                    with receiver.lock:
                        receiver.bad_signatures += 1
                    self._answer(401)
                    return
                notice_id = int(json.loads(body)["data"]["notice_id"])
                with receiver.arrived:
                    if notice_id in receiver.received:
                        receiver.duplicates += 1
                    else:
                        receiver.received[notice_id] = at
                    receiver.arrived.notify_all()
                self._answer(200)

            def _answer(self, status: int) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # quiet: no per-request log
                return

        class Server(ThreadingHTTPServer):
            # The default backlog of 5 turns bursts into fake 1 s latencies.
            request_queue_size = 1024
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/bench"

    def wait_for(self, notice_ids: set[int], timeout: float) -> set[int]:
        """Wait until every id arrived or ``timeout`` passed; return the missing ones."""
        deadline = time.monotonic() + timeout
        with self.arrived:
            while True:
                missing = notice_ids - self.received.keys()
                remaining = deadline - time.monotonic()
                if not missing or remaining <= 0:
                    return missing
                self.arrived.wait(min(remaining, 0.5))

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- process trees and their memory ----------------------------------------------------


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # Field 4 (ppid) follows the parenthesised command name, which may hold spaces.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_kib(root: int, tree: dict[int, list[int]]) -> int:
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += _rss_kib(pid)
        stack.extend(tree.get(pid, []))
    return total


def tree_cpu_seconds(root: int, tree: dict[int, list[int]]) -> float:
    """User + system CPU time of a live process tree."""
    ticks, stack = 0, [root]
    while stack:
        pid = stack.pop()
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
        stack.extend(tree.get(pid, []))
    return ticks / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all cores), from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class CpuShare:
    """How much of the machine's busy CPU during a window was ours (service + bench)."""

    def __init__(self, roots: dict[str, int]) -> None:
        self.roots = roots
        self.ours = {name: 0.0 for name in [*roots, "bench"]}
        self.busy = 0.0

    def _sample(self) -> tuple[dict[str, float], float]:
        tree = _children()
        sample = {name: tree_cpu_seconds(pid, tree) for name, pid in self.roots.items()}
        times = os.times()
        sample["bench"] = times.user + times.system
        return sample, machine_busy_seconds()

    def __enter__(self) -> CpuShare:
        self._start = self._sample()
        return self

    def __exit__(self, *_: object) -> None:
        end, busy = self._sample()
        self.ours = {name: end[name] - self._start[0][name] for name in end}
        self.busy = busy - self._start[1]

    @property
    def others(self) -> float:
        return max(0.0, self.busy - sum(self.ours.values()))


class PeakRss:
    """Sample the summed RSS of a few process trees every ``interval`` seconds."""

    def __init__(self, roots: dict[str, int], interval: float = 0.2) -> None:
        self.roots = roots
        self.peaks = dict.fromkeys(roots, 0)
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            tree = _children()
            for name, pid in self.roots.items():
                self.peaks[name] = max(self.peaks[name], tree_rss_kib(pid, tree))
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


# --- the service under test ------------------------------------------------------------


@dataclass
class Service:
    env: dict[str, str]
    workdir: Path
    web_workers: int
    worker_concurrency: int
    port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def base_url(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def _spawn(self, name: str, args: list[str]) -> None:
        log = (self.workdir / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", *args],
            cwd=ROOT,
            env={**os.environ, **self.env, "PYTHONUNBUFFERED": "1"},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped as one tree
        )
        log.close()

    def start(self) -> None:
        web = [
            "gunicorn",
            "--workers",
            str(self.web_workers),
            "--worker-class",
            "sync",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--backlog",
            "1024",
        ]
        if _gunicorn_has_control_socket():
            # gunicorn 25+ opens ~/.gunicorn/gunicorn.ctl; keep ours from taking a
            # running service's socket.
            web += ["--control-socket", str(self.workdir / "gunicorn.ctl")]
        self._spawn("web", [*web, "notifier.api.app:create_app()"])
        self._spawn(
            "worker",
            [
                "celery",
                "-A",
                "notifier.worker.app",
                "worker",
                "--pool",
                "prefork",
                "--concurrency",
                str(self.worker_concurrency),
                "--loglevel",
                "WARNING",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited: see {self.workdir / (name + '.log')}")
            try:
                status, _ = request(self.base_url, "GET", "/healthz")
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("the web process did not answer /healthz within 60 s")

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def _gunicorn_has_control_socket() -> bool:
    import gunicorn.config  # type: ignore[import-untyped]  # gunicorn ships no stubs

    return any(s.name == "control_socket" for s in gunicorn.config.KNOWN_SETTINGS)


def request(
    address: tuple[str, int],
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    key: str | None = None,
) -> tuple[int, dict[str, Any]]:
    """One HTTP request on a fresh connection (gunicorn sync workers close each one)."""
    conn = http.client.HTTPConnection(*address, timeout=60)
    try:
        headers = {"Content-Type": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        payload = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw else {}
    finally:
        conn.close()


# --- databases and broker ----------------------------------------------------------------


@contextmanager
def database(kind: str, workdir: Path, pg_url: str) -> Iterator[str]:
    """Yield an empty database URL: a SQLite file, or a throwaway PostgreSQL schema."""
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'bench.sqlite'}"
        return
    import sqlalchemy as sa

    engine = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    schema = "bench_" + uuid.uuid4().hex[:10]
    with engine.connect() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        sep = "&" if "?" in pg_url else "?"
        yield f"{pg_url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with engine.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        engine.dispose()


def check_redis(url: str) -> None:
    import redis

    try:
        client = redis.Redis.from_url(url)
        client.ping()
    except redis.RedisError as exc:
        sys.exit(
            f"bench: Redis at {url} does not answer ({type(exc).__name__}); start it with\n"
            '  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save ""'
        )
    if client.dbsize():
        sys.exit(f"bench: Redis database {url} is not empty; choose another with --redis-url")
    client.close()


def flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()


# --- the run ---------------------------------------------------------------------------


def make_event(template: dict[str, Any], run_id: str, index: int) -> dict[str, Any]:
    event = copy.deepcopy(template)
    event["event_id"] = f"bench-{run_id}-{index:06d}"
    event["trade"]["trade_id"] = f"BT-{run_id}-{index:06d}"
    event["trade"]["client_id"] = CLIENT_ID
    return event


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


def run(args: argparse.Namespace) -> int:
    check_redis(args.redis_url)
    receiver = Receiver()
    template = json.loads(EVENT_TEMPLATE.read_text())
    run_id = uuid.uuid4().hex[:8]
    started_wall = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="notifier-bench-") as tmp:
        workdir = Path(tmp)
        with database(args.database, workdir, args.pg_url) as db_url:
            env = {
                "NOTIFIER_VAR_DIR": str(workdir / "var"),
                "NOTIFIER_DATABASE_URL": db_url,
                "NOTIFIER_BROKER_URL": args.redis_url,
                "NOTIFIER_API_KEYS": (
                    f"admin:{ADMIN_KEY},producer:{PRODUCER_KEY},support:{SUPPORT_KEY}"
                ),
                "NOTIFIER_SECRET_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
            }
            from notifier.config import load_settings
            from notifier.db import Database

            schema_db = Database(load_settings(env).database_url)
            schema_db.upgrade()
            schema_db.dispose()
            service = Service(env, workdir, args.web_workers, args.worker_concurrency)
            try:
                service.start()
                return _measure(args, service, receiver, template, run_id, started_wall)
            finally:
                service.stop()
                receiver.stop()
                flush_redis(args.redis_url)
                if args.keep_logs:
                    for name in ("web", "worker"):
                        log = workdir / f"{name}.log"
                        if log.exists():
                            target = ROOT / "var" / f"bench-{name}.log"
                            target.parent.mkdir(exist_ok=True)
                            target.write_bytes(log.read_bytes())
                            print(f"kept {target}")


def _measure(
    args: argparse.Namespace,
    service: Service,
    receiver: Receiver,
    template: dict[str, Any],
    run_id: str,
    started_wall: datetime,
) -> int:
    address = service.base_url
    status, body = request(
        address,
        "PUT",
        f"/v1/clients/{CLIENT_ID}",
        {
            "name": "Bench Capital",
            "locale": "en_US",
            "timezone": "America/New_York",
            "channels": [{"name": "hook", "url": receiver.url, "secret": WEBHOOK_SECRET}],
        },
        ADMIN_KEY,
    )
    if status not in (200, 201):
        print(f"bench: registering the client failed: {status} {body}", file=sys.stderr)
        return 1

    # Warm-up: one event through every part (web, broker, worker, receiver) before timing.
    status, body = request(
        address, "POST", "/v1/events", make_event(template, run_id, 999_999), PRODUCER_KEY
    )
    if status != 202:
        print(f"bench: warm-up event refused: {status} {body}", file=sys.stderr)
        return 1
    if receiver.wait_for(set(body["notice_ids"]), timeout=60):
        print("bench: the warm-up confirmation never arrived", file=sys.stderr)
        return 1

    posted: dict[int, float] = {}
    errors: list[str] = []
    lock = threading.Lock()

    def post(index: int) -> float:
        start = time.monotonic()
        status, body = request(
            address, "POST", "/v1/events", make_event(template, run_id, index), PRODUCER_KEY
        )
        with lock:
            if status == 202:
                for notice_id in body["notice_ids"]:
                    posted[notice_id] = start
            else:
                errors.append(f"{status} {body.get('error', body)}")
        return time.monotonic()

    roots = {name: p.pid for name, p in service.processes.items()}
    load_before = os.getloadavg()[0]
    with PeakRss(roots) as rss, CpuShare(roots) as cpu:
        t0 = time.monotonic()
        with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
            answered = list(pool.map(post, range(args.events)))
        t_ingested = max(answered)
        missing = receiver.wait_for(set(posted), timeout=args.timeout)
        t_delivered = max((receiver.received[i] for i in posted if i not in missing), default=t0)

    latencies = [receiver.received[i] - start for i, start in posted.items() if i not in missing]
    delivered = len(latencies)
    ingest_rate = args.events / (t_ingested - t0)
    delivery_rate = delivered / (t_delivered - t0) if delivered else 0.0

    print(f"notifier pipeline benchmark — {started_wall:%Y-%m-%d %H:%M} UTC")
    print(
        f"  machine      {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )
    print(
        f"  set-up       {args.database} + Redis broker; gunicorn sync x{args.web_workers}; "
        f"celery prefork x{args.worker_concurrency}; signed webhook to 127.0.0.1"
    )
    print(f"  load         {args.events} L1-final events, concurrency {args.concurrency}")
    print(f"  ingest       {ingest_rate:8.1f} events/s  ({t_ingested - t0:.2f} s)")
    print(f"  delivered    {delivery_rate:8.1f} confirmations/s  ({delivered}/{len(posted)})")
    if latencies:
        print(
            f"  latency      p50 {percentile(latencies, 0.50) * 1000:8.0f} ms   "
            f"p99 {percentile(latencies, 0.99) * 1000:8.0f} ms   "
            f"max {max(latencies) * 1000:8.0f} ms  (POST start → webhook received)"
        )
    print(
        f"  peak RSS     web {rss.peaks['web'] / 1024:6.0f} MiB   "
        f"worker {rss.peaks['worker'] / 1024:6.0f} MiB  (process trees, sampled every 0.2 s)"
    )
    window = t_delivered - t0
    print(
        f"  CPU          web {cpu.ours['web']:.1f} s, worker {cpu.ours['worker']:.1f} s, "
        f"bench {cpu.ours['bench']:.1f} s, other processes {cpu.others:.1f} s "
        f"over {window:.1f} s x {os.cpu_count()} cores; load avg before {load_before:.2f}"
    )
    if delivered:
        # CPU per event does not depend on what else the machine was doing.
        print(
            f"  CPU / event  web {cpu.ours['web'] / args.events * 1000:.1f} ms, "
            f"worker {cpu.ours['worker'] / delivered * 1000:.1f} ms"
        )
    problems = []
    if errors:
        problems.append(f"{len(errors)} POSTs refused, e.g. {errors[0]}")
    if missing:
        problems.append(f"{len(missing)} confirmations not received within {args.timeout:.0f} s")
    if receiver.bad_signatures:
        problems.append(f"{receiver.bad_signatures} webhooks failed signature verification")
    if receiver.duplicates:
        problems.append(f"{receiver.duplicates} duplicate webhooks (retries)")
    for problem in problems:
        print(f"  PROBLEM      {problem}")
    return 1 if errors or missing or receiver.bad_signatures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2000, help="events to post (2000)")
    parser.add_argument("--concurrency", type=int, default=16, help="parallel POSTs (16)")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--pg-url",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/test",
        help="PostgreSQL database to create a throwaway schema in (--database postgresql)",
    )
    parser.add_argument(
        "--redis-url",
        default="redis://127.0.0.1:6379/13",
        help="an empty Redis database for the broker; flushed afterwards (db 13)",
    )
    parser.add_argument("--web-workers", type=int, default=4, help="gunicorn sync workers (4)")
    parser.add_argument(
        "--worker-concurrency", type=int, default=2, help="celery prefork processes (2)"
    )
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds to wait for deliveries (300)"
    )
    parser.add_argument(
        "--keep-logs", action="store_true", help="copy web and worker logs to var/ at the end"
    )
    args = parser.parse_args(argv)
    for host_url in (args.redis_url, args.pg_url):
        if "127.0.0.1" not in host_url and "localhost" not in host_url:
            parser.error("the benchmark only talks to 127.0.0.1")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
