"""Does ingest survive slow clients? Slow-loris connections against one web server.

Starts the web process on 127.0.0.1 (SQLite under a temporary directory, nothing else),
opens ``--slow`` connections that send a request one byte every ``--interval`` seconds
(half trickle their headers, half a body they announced), and meanwhile POSTs one normal
event a second. Prints how the normal POSTs were answered. Issue 12 measured 0 of 6
answered (all timed out at 10 s) with 100 slow connections against gunicorn sync workers.

    .venv/bin/python bench/slowloris.py --server waitress
    .venv/bin/python bench/slowloris.py --server gunicorn-gthread --seconds 60

Servers: ``waitress`` (what the Procfile runs), ``gunicorn-sync``, ``gunicorn-gthread``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
KEY = "ntf_bench_producer_key_0123456789abcdef"
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def server_command(kind: str, port: int, workers: int, threads: int) -> list[str]:
    bind = f"{HOST}:{port}"
    app = "notifier.api.app:create_app()"
    if kind == "waitress":
        return [
            str(BIN / "waitress-serve"),
            f"--listen={bind}",
            f"--threads={threads}",
            "--connection-limit=1000",
            "--channel-timeout=30",
            "--call",
            "notifier.api.app:create_app",
        ]
    worker_class = {"gunicorn-sync": "sync", "gunicorn-gthread": "gthread"}[kind]
    command = [str(BIN / "gunicorn"), "--workers", str(workers), "--worker-class", worker_class]
    if worker_class == "gthread":
        command += ["--threads", str(threads)]
    return [*command, "--bind", bind, "--timeout", "30", app]


def start_server(args: argparse.Namespace, workdir: Path, port: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        NOTIFIER_VAR_DIR=str(workdir),
        NOTIFIER_API_KEYS=f"producer:{KEY}",
        NOTIFIER_ENQUEUE="0",  # ingest only: no broker in the way
    )
    subprocess.run([str(BIN / "notifier"), "db", "upgrade"], env=env, check=True, cwd=ROOT)
    log = (workdir / "server.log").open("wb")
    command = server_command(args.server, port, args.workers, args.threads)
    process = subprocess.Popen(  # our own command line, no shell
        command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://{HOST}:{port}/v1/notices", timeout=1)
            return process
        except requests.RequestException:
            time.sleep(0.2)
    raise SystemExit(f"the server did not start; see {workdir / 'server.log'}")


def event_body() -> dict[str, Any]:
    event: dict[str, Any] = json.loads((ROOT / "tests/data/l1_final.json").read_text())
    event["event_id"] = f"evt-slowloris-{uuid.uuid4().hex}"
    return event


def slow_client(port: int, index: int, stop: threading.Event, interval: float) -> None:
    """One slow-loris connection: a request trickled one byte per ``interval``."""
    body = json.dumps(event_body()).encode()
    head = (
        f"POST /v1/events HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: Bearer {KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    # Even: trickle the headers from the start. Odd: headers at once, then the body.
    data, sent = (head + body, 0) if index % 2 == 0 else (head + body, len(head))
    try:
        sock = socket.create_connection((HOST, port), timeout=5)
    except OSError:
        return
    with sock:
        try:
            if sent:
                sock.sendall(data[:sent])
            while not stop.is_set() and sent < len(data) - 1:  # never finishes the request
                sock.sendall(data[sent : sent + 1])
                sent += 1
                stop.wait(interval)
        except OSError:
            return  # the server closed it: that is a defence, not a failure


def normal_posts(port: int, stop: threading.Event, results: list[tuple[float, int | str]]) -> None:
    url = f"http://{HOST}:{port}/v1/events"
    headers = {"Authorization": f"Bearer {KEY}"}
    while not stop.is_set():
        started = time.monotonic()
        try:
            response = requests.post(url, json=event_body(), headers=headers, timeout=10)
            results.append((time.monotonic() - started, response.status_code))
        except requests.RequestException as exc:
            results.append((time.monotonic() - started, type(exc).__name__))
        stop.wait(max(0.0, 1.0 - (time.monotonic() - started)))


def run(args: argparse.Namespace) -> int:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="slowloris-") as tmp:
        server = start_server(args, Path(tmp), port)
        stop = threading.Event()
        results: list[tuple[float, int | str]] = []
        try:
            slow = [
                threading.Thread(target=slow_client, args=(port, i, stop, args.interval))
                for i in range(args.slow)
            ]
            for thread in slow:
                thread.start()
            time.sleep(1.0)  # let the slow connections take their places first
            poster = threading.Thread(target=normal_posts, args=(port, stop, results))
            poster.start()
            time.sleep(args.seconds)
            stop.set()
            poster.join(timeout=15)
            for thread in slow:
                thread.join(timeout=10)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        return report(args, results, Path(tmp) / "server.log")


def report(args: argparse.Namespace, results: list[tuple[float, int | str]], log: Path) -> int:
    answered = [t for t, status in results if status == 202]
    slow = [t for t in answered if t >= 1.0]
    failed = [status for _, status in results if status != 202]
    timeouts = log.read_text(errors="replace").count("WORKER TIMEOUT")
    print(f"server            {args.server} ({args.workers} workers, {args.threads} threads)")
    print(f"slow connections  {args.slow}, one byte every {args.interval:g} s, {args.seconds:g} s")
    print(f"normal POSTs      {len(results)} sent, {len(answered)} answered 202")
    if answered:
        ordered = sorted(answered)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        print(
            f"latency           median {statistics.median(answered) * 1000:.0f} ms, "
            f"p99 {p99 * 1000:.0f} ms, max {max(answered) * 1000:.0f} ms"
        )
    print(f"answered >= 1 s   {len(slow)}")
    print(f"not answered      {len(failed)} {sorted(set(map(str, failed)))}")
    print(f"WORKER TIMEOUTs   {timeouts}")
    held = bool(results) and not failed and not slow
    print(f"held              {'yes' if held else 'NO'}: every normal POST answered in < 1 s")
    return 0 if held else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--server",
        choices=["waitress", "gunicorn-sync", "gunicorn-gthread"],
        default="waitress",
    )
    parser.add_argument("--slow", type=int, default=100, help="slow connections (100)")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long (60)")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds per byte (5)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (2)")
    parser.add_argument("--threads", type=int, default=8, help="threads per process (8)")
    sys.exit(run(parser.parse_args()))


if __name__ == "__main__":
    main()
