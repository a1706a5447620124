"""One client's endpoint hangs; how long do another client's confirmations take? (issue 8)

A script, not a test. Starts the service as its Procfile ships it (waitress web, Celery
worker, beat) on SQLite in a temporary directory and a Redis database of its own (it
refuses a non-empty one), registers client A whose webhook answers only after
``--hang`` seconds and client B whose webhook answers at once, then posts L1-final events
for ``--seconds``: B at ``--rate`` per second, A at ``--hang-rate`` per second. Prints B's
event -> webhook-received latency (p50 / p99 / max, one clock, in this process), how many
of B's arrived, A's attempts by outcome and how many of them the open circuit refused
(``circuit open: …`` in the attempt's error, which support reads on the notice).

Bounded: N events, one overall timeout; 127.0.0.1 only; every process it started is
stopped by its process group at the end.

    .venv/bin/python bench/slow_endpoint.py [--rate 50] [--seconds 30] [--hang 20]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ADMIN = "admin-" + uuid.uuid4().hex + uuid.uuid4().hex[:8]
PRODUCER = "producer-" + uuid.uuid4().hex + uuid.uuid4().hex[:8]
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # noqa: S105 - a throwaway test secret
EVENT_ID = re.compile(rb'"event_id": ?"([^"]+)"')


class Receiver:
    def __init__(self, hang: float) -> None:
        self.arrivals: dict[str, float] = {}
        self.hung = 0
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # http.server names it so
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path.startswith("/hang"):
                    with outer.lock:
                        outer.hung += 1
                    time.sleep(hang)
                else:
                    match = EVENT_ID.search(body)
                    if match:
                        with outer.lock:
                            outer.arrivals.setdefault(match.group(1).decode(), time.time())
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 1024

        self.server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])


def _call(method: str, url: str, key: str, body: dict[str, Any]) -> int:
    request = urllib.request.Request(  # noqa: S310 - http://127.0.0.1 only
        url,
        data=json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        return int(answer.status)


def _procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(":", 1) for line in lines if ":" in line)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def run(args: argparse.Namespace) -> int:
    import redis

    broker = redis.Redis.from_url(args.redis_url)
    if broker.dbsize():
        sys.exit(f"{args.redis_url} is not empty; choose another --redis-url")
    # Two receivers, two ports: the sender keys its connection pools, in-flight slots and
    # circuit breakers by scheme, host and port, as distinct clients' endpoints would be.
    receiver, hanging = Receiver(args.hang), Receiver(args.hang)
    groups: list[int] = []
    with tempfile.TemporaryDirectory(prefix="notifier-slow-") as tmp:
        with socket.socket() as probe:  # a free port for the web
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        env = dict(
            os.environ,
            NOTIFIER_VAR_DIR=f"{tmp}/var",
            NOTIFIER_DATABASE_URL=f"sqlite:///{tmp}/var/n.db",
            NOTIFIER_BROKER_URL=args.redis_url,
            NOTIFIER_RESULT_BACKEND=args.redis_url,
            NOTIFIER_QUEUE=f"slow-{uuid.uuid4().hex[:8]}",
            NOTIFIER_API_KEYS=f"admin:{ADMIN},producer:{PRODUCER}",
            NOTIFIER_BIND=f"127.0.0.1:{port}",
            PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        )
        subprocess.run(
            ["notifier", "db", "upgrade"], env=env, cwd=ROOT, check=True, capture_output=True
        )
        try:
            for name, command in _procfile().items():
                log = open(f"{tmp}/{name}.log", "w")  # noqa: SIM115 - closed with the dir
                proc = subprocess.Popen(
                    ["bash", "-c", "exec " + command.strip()],
                    env=env,
                    cwd=ROOT,
                    stdout=log,
                    stderr=log,
                    start_new_session=True,
                )
                groups.append(proc.pid)
            base = f"http://127.0.0.1:{port}"
            for _ in range(200):
                try:
                    urllib.request.urlopen(base + "/healthz", timeout=1)  # noqa: S310
                    break
                except OSError:
                    time.sleep(0.1)
            for client, port_, path in (
                ("slow-a", hanging.port, "hang"),
                ("fast-b", receiver.port, "fast"),
            ):
                _call(
                    "PUT",
                    f"{base}/v1/clients/{client}",
                    ADMIN,
                    {
                        "name": client,
                        "locale": "en_US",
                        "timezone": "America/New_York",
                        "channels": [
                            {
                                "name": "hook",
                                "secret": SECRET,
                                "url": f"http://127.0.0.1:{port_}/{path}",
                            }
                        ],
                    },
                )
            template = json.loads((ROOT / "tests" / "data" / "l1_final.json").read_text())
            posted: dict[str, float] = {}
            run_id = uuid.uuid4().hex[:6]

            def post(client: str, index: int) -> None:
                event = json.loads(json.dumps(template))
                event["event_id"] = f"evt-{run_id}-{client}-{index}"
                event["trade"]["trade_id"] = f"T-{run_id}-{client}-{index}"
                event["trade"]["client_id"] = client
                started = time.time()
                if _call("POST", f"{base}/v1/events", PRODUCER, event) in (200, 202) and (
                    client == "fast-b"
                ):
                    posted[event["event_id"]] = started

            start = time.monotonic()
            with ThreadPoolExecutor(16) as pool:
                b = a = 0
                while (elapsed := time.monotonic() - start) < args.seconds:
                    while b < elapsed * args.rate:
                        pool.submit(post, "fast-b", b)
                        b += 1
                    while a < elapsed * args.hang_rate:
                        pool.submit(post, "slow-a", a)
                        a += 1
                    time.sleep(0.005)
            deadline = time.monotonic() + args.drain
            while time.monotonic() < deadline and len(
                [e for e in posted if e in receiver.arrivals]
            ) < len(posted):
                time.sleep(0.2)
            latencies = [
                receiver.arrivals[e] - t for e, t in posted.items() if e in receiver.arrivals
            ]
            db = sqlite3.connect(f"{tmp}/var/n.db")
            outcomes = dict(
                db.execute(
                    "SELECT a.outcome, count(*) FROM delivery_attempts a JOIN deliveries d"
                    " ON d.id = a.delivery_id JOIN notices n ON n.id = d.notice_id"
                    " WHERE n.client_id = 'slow-a' GROUP BY a.outcome"
                ).fetchall()
            )
            refused = db.execute(
                "SELECT count(*) FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id"
                " JOIN notices n ON n.id = d.notice_id WHERE n.client_id = 'slow-a'"
                " AND a.error LIKE 'circuit open%'"
            ).fetchone()[0]
            print(
                f"slow endpoint — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
                f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}"
            )
            print(
                f"  load      B {args.rate}/s and A {args.hang_rate}/s for {args.seconds} s; "
                f"A's webhook answers after {args.hang} s"
            )
            print(
                f"  B         {len(latencies)}/{len(posted)} received; event -> received "
                f"p50 {_percentile(latencies, 0.5):.3f} s, "
                f"p99 {_percentile(latencies, 0.99):.3f} s,"
                f" max {max(latencies, default=float('nan')):.3f} s"
            )
            print(
                f"  A         {a} posted; requests that reached A's receiver {hanging.hung}; "
                f"attempts by outcome {outcomes}; refused by the open circuit {refused}"
            )
        finally:
            for pgid in groups:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pgid, signal.SIGTERM)
            time.sleep(2)
            for pgid in groups:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pgid, signal.SIGKILL)
            broker.flushdb()
            receiver.server.shutdown()
            hanging.server.shutdown()
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rate", type=float, default=50.0, help="client B events per second")
    parser.add_argument("--hang-rate", type=float, default=5.0, help="client A events per second")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--hang", type=float, default=20.0, help="A's answer delay, seconds")
    parser.add_argument("--drain", type=float, default=120.0, help="wait for B's, seconds")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--keep-db", help="copy the SQLite database here at the end")
    sys.exit(run(parser.parse_args()))


if __name__ == "__main__":
    main()
