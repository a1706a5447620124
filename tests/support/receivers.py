"""Real receivers on 127.0.0.1: an HTTP webhook endpoint and an aiosmtpd SMTP server."""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class ReceivedWebhook:
    headers: dict[str, str]
    body: bytes
    verified: bool
    status: int

    @property
    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data


class _Server(ThreadingHTTPServer):
    # The default backlog of 5 turns bursts into fake 1 s latencies.
    request_queue_size = 256
    daemon_threads = True


class WebhookReceiver:
    """Accept POSTs, verify Standard Webhooks signatures, answer as told.

    ``fail_next(n)`` makes the next n requests answer 500; ``always_fail = True`` makes
    every request fail; ``answer_next(status, headers, n)`` scripts the next n answers
    (e.g. 410, or 429 with Retry-After). Requests with a bad signature answer 401.
    """

    def __init__(self, secret: str | None) -> None:
        self.secret = secret  # None: accept unsigned requests (Apprise's json:// posts)
        self.requests: list[ReceivedWebhook] = []
        self.always_fail = False
        # Set ``hold`` to keep each request waiting until it is set; ``arrived`` tells a
        # request is being held.
        self.hold: threading.Event | None = None
        self.arrived = threading.Event()
        self._fail_budget = 0
        self._script: list[tuple[int, dict[str, str]]] = []
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks/notifier"

    def fail_next(self, count: int) -> None:
        with self._lock:
            self._fail_budget = count

    def answer_next(
        self, status: int, headers: dict[str, str] | None = None, count: int = 1
    ) -> None:
        with self._lock:
            self._script.extend([(status, dict(headers or {}))] * count)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def delivered(self) -> list[ReceivedWebhook]:
        """Requests that verified and were answered 2xx."""
        with self._lock:
            return [r for r in self.requests if r.verified and r.status < 300]

    def wait_for(self, count: int, timeout: float = 30.0) -> list[ReceivedWebhook]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.delivered()
            if len(got) >= count:
                return got
            time.sleep(0.05)
        raise AssertionError(f"expected {count} delivered webhooks, got {len(self.delivered())}")

    def _decide(self, verified: bool) -> tuple[int, dict[str, str]]:
        with self._lock:
            if not verified:
                return 401, {}
            if self._script:
                return self._script.pop(0)
            if self.always_fail:
                return 500, {}
            if self._fail_budget > 0:
                self._fail_budget -= 1
                return 500, {}
            return 200, {}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                verified = receiver.secret is None
                if receiver.secret is not None:
                    try:
                        Webhook(receiver.secret).verify(body, headers)
                        verified = True
                    except WebhookVerificationError:
                        verified = False
                if receiver.hold is not None:
                    receiver.arrived.set()
                    receiver.hold.wait(30)
                status, extra = receiver._decide(verified)
                with receiver._lock:
                    receiver.requests.append(ReceivedWebhook(headers, body, verified, status))
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler


@dataclass
class _Collector:
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    # Messages answered with a temporary failure (4xx), as they arrived.
    refused: list[EmailMessage] = field(default_factory=list)
    refuse_budget: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(
            envelope.original_content or envelope.content, policy=policy.default
        )
        with self.lock:
            if self.refuse_budget > 0:
                self.refuse_budget -= 1
                self.refused.append(message)
                return "451 4.3.0 Temporary failure, try again later"
            self.messages.append(message)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"


class SmtpSink:
    """An aiosmtpd server that requires AUTH LOGIN/PLAIN with ``user`` / ``password``.

    ``refuse_next(n)`` answers the next n messages with ``451`` (try again later).
    """

    user = "mailer"
    password = "smtp-pass-s3cret"

    def __init__(self) -> None:
        self._collector = _Collector()
        self._controller = Controller(
            self._collector,
            hostname="127.0.0.1",
            port=free_port(),  # aiosmtpd's start-up probe cannot follow port 0
            authenticator=self._authenticate,
            auth_require_tls=False,
            auth_required=True,
        )

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (
            auth_data.login.decode() == self.user and auth_data.password.decode() == self.password
        )
        return AuthResult(success=ok)

    @property
    def port(self) -> int:
        return int(self._controller.port)

    def url(self, to: str = "client@example.com") -> str:
        return (
            f"mailto://{self.user}:{self.password}@127.0.0.1:{self.port}"
            f"?from=confirmations@example.com&to={to}"
        )

    @property
    def messages(self) -> list[EmailMessage]:
        with self._collector.lock:
            return list(self._collector.messages)

    @property
    def refused(self) -> list[EmailMessage]:
        with self._collector.lock:
            return list(self._collector.refused)

    def refuse_next(self, count: int) -> None:
        with self._collector.lock:
            self._collector.refuse_budget = count

    def wait_for(self, count: int, timeout: float = 30.0) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.messages) >= count:
                return self.messages
            time.sleep(0.05)
        raise AssertionError(f"expected {count} emails, got {len(self.messages)}")

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()


def read_http_request(conn: socket.socket) -> bool:
    """Read one HTTP request (headers, then its body) from a raw socket; False at EOF."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return False
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        ),
        0,
    )
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return False
        body += chunk
    return True
