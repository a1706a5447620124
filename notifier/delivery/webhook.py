"""An Apprise plugin that POSTs a JSON payload signed per the Standard Webhooks spec.

Plain ``http(s)://`` channels use it: the receiver gets our own JSON document, with
``webhook-id`` (stable across retries), ``webhook-timestamp`` and ``webhook-signature``
(``v1,`` + base64 HMAC-SHA256 of ``id.timestamp.body`` under the ``whsec_`` secret).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any
from urllib.parse import urlsplit

import requests
from apprise import NotifyType
from apprise.plugins.base import NotifyBase


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """Return the ``webhook-signature`` header value for one request."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


class NotifySignedWebhook(NotifyBase):
    """POST a prepared JSON body to a plain HTTP(S) endpoint, signed."""

    service_name = "Signed webhook"  # type: ignore[assignment]  # NotifyBase types it None
    # Never registered by scheme: notifier builds it for plain http(s) channels itself.
    protocol = "notifier-webhook"  # type: ignore[assignment]  # NotifyBase types it None
    secure_protocol = "notifier-webhooks"  # type: ignore[assignment]  # likewise
    request_rate_per_sec = 0  # local or per-client endpoints: no shared throttle

    def __init__(
        self, *, endpoint: str, secret: str | None, message_id: str, timeout: float, **kwargs: Any
    ) -> None:
        parts = urlsplit(endpoint)
        super().__init__(  # type: ignore[no-untyped-call]  # apprise leaves it untyped
            host=parts.hostname, port=parts.port, secure=parts.scheme == "https", **kwargs
        )
        self.endpoint = endpoint
        self.secret = secret
        self.message_id = message_id
        self.timeout = timeout
        # What the receiver answered, for the retry policy: 410 disables the channel and
        # 429 / 503 come with Retry-After. None when no answer came (refused, timed out).
        self.http_status: int | None = None
        self.retry_after: str | None = None
        self._display = (
            f"{parts.scheme}://{parts.hostname}{':' + str(parts.port) if parts.port else ''}/…"
        )

    def url(self, privacy: bool = False, *args: Any, **kwargs: Any) -> str:
        return self._display

    def send(
        self, body: str, title: str = "", notify_type: NotifyType = NotifyType.INFO, **kwargs: Any
    ) -> bool:
        payload = body.encode()
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "notifier",
            "webhook-id": self.message_id,
            "webhook-timestamp": str(timestamp),
        }
        if self.secret:
            headers["webhook-signature"] = sign(self.secret, self.message_id, timestamp, payload)
        try:
            response = requests.post(
                self.endpoint,
                data=payload,
                headers=headers,
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            self.logger.warning("Webhook connection failed: %s", type(exc).__name__)
            return False
        self.http_status = response.status_code
        self.retry_after = response.headers.get("Retry-After")
        if not 200 <= response.status_code < 300:
            self.logger.warning("Webhook answered HTTP %s.", response.status_code)
            return False
        return True
