"""Rate limits (flask-limiter): per client IP, per API key, and failed keys per IP.

Counters live in the broker's Redis when there is one, so every gunicorn worker shares
them; the embedded set-up counts in memory per process. Failed authentications count
against the caller's IP on their own, much lower limit, so guessing keys is slow while
callers with valid keys from other addresses are not affected.
"""

from __future__ import annotations

import hashlib
import logging
import time

from flask import Blueprint, Flask, current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse
from limits.strategies import MovingWindowRateLimiter

from notifier.api.errors import ApiError
from notifier.config import Settings

log = logging.getLogger(__name__)

AUTH_FAILURES = "auth-failures"


def _bearer_token_key() -> str:
    # Hash the presented token: the limiter's storage keys must never hold a key.
    header = request.headers.get("Authorization", "")
    return "key:" + hashlib.sha256(header.encode()).hexdigest()[:24]


def _no_bearer_token() -> bool:
    return not request.headers.get("Authorization", "").strip()


def init_limiter(app: Flask, settings: Settings) -> Limiter:
    limiter = Limiter(
        get_remote_address,
        app=app,
        storage_uri=settings.limiter_storage_url,
        # O(1) per request in Redis (two counters), where moving-window keeps one list
        # entry per request and reads it back; at thousands of events a minute that list
        # walk was the broker's own hot spot (issue 8).
        strategy="sliding-window-counter",
        # Counters are per deployment (its queue name), so two sharing one Redis don't mix.
        key_prefix=f"notifier-{settings.queue_name}",
        headers_enabled=True,
        enabled=settings.rate_limits_enabled,
        # A Redis outage must not turn every API call into a 500: fall back to memory.
        in_memory_fallback_enabled=True,
        swallow_errors=True,
    )
    app.extensions["notifier_auth_limit"] = parse(settings.auth_failure_limit_per_ip)
    if limiter.enabled:  # (disabled: no storage, and nothing reads the strategy)
        # Failed keys are few, and counted exactly: a moving window (no burst at an edge).
        app.extensions["notifier_auth_strategy"] = MovingWindowRateLimiter(limiter.storage)
    app.extensions["notifier_auth_scope"] = f"notifier-{settings.queue_name}-{AUTH_FAILURES}"
    app.extensions["notifier_limiter"] = limiter
    return limiter


def limit_blueprint(limiter: Limiter, bp: Blueprint, settings: Settings) -> None:
    """Apply the per-IP and per-key limits to every route of ``bp``."""
    limiter.limit(settings.rate_limit_per_ip, scope="ip")(bp)
    limiter.limit(
        settings.rate_limit_per_key,
        key_func=_bearer_token_key,
        exempt_when=_no_bearer_token,
        scope="api-key",
    )(bp)


def refuse_if_guessing() -> None:
    """Answer 429 when this IP has failed authentication too often lately."""
    limiter, item = _auth_limit()
    if limiter is None or not limiter.enabled:
        return
    try:
        # One round trip: the window's stats say whether one more failure would fit.
        stats = _auth_strategy().get_window_stats(item, _scope(), get_remote_address())
        allowed, reset_at = stats.remaining > 0, stats.reset_time
    except Exception as exc:  # storage down: authenticate anyway rather than lock everyone out
        _storage_unreachable(exc)
        return
    if not allowed:
        retry_after = max(1, int(reset_at - time.time()) + 1)
        raise ApiError(
            429,
            "too_many_requests",
            "Too many failed authentications from this address; wait before trying again.",
            headers={"Retry-After": str(retry_after)},
        )


def count_failure() -> None:
    limiter, item = _auth_limit()
    if limiter is None or not limiter.enabled:
        return
    try:
        _auth_strategy().hit(item, _scope(), get_remote_address())
    except Exception as exc:
        _storage_unreachable(exc)


# While Redis is down every request fails this check; one line per interval, not a
# traceback per request (hundreds a second under load).
UNREACHABLE_LOG_INTERVAL_SECONDS = 60.0
_last_unreachable_log = 0.0


def _storage_unreachable(exc: Exception) -> None:
    global _last_unreachable_log
    now = time.monotonic()
    if now - _last_unreachable_log < UNREACHABLE_LOG_INTERVAL_SECONDS:
        return
    _last_unreachable_log = now
    log.warning(
        "auth-failure rate limit storage unreachable (%s); authenticating without it,"
        " next report in %.0f s",
        type(exc).__name__,
        UNREACHABLE_LOG_INTERVAL_SECONDS,
    )


def _auth_limit() -> tuple[Limiter | None, RateLimitItem]:
    limiter: Limiter | None = current_app.extensions.get("notifier_limiter")
    item: RateLimitItem = current_app.extensions["notifier_auth_limit"]
    return limiter, item


def _auth_strategy() -> MovingWindowRateLimiter:
    strategy: MovingWindowRateLimiter = current_app.extensions["notifier_auth_strategy"]
    return strategy


def _scope() -> str:
    scope: str = current_app.extensions["notifier_auth_scope"]
    return scope
