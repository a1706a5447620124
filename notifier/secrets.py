"""Encryption at rest for channel URLs and secrets, hashing for API keys, and redaction.

Apprise URLs carry credentials. They are stored with Fernet, shown only in Apprise's
privacy form, and every text that may leave the process (logs, stored errors, API
responses) goes through :func:`redact` first.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import threading
from typing import Any

from cryptography.fernet import Fernet


class Vault:
    """Encrypt and decrypt small secrets with the service's key."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def seal(self, plain: str) -> bytes:
        return self._fernet.encrypt(plain.encode())

    def open(self, sealed: bytes) -> str:
        return self._fernet.decrypt(sealed).decode()


def hash_api_key(key: str) -> str:
    # Keys are long random tokens, so one SHA-256 round is enough (no dictionary to guard).
    return hashlib.sha256(key.encode()).hexdigest()


def new_api_key() -> str:
    return "ntf_" + secrets.token_urlsafe(32)


# userinfo in any scheme://user:pass@host, and the usual secret-bearing tokens.
_PATTERNS = [
    re.compile(r"(?P<keep>[a-zA-Z][a-zA-Z0-9+.-]*://)[^\s/@'\"]*@"),
    re.compile(r"whsec_[A-Za-z0-9+/=_-]+"),
    re.compile(r"ntf_[A-Za-z0-9_-]{8,}"),
    re.compile(r"(?i)(?P<keep>bearer\s+)\S+"),
    re.compile(r"(?i)(?P<keep>(?:password|pass|secret|token|apikey|api_key|key)=)[^&\s'\"]+"),
]

_known: set[str] = set()
_known_lock = threading.Lock()


def remember_secret(value: str | None) -> None:
    """Register a secret so :func:`redact` removes it wherever it shows up."""
    if value and len(value) >= 6:
        with _known_lock:
            _known.add(value)


def redact(text: str) -> str:
    """Remove credentials and every registered secret from ``text``."""
    with _known_lock:
        known = sorted(_known, key=len, reverse=True)
    for value in known:
        if value in text:
            text = text.replace(value, "[redacted]")
    for pattern in _PATTERNS:
        text = pattern.sub(
            lambda m: (
                (m.groupdict().get("keep") or "")
                + "[redacted]"
                + ("@" if m.group(0).endswith("@") else "")
            ),
            text,
        )
    return text


def _redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Rewrite a log record so that no secret reaches any handler or formatter."""
    try:
        message = record.getMessage()
    except Exception:  # a broken format string must not drop the record
        message = str(record.msg)
    record.msg = redact(message)
    record.args = None
    if record.exc_info and record.exc_info[1] is not None:
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        record.exc_info = None
    return record


_factory_lock = threading.Lock()


def install_log_redaction() -> None:
    """Redact every log record as it is made, whichever handler later writes it.

    A record factory (not a handler filter) also covers handlers added afterwards:
    gunicorn's, Celery's and the test runner's.
    """
    with _factory_lock:
        current = logging.getLogRecordFactory()
        if getattr(current, "notifier_redacts", False):
            return

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            return _redact_record(current(*args, **kwargs))

        factory.notifier_redacts = True  # type: ignore[attr-defined]  # marker against double install
        logging.setLogRecordFactory(factory)
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s"
        )
