"""The HTTP edge: blueprints and schemas, nothing else."""

from __future__ import annotations

from flask import Flask, Response, jsonify

from notifier.api import acks, clients, deliveries, events, notices, reports, status_webhooks
from notifier.api.errors import register_error_handlers


def register_api(app: Flask) -> None:
    register_error_handlers(app)
    for module in (events, clients, notices, deliveries, status_webhooks, acks, reports):
        app.register_blueprint(module.bp)

    @app.get("/healthz")
    def healthz() -> Response:
        """Say the web process is up."""
        return jsonify({"status": "ok"})
