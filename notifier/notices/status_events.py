"""Status webhooks: tell producers what became of their events and notices.

Each status change a producer subscribed to is one notice addressed to the webhook
(``@status:<name>``) with one ordinary delivery, written through the outbox in the
caller's transaction: the worker claims, sends (Standard Webhooks signed), records and
retries it like a client delivery, and its ``webhook-id`` stays the same across retries
so a receiver deduplicates on it.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from notifier.models import FinalityEvent, Notice, StatusWebhook
from notifier.notices.kinds import STATUS_KIND, status_plan
from notifier.notices.outbox import STATUS_AUDIENCE_PREFIX as STATUS_PREFIX
from notifier.notices.outbox import write_plans
from notifier.runtime import Runtime
from notifier.secrets import redact, remember_secret
from notifier.states import NoticeStatus

EVENT_TYPES = (
    "notice.delivered",
    "notice.failed",
    "notice.acknowledged",
    "notice.disputed",
    "notice.deadline_at_risk",
    "event.rejected_stale",
    "event.unknown_client",
)
# The settled states a producer hears about, and under which type.
_SETTLED_TYPES = {
    NoticeStatus.DELIVERED: "notice.delivered",
    NoticeStatus.PARTIALLY_DELIVERED: "notice.delivered",
    NoticeStatus.FAILED: "notice.failed",
    NoticeStatus.ACKNOWLEDGED: "notice.acknowledged",
    NoticeStatus.DISPUTED: "notice.disputed",
}
SYSTEM = "system"


class InvalidWebhook(ValueError):
    """A status webhook registration the service cannot use; ``field`` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def is_status_notice(notice: Notice) -> bool:
    return notice.kind == STATUS_KIND


def webhook_name(target: str) -> str | None:
    """The status webhook a delivery target names, or None for any other target."""
    return target.removeprefix(STATUS_PREFIX) if target.startswith(STATUS_PREFIX) else None


def open_webhook(session: Session, runtime: Runtime, name: str) -> tuple[str, str] | None:
    """Return the webhook's URL and secret, decrypted for one send; None if removed."""
    hook = session.scalar(select(StatusWebhook).where(StatusWebhook.name == name))
    if hook is None:
        return None
    url, secret = runtime.vault.open(hook.url_encrypted), runtime.vault.open(hook.secret_encrypted)
    remember_secret(url)
    remember_secret(secret)
    return url, secret


def notice_changed(
    session: Session, runtime: Runtime, notice: Notice, before: str, reason: str | None = None
) -> list[int]:
    """Emit the status event for a client notice that moved from ``before`` to a state
    producers hear about; return the status notices written (to enqueue after commit)."""
    event_type = _SETTLED_TYPES.get(NoticeStatus(notice.status))
    if event_type is None or notice.status == before or notice.client_id.startswith("@"):
        return []
    if before in {NoticeStatus.DELIVERED, NoticeStatus.PARTIALLY_DELIVERED} and (
        event_type == "notice.delivered"
    ):
        return []  # delivered → partially / a late retry settling again: no new news
    return emit(session, runtime, event_type, notice_data(notice, reason), notice.event)


def notice_data(notice: Notice, reason: str | None = None) -> dict[str, Any]:
    return {
        "event_id": notice.event.event_id if notice.event else None,
        "trade_id": notice.trade_id,
        "notice_id": notice.id,
        "kind": notice.kind,
        "client_id": notice.client_id,
        "state": notice.status,
        "reason": redact(reason) if reason else None,
    }


def event_rejected(session: Session, runtime: Runtime, event: FinalityEvent) -> list[int]:
    """Tell producers an event was stale or named an unknown client."""
    types = {"stale": "event.rejected_stale", "unknown_client": "event.unknown_client"}
    event_type = types.get(event.status)
    if event_type is None:
        return []
    data = {
        "event_id": event.event_id,
        "trade_id": event.trade_id,
        "notice_id": None,
        "kind": None,
        "client_id": event.client_id,
        "state": event.status,
        "reason": event.status_reason,
    }
    return emit(session, runtime, event_type, data, event)


def emit(
    session: Session,
    runtime: Runtime,
    event_type: str,
    data: dict[str, Any],
    event: FinalityEvent | None,
) -> list[int]:
    """Write one status notice per webhook subscribed to ``event_type``."""
    now = runtime.clock()
    hooks = session.scalars(select(StatusWebhook).order_by(StatusWebhook.id)).all()
    payload = {
        "type": event_type,
        "timestamp": now.isoformat(),
        "data": dict(data, at=now.isoformat()),
    }
    # Unique per change: a notice acknowledged, disputed and acknowledged again is three.
    change = secrets.token_hex(8)
    plans = [
        status_plan(STATUS_PREFIX + hook.name, event_type, data, payload, change)
        for hook in hooks
        if event_type in hook.event_types
    ]
    if not plans:
        return []
    return [n.id for n in write_plans(session, runtime, plans, event, SYSTEM)]


def mark_rendered(notice: Notice, at: datetime) -> None:
    """A status notice has no prose: its subject is its type, its payload the message."""
    notice.subject = notice.variant
    notice.rendered_at = at


def register_webhook(
    runtime: Runtime, name: str, url: str, secret: str, event_types: list[str], display: str
) -> tuple[bool, dict[str, Any]]:
    """Create or replace a status webhook; return (created, its view). Secrets go in sealed."""
    remember_secret(url)
    remember_secret(secret)
    now = runtime.clock()
    with runtime.db.session() as session:
        hook = session.scalar(select(StatusWebhook).where(StatusWebhook.name == name))
        created = hook is None
        if hook is None:
            hook = StatusWebhook(name=name, created_at=now)
            session.add(hook)
        hook.url_encrypted, hook.url_display = runtime.vault.seal(url), display
        hook.secret_encrypted = runtime.vault.seal(secret)
        hook.event_types, hook.updated_at = sorted(set(event_types)), now
        session.flush()
        return created, webhook_view(hook)


def get_webhooks(runtime: Runtime, name: str | None = None) -> list[dict[str, Any]]:
    query = select(StatusWebhook).order_by(StatusWebhook.name)
    if name is not None:
        query = query.where(StatusWebhook.name == name)
    with runtime.db.session() as session:
        return [webhook_view(h) for h in session.scalars(query)]


def remove_webhook(runtime: Runtime, name: str) -> bool:
    """Delete a status webhook; its queued deliveries fail (no URL) rather than go elsewhere."""
    with runtime.db.session() as session:
        hook = session.scalar(select(StatusWebhook).where(StatusWebhook.name == name))
        if hook is None:
            return False
        session.delete(hook)
        return True


def webhook_view(hook: StatusWebhook) -> dict[str, Any]:
    """What the API shows: never the secret, the URL only without its path and query."""
    return {
        "name": hook.name,
        "url": hook.url_display,
        "has_secret": True,
        "event_types": list(hook.event_types),
        "created_at": hook.created_at.isoformat(),
        "updated_at": hook.updated_at.isoformat(),
    }
