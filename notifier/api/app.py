"""The web app: Flask, its API blueprints, and the broker it publishes to."""

from __future__ import annotations

from flask import Flask

from notifier.api import register_api
from notifier.config import Settings, load_settings
from notifier.logs import configure_logging
from notifier.notices.publish import Publisher
from notifier.runtime import Runtime
from notifier.worker.celery_app import make_celery


def create_app(settings: Settings | None = None) -> Flask:
    """Build the Flask app (and its Celery app) from ``settings`` or the environment."""
    settings = settings or load_settings()
    configure_logging(settings.log_format)
    app = Flask("notifier")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]  # DefaultJSONProvider has it
    runtime = Runtime.boot(settings)
    make_celery(runtime)
    if settings.enqueue:
        runtime.publisher = Publisher(runtime)
    app.extensions["notifier"] = runtime
    register_api(app, settings)
    return app
