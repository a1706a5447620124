"""Our own HTTP sender for signed webhooks: pooled keep-alive connections, one total deadline.

Apprise's webhook path opens a fresh connection per send (``requests.post``) and its
read timeout restarts on every byte, so a receiver trickling its answer holds a send for
ever. Here each endpoint (scheme, host, port) keeps a few idle ``http.client``
connections for reuse and allows a bounded number of sends at once, so a hanging receiver
occupies only its own slots; and a watchdog shuts the socket down at the deadline, which
covers connect, write and read together.

``http.client`` (standard library) rather than urllib3 or httpx: the watchdog needs the
socket of the one connection in use, which ``http.client`` exposes plainly; pooling the
few connections per endpoint ourselves is a dozen lines.

The one entry point is :func:`post`; a target check (SSRF) belongs at its top.
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import os
import socket
import ssl
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from urllib.parse import urlsplit

from notifier.states import AttemptOutcome

# Idle connections kept per endpoint, and sends allowed at once per endpoint.
IDLE_PER_ENDPOINT = 8
SENDS_PER_ENDPOINT = 8
CONNECT_TIMEOUT = 5.0
MAX_ANSWER_BYTES = 64 * 1024  # a receiver's body is read (to reuse the connection), not kept
# The circuit breaker: after this many sends in a row ended by the deadline, an endpoint
# gets no sends for the cool-down, then one probe; its answer closes the circuit or opens
# it again. Kept per worker process.
OPEN_AFTER_FAILURES = 5
COOL_DOWN_SECONDS = 30.0


@dataclass(frozen=True)
class Answer:
    """What one POST did. ``status`` is None when no HTTP answer came."""

    outcome: AttemptOutcome
    status: int | None = None
    retry_after: str | None = None
    error: str | None = None


Endpoint = tuple[str, str, int]


@dataclass
class _Circuit:
    failures: int = 0
    open_until: float = 0.0
    probing: bool = False


class _Pool:
    """Idle keep-alive connections and a send limit per endpoint, for one process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: dict[Endpoint, list[http.client.HTTPConnection]] = defaultdict(list)
        self._slots: dict[Endpoint, threading.BoundedSemaphore] = {}
        self._circuits: dict[Endpoint, _Circuit] = defaultdict(_Circuit)
        self._tls = ssl.create_default_context()  # built once: costly, and reusable
        self._pid = 0

    def _fresh_after_fork(self) -> None:
        # A forked worker must not share its parent's sockets.
        if self._pid != os.getpid():
            self._idle.clear()
            self._slots.clear()
            self._circuits.clear()
            self._pid = os.getpid()

    def slot(self, endpoint: Endpoint) -> threading.BoundedSemaphore:
        with self._lock:
            self._fresh_after_fork()
            if endpoint not in self._slots:
                self._slots[endpoint] = threading.BoundedSemaphore(SENDS_PER_ENDPOINT)
            return self._slots[endpoint]

    def take(
        self, endpoint: Endpoint, timeout: float, reuse: bool
    ) -> tuple[http.client.HTTPConnection, bool]:
        """An idle connection (reused: True) or a new, unconnected one."""
        with self._lock:
            self._fresh_after_fork()
            idle = self._idle[endpoint]
            if reuse and idle:
                return idle.pop(), True
        scheme, host, port = endpoint
        if scheme == "https":
            return http.client.HTTPSConnection(
                host, port, timeout=timeout, context=self._tls
            ), False
        return http.client.HTTPConnection(host, port, timeout=timeout), False

    def admit(self, endpoint: Endpoint) -> str | None:
        """None if a send may go; else why not (the endpoint's circuit is open)."""
        with self._lock:
            circuit = self._circuits[endpoint]
            if circuit.failures < OPEN_AFTER_FAILURES:
                return None
            wait = circuit.open_until - time.monotonic()
            if wait > 0 or circuit.probing:
                return (
                    f"circuit open: {circuit.failures} sends in a row got no answer in time;"
                    f" next probe in {max(wait, 0):.0f} s"
                )
            circuit.probing = True  # half-open: this send is the one probe
            return None

    def settle(self, endpoint: Endpoint, healthy: bool) -> None:
        with self._lock:
            circuit = self._circuits[endpoint]
            circuit.probing = False
            if healthy:
                circuit.failures = 0
                return
            circuit.failures += 1
            if circuit.failures >= OPEN_AFTER_FAILURES:
                circuit.open_until = time.monotonic() + COOL_DOWN_SECONDS

    def close_idle(self) -> None:
        with self._lock:
            for idle in self._idle.values():
                for conn in idle:
                    conn.close()
            self._idle.clear()

    def give_back(self, endpoint: Endpoint, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle[endpoint]
            if len(idle) < IDLE_PER_ENDPOINT:
                idle.append(conn)
                return
        conn.close()


_POOL = _Pool()
atexit.register(_POOL.close_idle)  # kept-alive sockets end with the process, cleanly


def _endpoint(url: str) -> tuple[Endpoint, str]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return (scheme, parts.hostname or "", port), path


def _cut(conn: http.client.HTTPConnection) -> None:
    """The watchdog: end a send at its deadline, whatever it is blocked on."""
    sock = conn.sock
    if sock is not None:
        with contextlib.suppress(OSError):  # already closed: nothing to cut
            sock.shutdown(socket.SHUT_RDWR)


def post(url: str, body: bytes, headers: dict[str, str], deadline: float) -> Answer:
    """POST ``body`` to ``url`` once, all of it (slot, connect, write, read) within ``deadline`` s.

    Bytes sent with no answer by the deadline give ``unknown`` (the receiver may have it
    and dedupes on webhook-id); a deadline hit before the request was out gives ``timeout``.
    """
    end = time.monotonic() + deadline
    endpoint, path = _endpoint(url)
    refused = _POOL.admit(endpoint)
    if refused is not None:
        return Answer(AttemptOutcome.NOTHING_SENT, error=refused)
    slot = _POOL.slot(endpoint)
    if not slot.acquire(timeout=deadline):
        _POOL.settle(endpoint, healthy=False)
        return Answer(AttemptOutcome.TIMEOUT, error="too many sends to this endpoint in flight")
    try:
        answer = _post(endpoint, path, body, headers, end, reuse=True)
    finally:
        slot.release()
    # The breaker is for receivers that hold sends (hang, trickle): only a send ended by
    # its deadline counts against the endpoint; any HTTP answer shows it alive. A refused
    # connection costs no time and leaves the count as it is.
    if answer.status is not None:
        _POOL.settle(endpoint, healthy=True)
    elif answer.outcome in (AttemptOutcome.TIMEOUT, AttemptOutcome.UNKNOWN):
        _POOL.settle(endpoint, healthy=False)
    return answer


# What a kept-alive connection the receiver closed meanwhile looks like on next use.
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


def _post(
    endpoint: Endpoint, path: str, body: bytes, headers: dict[str, str], end: float, *, reuse: bool
) -> Answer:
    remaining = end - time.monotonic()
    conn, reused = _POOL.take(endpoint, min(CONNECT_TIMEOUT, max(remaining, 0.001)), reuse)
    watchdog = threading.Timer(max(remaining, 0.0), _cut, (conn,))
    watchdog.daemon = True
    watchdog.start()
    sent = False
    try:
        if conn.sock is None:
            conn.connect()
        conn.sock.settimeout(max(end - time.monotonic(), 0.001))
        conn.request("POST", path, body=body, headers=headers)
        sent = True
        _ack_at_once(conn)
        response = conn.getresponse()
        _ack_at_once(conn)
        response.read(MAX_ANSWER_BYTES)
    except (OSError, http.client.HTTPException) as exc:
        conn.close()
        if reused and isinstance(exc, _STALE) and time.monotonic() < end:
            # The receiver closed the idle connection meanwhile and read nothing of this
            # request: once more on a new connection.
            watchdog.cancel()
            return _post(endpoint, path, body, headers, end, reuse=False)
        return _failure(exc, sent, end)
    finally:
        watchdog.cancel()
    if response.will_close or not response.isclosed():
        conn.close()
    else:
        _POOL.give_back(endpoint, conn)
    outcome = AttemptOutcome.SENT if 200 <= response.status < 300 else AttemptOutcome.FAILED
    error = None if outcome == AttemptOutcome.SENT else f"Webhook answered HTTP {response.status}."
    return Answer(outcome, response.status, response.getheader("Retry-After"), error)


_QUICKACK = getattr(socket, "TCP_QUICKACK", None)  # Linux only


def _ack_at_once(conn: http.client.HTTPConnection) -> None:
    """Acknowledge the answer's segments at once, not after the 40 ms delayed-ACK timer.

    A receiver that writes its status line and headers, then its body, in two writes
    (Python's http.server does) holds the body under Nagle's algorithm until our ACK of
    the headers arrives; on a kept-alive connection Linux delays that ACK by up to 40 ms.
    Measured against such a receiver: 43.6 ms per request, 0.38 ms with this (issue 8).
    The flag does not stick, so it is set before each read.
    """
    if _QUICKACK is not None and conn.sock is not None:
        with contextlib.suppress(OSError):
            conn.sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)


def _failure(exc: Exception, sent: bool, end: float) -> Answer:
    late = time.monotonic() >= end - 0.01 or isinstance(exc, TimeoutError)
    if sent:
        # The request left; whether it arrived is unknown. Never a clean timeout.
        why = "no answer within the deadline" if late else type(exc).__name__
        return Answer(AttemptOutcome.UNKNOWN, error=f"Webhook sent, {why}.")
    if late:
        return Answer(AttemptOutcome.TIMEOUT, error="Webhook connection timed out.")
    return Answer(AttemptOutcome.FAILED, error=f"Webhook connection failed: {type(exc).__name__}")
