"""The worker: Celery app and tasks, the send pipeline, the outbox relay."""
