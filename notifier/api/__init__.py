"""The HTTP edge: blueprints and schemas, and the support console's pages."""

from __future__ import annotations

from flask import Flask

from notifier.api import (
    acks,
    clients,
    deliveries,
    events,
    health,
    limits,
    notices,
    reports,
    status_webhooks,
)
from notifier.api.caching import register_etags
from notifier.api.console import register_console
from notifier.api.errors import register_error_handlers
from notifier.api.openapi import register_openapi
from notifier.api.requestlog import register_request_log
from notifier.config import Settings

V1_BLUEPRINTS = (events, clients, notices, deliveries, status_webhooks, acks, reports)


def register_api(app: Flask, settings: Settings) -> None:
    register_error_handlers(app)
    limiter = limits.init_limiter(app, settings)
    for module in V1_BLUEPRINTS:
        limits.limit_blueprint(limiter, module.bp, settings)
        app.register_blueprint(module.bp)
    app.register_blueprint(health.bp)
    register_openapi(app)
    register_etags(app)
    register_request_log(app)
    register_console(app)
