"""`notifier web`: the HTTP API on waitress, in one or more processes sharing one socket.

waitress reads every request in full on its own event loop before a thread runs it, so a
slow client costs a socket, not a thread (``bench/slowloris.py``, issue 12); but one
process runs Python on one core. Under the peer-ratio load (issue 8) the web process was
the bottleneck at one core while the other had room, so the socket is bound once and
``WEB_PROCESSES`` children serve it, each with its own app, database pool and threads.
A child that dies is started again; SIGTERM or SIGINT stops them all.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import time
from types import FrameType

from waitress import serve  # type: ignore[import-untyped]  # waitress ships no types

from notifier.api.app import create_app
from notifier.config import Settings

log = logging.getLogger(__name__)

# waitress settings the Procfile used to pass on its command line.
SERVE_OPTIONS = {
    "connection_limit": 1000,
    "channel_timeout": 30,
    "max_request_body_size": 1_048_576,
}
# Children that die this soon after starting, this many times in a row, stop the parent.
QUICK_DEATH_SECONDS = 5.0
QUICK_DEATHS = 5


def listen(bind: str) -> socket.socket:
    host, _, port = bind.rpartition(":")
    sock = socket.create_server((host.strip("[]") or "127.0.0.1", int(port)), backlog=1024)
    sock.setblocking(False)
    return sock


def _serve(sock: socket.socket, settings: Settings, threads: int) -> None:
    app = create_app(settings)
    serve(app, sockets=[sock], threads=threads, **SERVE_OPTIONS)


def run(settings: Settings, bind: str, processes: int, threads: int) -> int:
    """Serve until told to stop; return the exit status."""
    sock = listen(bind)
    if processes <= 1:
        _serve(sock, settings, threads)
        return 0
    children: dict[int, float] = {}
    stopping = False

    def spawn() -> None:
        pid = os.fork()
        if pid == 0:  # the child: serve, never return into the parent's loop
            status = 1
            try:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                _serve(sock, settings, threads)
                status = 0
            except BaseException:
                log.exception("web process %s failed", os.getpid())
            finally:
                os._exit(status)
        children[pid] = time.monotonic()

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                children.pop(pid, None)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for _ in range(processes):
        spawn()
    log.info("web: %d processes x %d threads on %s", processes, threads, bind)
    quick_deaths = 0
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        started = children.pop(pid, None)
        if stopping or started is None:
            continue
        lived = time.monotonic() - started
        quick_deaths = quick_deaths + 1 if lived < QUICK_DEATH_SECONDS else 0
        log.error("web process %s ended (status %s) after %.1f s", pid, status, lived)
        if quick_deaths >= QUICK_DEATHS:
            log.error("web processes keep failing at start; stopping")
            stop(signal.SIGTERM, None)
            return 1
        spawn()
    return 0


def main() -> None:
    from notifier.config import ConfigError, load_settings

    try:
        settings = load_settings()
    except ConfigError as exc:
        # The message names the variable and the rule; the value (maybe a key) stays out.
        sys.exit(f"notifier web: {exc}")
    bind = os.environ.get("NOTIFIER_BIND", "127.0.0.1:8000")
    processes = int(os.environ.get("WEB_PROCESSES", "2"))
    threads = int(os.environ.get("WEB_THREADS", "8"))
    sys.exit(run(settings, bind, processes, threads))
