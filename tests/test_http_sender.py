"""Our signed-webhook sender: keep-alive reuse, one total deadline, and an honest outcome."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from notifier.delivery import http
from notifier.states import AttemptOutcome
from tests.support.receivers import free_port, read_http_request

BODY = b'{"hello":"world"}'
HEADERS = {"Content-Type": "application/json"}


class RawServer:
    """A TCP server on 127.0.0.1 that runs ``behave(conn)`` for each connection."""

    def __init__(self, behave: Callable[[socket.socket], None]) -> None:
        self.behave = behave
        self.connections = 0
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}/hook"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(10)
            with contextlib.suppress(OSError):
                self.behave(conn)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()


def _keep_alive(conn: socket.socket) -> None:
    for _ in range(10):
        if not read_http_request(conn):
            return
        conn.sendall(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")


def _trickle(conn: socket.socket) -> None:
    read_http_request(conn)
    for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n":
        conn.sendall(bytes([byte]))
        time.sleep(0.2)


def _silent(conn: socket.socket) -> None:
    read_http_request(conn)
    time.sleep(3)


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[socket.socket], None]], RawServer]]:
    servers: list[RawServer] = []

    def start(behave: Callable[[socket.socket], None]) -> RawServer:
        servers.append(RawServer(behave))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def test_sends_reuse_one_kept_alive_connection(serve: Callable[..., RawServer]) -> None:
    server = serve(_keep_alive)
    answers = [http.post(server.url, BODY, HEADERS, deadline=5) for _ in range(3)]
    assert [(a.outcome, a.status) for a in answers] == [(AttemptOutcome.SENT, 204)] * 3
    assert server.connections == 1


@pytest.mark.parametrize("behave", [_trickle, _silent], ids=["trickling", "silent"])
def test_an_answer_not_complete_by_the_deadline_is_unknown_not_timeout(
    serve: Callable[..., RawServer], behave: Callable[[socket.socket], None]
) -> None:
    # The trickling receiver's whole answer would take ~8 s, each byte well inside any
    # read timeout; the deadline (1 s) covers the whole send, so the send ends anyway.
    server = serve(behave)
    answer = http.post(server.url, BODY, HEADERS, deadline=1)
    assert answer.outcome == AttemptOutcome.UNKNOWN
    assert answer.status is None
    assert answer.error == "Webhook sent, no answer within the deadline."


def test_a_refused_connection_is_a_failure_with_a_generic_reason() -> None:
    answer = http.post(f"http://127.0.0.1:{free_port()}/hook", BODY, HEADERS, deadline=2)
    assert answer.outcome == AttemptOutcome.FAILED
    assert answer.error == "Webhook connection failed: ConnectionRefusedError"


def test_a_hanging_endpoint_holds_only_its_own_slots(serve: Callable[..., RawServer]) -> None:
    hanging, fast = serve(_silent), serve(_keep_alive)
    # Fill every slot of the hanging endpoint, then one more waits for a slot and gives up.
    stuck = [
        threading.Thread(target=http.post, args=(hanging.url, BODY, HEADERS, 2.5))
        for _ in range(http.SENDS_PER_ENDPOINT)
    ]
    for thread in stuck:
        thread.start()
    while hanging.connections < http.SENDS_PER_ENDPOINT:
        time.sleep(0.01)  # bounded: the threads' 2.5 s deadline ends them
        if not any(t.is_alive() for t in stuck):
            break
    waiting = http.post(hanging.url, BODY, HEADERS, deadline=0.3)
    assert waiting.outcome == AttemptOutcome.TIMEOUT
    assert waiting.error == "too many sends to this endpoint in flight"
    assert http.post(fast.url, BODY, HEADERS, deadline=2).outcome == AttemptOutcome.SENT
    for thread in stuck:
        thread.join(10)


def test_an_endpoint_that_keeps_hanging_opens_its_circuit(serve: Callable[..., RawServer]) -> None:
    hanging = serve(_silent)
    for _ in range(http.OPEN_AFTER_FAILURES):
        assert http.post(hanging.url, BODY, HEADERS, deadline=0.2).outcome == AttemptOutcome.UNKNOWN
    refused = http.post(hanging.url, BODY, HEADERS, deadline=0.2)
    assert refused.outcome == AttemptOutcome.NOTHING_SENT
    assert (refused.error or "").startswith("circuit open: 5 sends in a row got no answer in time")
    assert hanging.connections <= http.OPEN_AFTER_FAILURES, "no request while open"
