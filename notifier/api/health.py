"""/healthz (the process answers), /readyz (it can do its job), /metrics (Prometheus)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from notifier import readiness
from notifier.metrics import DatabaseCollector
from notifier.runtime import Runtime

bp = Blueprint("health", __name__)


def _runtime() -> Runtime:
    runtime: Runtime = current_app.extensions["notifier"]
    return runtime


@bp.get("/healthz")
def healthz() -> Response:
    """Say the web process is up (no dependency is checked: that is /readyz)."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Check database, broker, worker heartbeat, relay and the registered extra checks."""
    report = readiness.check_all(_runtime())
    status = 503 if report.failing else 200
    return jsonify(report.as_json()), status


@bp.get("/metrics")
def metrics() -> Response:
    """Counters and gauges read from the database at scrape time (see docs/operations.md)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(_runtime()))
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
