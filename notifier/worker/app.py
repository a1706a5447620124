"""The target of ``celery -A notifier.worker.app``: the app, inside Flask's context."""

from notifier import create_app

flask_app = create_app()
celery = flask_app.extensions["celery"]
