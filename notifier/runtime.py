"""The long-lived parts one process needs: settings, database, vault, renderer."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from notifier.calendar import MarketCalendars
from notifier.config import Settings
from notifier.db import Database
from notifier.rendering.renderer import Renderer
from notifier.retry import RetryPolicy
from notifier.secrets import Vault, install_log_redaction, remember_secret

if TYPE_CHECKING:
    from celery import Celery

log = logging.getLogger(__name__)

NO_SUPPORT_CHANNEL = (
    "NOTIFIER_SUPPORT_CHANNELS is empty: escalations (failed deliveries, deadlines at risk)"
    " reach nobody and are only logged at ERROR"
)


def support_gap(settings: Settings) -> str | None:
    """Say why escalations cannot reach support, or None; the readiness check reports it."""
    return None if settings.support_channel_urls else NO_SUPPORT_CHANNEL


class Clock(Protocol):
    def __call__(self) -> datetime: ...


def system_clock() -> datetime:
    return datetime.now(UTC)


class NoticePublisher(Protocol):
    def submit(self, ids: list[int]) -> None: ...


@dataclass
class Runtime:
    settings: Settings
    db: Database
    vault: Vault
    renderer: Renderer
    calendar: MarketCalendars
    clock: Clock = field(default=system_clock)
    # Derived from settings: the one place that decides retry waits and exhaustion.
    retry: RetryPolicy = field(init=False)
    # The Celery app work is published to (notifier.worker.celery_app.make_celery sets it).
    broker: Celery | None = None
    # Web processes publish notice ids from a background thread (notices.publish.Publisher).
    publisher: NoticePublisher | None = None

    def __post_init__(self) -> None:
        self.retry = RetryPolicy(
            schedule=self.settings.retry_schedule,
            max_attempts=self.settings.delivery_max_attempts,
            jitter=self.settings.retry_jitter,
        )

    @classmethod
    def boot(cls, settings: Settings) -> Runtime:
        """The runtime of a web or worker process: secrets known to the log redaction."""
        for _role, _name, key in settings.api_keys:
            remember_secret(key)
        for url in settings.support_channel_urls:
            remember_secret(url)
        install_log_redaction()
        if gap := support_gap(settings):
            log.warning(gap)
        return cls.from_settings(settings)

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        return cls(
            settings=settings,
            db=Database(settings.database_url),
            vault=Vault(settings.secret_key),
            renderer=Renderer(settings.templates_dir, settings.locales_dir),
            calendar=MarketCalendars(settings.holidays, settings.default_venue_mic),
        )
