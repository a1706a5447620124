"""Signed webhooks: a JSON payload signed per the Standard Webhooks spec, POSTed by our sender.

Plain ``http(s)://`` channels use it: the receiver gets our own JSON document, with
``webhook-id`` (stable across retries), ``webhook-timestamp`` and ``webhook-signature``
(``v1,`` + base64 HMAC-SHA256 of ``id.timestamp.body`` under the ``whsec_`` secret).
The POST goes through :mod:`notifier.delivery.http` (pooled, one total deadline), not
Apprise, whose webhook path opens a connection per send and has no total deadline.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from notifier.delivery import http


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """Return the ``webhook-signature`` header value for one request."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def send(
    endpoint: str, body: bytes, *, secret: str | None, message_id: str, deadline: float
) -> http.Answer:
    """POST one signed document; the signature is made now, so its timestamp is fresh."""
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "notifier",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
    }
    if secret:
        headers["webhook-signature"] = sign(secret, message_id, timestamp, body)
    return http.post(endpoint, body, headers, deadline)
