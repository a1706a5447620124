"""notifier: tell clients, without ambiguity, where and when each trade became final."""

from __future__ import annotations

from flask import Flask

from notifier.config import Settings, load_settings


def create_app(settings: Settings | None = None) -> Flask:
    """Build the Flask app (and its Celery app) from ``settings`` or the environment."""
    from notifier.api import register_api
    from notifier.runtime import Runtime
    from notifier.secrets import install_log_redaction, remember_secret
    from notifier.worker.celery_app import init_celery

    settings = settings or load_settings()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]  # DefaultJSONProvider has it
    runtime = Runtime.from_settings(settings)
    app.extensions["notifier"] = runtime
    init_celery(app, settings)
    register_api(app)
    for _role, key in settings.api_keys:
        remember_secret(key)
    for url in settings.support_channel_urls:
        remember_secret(url)
    install_log_redaction()
    return app
