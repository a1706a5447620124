"""Faults while notices flow: does anything get lost or sent twice? A script, not a test.

Starts the whole service on 127.0.0.1 — waitress (the Procfile's web), a Celery worker and
beat — on a private redis-server of its own (another port: the shared one on 6379 is
never touched) and SQLite or a throwaway PostgreSQL schema. A producer posts ``--events``
events (retrying a failed POST with the same event_id, as producers must) while this
script, in turn:

1. kills the worker (SIGKILL, its whole process group) during deliveries, restarts it;
2. kills redis-server, restarts it empty;
3. FLUSHALL on the private Redis (every queued task is gone);
4. kills web (SIGKILL) while the producer posts, restarts it.

One client's receiver answers 200 at once; another's trickles its answer one byte at a
time (``--trickle-every`` events go to it). Then it waits for every delivery to settle
and prints events, notices, distinct webhook-ids received, duplicates (and whether each
one had an attempt of unknown outcome: ``lost`` or ``timeout``), lost (a delivery whose
webhook-id never arrived) and the drain time.

    .venv/bin/python bench/faults.py --database sqlite
    .venv/bin/python bench/faults.py --database postgresql
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_pipeline import database, make_event  # noqa: E402  # bench/ is sys.path[0]

from tests.support.worker import BeatProcess, RedisServer, WorkerProcess  # noqa: E402

BIN = Path(sys.executable).parent
ADMIN_KEY = "faults-admin-" + secrets.token_hex(12)
PRODUCER_KEY = "faults-producer-" + secrets.token_hex(12)
WEBHOOK_SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
PG_URL = os.environ.get("NOTIFIER_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
UNKNOWN_OUTCOMES = {"lost", "timeout", "unknown"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Receiver:
    """A webhook receiver that records every webhook-id; ``trickle`` answers slowly."""

    def __init__(self, trickle: float = 0.0) -> None:
        self.ids: list[str] = []
        self.in_flight = 0  # requests being answered right now
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # http.server's naming
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.ids.append(self.headers.get("webhook-id", ""))
                    receiver.in_flight += 1
                try:
                    self._answer()
                finally:
                    with receiver.lock:
                        receiver.in_flight -= 1

            def _answer(self) -> None:
                self.close_connection = True
                answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                if not trickle:
                    self.wfile.write(answer)
                    return
                try:
                    for byte in answer:  # one byte at a time: no read timeout ever fires
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(trickle)
                except OSError:
                    pass  # the sender was killed mid-answer: that is the point of the run

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Web:
    """The Procfile's web process (waitress), killable like a crash."""

    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self.env, self.port, self.log = env, port, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(  # our own command line, no shell
                [
                    str(BIN / "waitress-serve"),
                    f"--listen=127.0.0.1:{self.port}",
                    "--threads=8",
                    "--call",
                    "notifier.api.app:create_app",
                ],
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                requests.get(f"http://127.0.0.1:{self.port}/v1/notices", timeout=1)
                return
            except requests.RequestException:
                time.sleep(0.1)
        raise SystemExit(f"web did not start; see {self.log}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def make_env(workdir: Path, db_url: str, redis_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "NOTIFIER_VAR_DIR": str(workdir),
        "NOTIFIER_DATABASE_URL": db_url,
        "NOTIFIER_BROKER_URL": redis_url,
        "NOTIFIER_QUEUE": "faults-" + secrets.token_hex(4),
        "NOTIFIER_API_KEYS": f"admin:{ADMIN_KEY},producer:{PRODUCER_KEY}",
        "NOTIFIER_SECRET_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "NOTIFIER_RETRY_SCHEDULE": "1,2,3,5,8",
        "NOTIFIER_RETRY_JITTER": "0",
        "NOTIFIER_DELIVERY_MAX_ATTEMPTS": "30",
        "NOTIFIER_DELIVERY_TIMEOUT_SECONDS": "3",
        "NOTIFIER_RELAY_INTERVAL_SECONDS": "1",
        "NOTIFIER_RELAY_GRACE_SECONDS": "3",
        "NOTIFIER_SENDING_LEASE_SECONDS": "20",
        "PYTHONUNBUFFERED": "1",
    }


class Producer(threading.Thread):
    """Post events one after another; a failed POST is retried with the same event_id."""

    def __init__(self, base: str, events: list[dict[str, Any]]) -> None:
        super().__init__(daemon=True)
        self.base, self.events = base, events
        self.accepted: set[str] = set()
        self.retries = 0
        self.gave_up: list[str] = []
        self.done_at = 0.0

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {PRODUCER_KEY}"}
        for event in self.events:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    response = requests.post(
                        f"{self.base}/v1/events", json=event, headers=headers, timeout=10
                    )
                    if response.status_code in (200, 202):
                        self.accepted.add(event["event_id"])
                        break
                except requests.RequestException:
                    pass
                self.retries += 1
                time.sleep(0.3)
            else:
                self.gave_up.append(event["event_id"])
            time.sleep(0.05)
        self.done_at = time.monotonic()


def register(base: str, client_id: str, url: str) -> None:
    body = {
        "name": client_id,
        "locale": "en_US",
        "timezone": "America/New_York",
        "channels": [{"name": "hook", "url": url, "secret": WEBHOOK_SECRET}],
    }
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    response = requests.put(
        f"{base}/v1/clients/{client_id}", json=body, headers=headers, timeout=30
    )
    response.raise_for_status()


def build_events(count: int, trickle_every: int) -> list[dict[str, Any]]:
    import json

    template = json.loads((ROOT / "tests/data/l1_final.json").read_text())
    run_id = secrets.token_hex(3)
    events = []
    for index in range(count):
        event = make_event(template, run_id, index)
        event["trade"]["client_id"] = "slowco" if index % trickle_every == 7 else "acme"
        events.append(event)
    return events


def faults(log: Callable[[str], None], parts: dict[str, Any], producer: Producer) -> None:
    """The fault timeline, while the producer posts."""
    worker, redis_server, web = parts["worker"], parts["redis"], parts["web"]
    time.sleep(4)
    # During a delivery: wait (bounded) until the trickling receiver is mid-answer, so
    # the kill leaves a send of unknown outcome behind, not only queued work.
    deadline = time.monotonic() + 30
    while parts["slow"].in_flight == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    log(f"kill -9 worker ({parts['slow'].in_flight} send(s) in flight to the trickling receiver)")
    worker.kill()
    time.sleep(2)
    worker.start()
    log("worker restarted")
    time.sleep(3)
    log("kill -9 redis-server")
    redis_server.stop()
    time.sleep(3)
    redis_server.start()
    log("redis-server restarted (empty)")
    time.sleep(4)
    import redis

    redis.Redis(port=redis_server.port).flushall()
    log("FLUSHALL")
    time.sleep(3)
    log("kill -9 web")
    web.kill()
    time.sleep(2)
    web.start()
    log("web restarted")


def settled(db_url: str) -> tuple[int, int]:
    """(deliveries not settled yet, notices not settled yet) for client notices."""
    import sqlalchemy as sa

    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            open_deliveries = conn.execute(
                sa.text(
                    "SELECT count(*) FROM deliveries d JOIN notices n ON n.id = d.notice_id "
                    "WHERE n.client_id != '@support' "
                    "AND d.status IN ('queued', 'sending', 'retrying')"
                )
            ).scalar_one()
            open_notices = conn.execute(
                sa.text(
                    "SELECT count(*) FROM notices WHERE client_id != '@support' "
                    "AND status IN ('pending', 'rendered', 'delivering')"
                )
            ).scalar_one()
    finally:
        engine.dispose()
    return int(open_deliveries), int(open_notices)


def tally(db_url: str, receivers: dict[str, Receiver]) -> dict[str, Any]:
    import sqlalchemy as sa

    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        events = conn.execute(sa.text("SELECT count(*) FROM events")).scalar_one()
        rows = conn.execute(
            sa.text(
                "SELECT n.client_id, d.id, d.message_id, d.status FROM deliveries d "
                "JOIN notices n ON n.id = d.notice_id WHERE n.client_id != '@support'"
            )
        ).all()
        outcomes: dict[int, list[str]] = {}
        for delivery_id, outcome in conn.execute(
            sa.text("SELECT delivery_id, outcome FROM delivery_attempts ORDER BY id")
        ):
            outcomes.setdefault(delivery_id, []).append(outcome)
        escalations = conn.execute(
            sa.text("SELECT count(*) FROM notices WHERE kind = 'escalation'")
        ).scalar_one()
    engine.dispose()
    result: dict[str, Any] = {"events": events, "escalations": escalations, "clients": {}}
    for client_id, receiver in receivers.items():
        mine = [r for r in rows if r.client_id == client_id]
        got = Counter(receiver.ids)
        duplicated = {i: n - 1 for i, n in got.items() if n > 1}
        by_id = {r.message_id: r for r in mine}
        explained = sum(
            n
            for i, n in duplicated.items()
            if i in by_id and UNKNOWN_OUTCOMES & set(outcomes.get(by_id[i].id, []))
        )
        result["clients"][client_id] = {
            "deliveries": len(mine),
            "statuses": dict(Counter(r.status for r in mine)),
            "requests": len(receiver.ids),
            "distinct": len(got),
            "duplicates": sum(duplicated.values()),
            "duplicates_after_unknown_outcome": explained,
            "lost": sum(1 for r in mine if r.message_id not in got),
            "attempt_outcomes": dict(Counter(o for r in mine for o in outcomes.get(r.id, []))),
        }
    return result


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()

    def log(text: str) -> None:
        print(f"[{time.monotonic() - started:6.1f} s] {text}", flush=True)

    with (
        tempfile.TemporaryDirectory(prefix="faults-") as tmp,
        database(args.database, Path(tmp), PG_URL) as db_url,
    ):
        workdir = Path(tmp)
        redis_server = RedisServer(free_port())
        redis_server.start()
        env = make_env(workdir, db_url, redis_server.url)
        subprocess.run([str(BIN / "notifier"), "db", "upgrade"], env=env, check=True, cwd=ROOT)
        fast, slow = Receiver(), Receiver(trickle=args.trickle)
        web = Web(env, free_port(), workdir / "web.log")
        worker = WorkerProcess(env, workdir / "worker.log", concurrency=args.worker_concurrency)
        beat = BeatProcess(env, workdir / "beat.log")
        parts = {"worker": worker, "redis": redis_server, "web": web, "slow": slow}
        try:
            web.start()
            worker.start()
            beat.start()
            base = f"http://127.0.0.1:{web.port}"
            register(base, "acme", fast.url)
            register(base, "slowco", slow.url)
            log(f"service up ({args.database}, private redis on {redis_server.port})")
            producer = Producer(base, build_events(args.events, args.trickle_every))
            producer.start()
            faults(log, parts, producer)
            producer.join(timeout=600)
            log(f"producer done: {len(producer.accepted)} accepted, {producer.retries} retries")
            if worker.process is None or worker.process.poll() is not None:
                log("worker had exited; restarting it")
                worker.start()
            drain_from = time.monotonic()
            deadline = drain_from + args.drain_timeout
            while time.monotonic() < deadline:
                open_deliveries, open_notices = settled(db_url)
                if not open_deliveries and not open_notices:
                    break
                time.sleep(1)
            drain = time.monotonic() - drain_from
            log(f"drained in {drain:.1f} s" if not open_deliveries else "did NOT drain")
            time.sleep(2)  # a send in flight at the last check lands on the receiver
            figures = tally(db_url, {"acme": fast, "slowco": slow})
        finally:
            for part in (beat, worker):
                part.stop()
            web.kill()
            redis_server.stop()
            fast.stop()
            slow.stop()
        return report(args, producer, figures, drain, open_deliveries)


def report(
    args: argparse.Namespace,
    producer: Producer,
    figures: dict[str, Any],
    drain: float,
    still_open: int,
) -> int:
    print()
    print(f"database          {args.database}")
    print(
        f"events            {len(producer.events)} posted, {len(producer.accepted)} accepted "
        f"({producer.retries} POST retries, {len(producer.gave_up)} given up), "
        f"{figures['events']} stored"
    )
    print(f"escalations       {figures['escalations']}")
    lost_total = 0
    bad_duplicates = 0
    for client_id, c in figures["clients"].items():
        print(f"client {client_id:10s} {c['deliveries']} notices' deliveries {c['statuses']}")
        print(f"  received        {c['requests']} requests, {c['distinct']} distinct webhook-ids")
        print(
            f"  duplicates      {c['duplicates']} "
            f"({c['duplicates_after_unknown_outcome']} after an attempt of unknown outcome)"
        )
        print(f"  lost            {c['lost']}")
        print(f"  attempts        {c['attempt_outcomes']}")
        lost_total += c["lost"]
        bad_duplicates += c["duplicates"] - c["duplicates_after_unknown_outcome"]
    print(f"drain time        {drain:.1f} s{'' if not still_open else ' (NOT drained)'}")
    held = lost_total == 0 and bad_duplicates == 0 and not still_open and not producer.gave_up
    print(
        f"held              {'yes' if held else 'NO'}: 0 lost, duplicates only after "
        "an unknown outcome"
    )
    return 0 if held else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--events", type=int, default=300, help="events to post (300)")
    parser.add_argument(
        "--trickle-every", type=int, default=50, help="every Nth event to the trickling client"
    )
    parser.add_argument("--trickle", type=float, default=0.1, help="seconds per answer byte")
    parser.add_argument("--worker-concurrency", type=int, default=4)
    parser.add_argument("--drain-timeout", type=float, default=300.0)
    sys.exit(run(parser.parse_args()))


if __name__ == "__main__":
    main()
