"""The target of ``celery -A notifier.worker.app``: a Celery app holding the runtime.

The worker needs no web app: tasks reach the database, renderer and broker through the
runtime the task class carries (:func:`notifier.worker.celery_app.make_celery`).
"""

from notifier.config import load_settings
from notifier.runtime import Runtime
from notifier.worker.celery_app import make_celery

runtime = Runtime.boot(load_settings())
celery = make_celery(runtime)
