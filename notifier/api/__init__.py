"""The HTTP edge: blueprints and schemas, and the support console's pages."""

from __future__ import annotations

from flask import Flask, Response, jsonify

from notifier.api import clients, deliveries, events, notices
from notifier.api.console import register_console
from notifier.api.errors import register_error_handlers


def register_api(app: Flask) -> None:
    register_error_handlers(app)
    for module in (events, clients, notices, deliveries):
        app.register_blueprint(module.bp)
    register_console(app)

    @app.get("/healthz")
    def healthz() -> Response:
        """Say the web process is up."""
        return jsonify({"status": "ok"})
