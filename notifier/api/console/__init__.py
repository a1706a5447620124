"""The support console: server-rendered pages for support and admin keys (issue 10).

A key is exchanged once, at login, for a signed session cookie (Secure, HttpOnly,
SameSite=Strict); every form carries a Flask-WTF CSRF token. Pages speak the operator's
language (Accept-Language or ``?lang=``) from the ``console`` catalog domain.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

from flask import Flask

from notifier.api.console.i18n import install
from notifier.api.console.views import bp
from notifier.runtime import Runtime


def register_console(app: Flask) -> None:
    """Add the console's blueprint, its session cookie and its translations to ``app``."""
    runtime: Runtime = app.extensions["notifier"]
    settings = runtime.settings
    # A key of its own for cookies, derived from the service secret: a leaked session
    # signing key says nothing about the key that encrypts channel URLs.
    app.secret_key = hmac.new(settings.secret_key, b"console-session", hashlib.sha256).digest()
    lifetime = timedelta(hours=settings.console_session_hours)
    app.config.update(
        SESSION_COOKIE_NAME="notifier_console",
        SESSION_COOKIE_PATH="/console",
        SESSION_COOKIE_SECURE=settings.console_cookie_secure,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        PERMANENT_SESSION_LIFETIME=lifetime,
        # A form stays usable as long as the login does.
        WTF_CSRF_TIME_LIMIT=int(lifetime.total_seconds()),
    )
    install(app)
    app.register_blueprint(bp)
