"""Render a notice and deliver it on its channels; the work behind the Celery tasks."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import select

from notifier.delivery import channels
from notifier.escalation import escalate_failure
from notifier.models import Delivery, Notice
from notifier.runtime import Runtime
from notifier.secrets import remember_secret
from notifier.states import DUE_DELIVERY_STATES, NoticeStatus
from notifier.tracking import (
    WORKER,
    claim_delivery,
    move_notice,
    record_attempt,
    settle_notice,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Retry:
    delivery_id: int
    delay: float


@dataclass
class FollowUp:
    """Work a delivery step leaves for the broker: retries and new (escalation) notices."""

    retries: list[Retry] = field(default_factory=list)
    notice_ids: list[int] = field(default_factory=list)

    def add(self, other: FollowUp) -> None:
        self.retries.extend(other.retries)
        self.notice_ids.extend(other.notice_ids)


def render_notice(runtime: Runtime, notice_id: int) -> bool:
    """Render a pending notice and store subject and bodies; False if there was none."""
    with runtime.db.session() as session:
        notice = session.get(Notice, notice_id, with_for_update=True)
        if notice is None:
            log.warning("notice %s does not exist", notice_id)
            return False
        if notice.status != NoticeStatus.PENDING:
            return notice.status != NoticeStatus.SUPERSEDED
        rendered = runtime.renderer.render(
            notice.kind, notice.context, notice.locale, notice.timezone
        )
        notice.subject, notice.body_text = rendered.subject, rendered.text
        notice.body_html, notice.body_md = rendered.html, rendered.markdown
        now = runtime.clock()
        notice.rendered_at = now
        move_notice(session, notice, NoticeStatus.RENDERED, WORKER, at=now)
        return True


def process_notices(runtime: Runtime, notice_ids: list[int]) -> FollowUp:
    """Render each notice and try its due deliveries, in order (a primer before its trade)."""
    follow_up = FollowUp()
    for notice_id in notice_ids:
        follow_up.add(process_notice(runtime, notice_id))
    return follow_up


def process_notice(runtime: Runtime, notice_id: int) -> FollowUp:
    """Render the notice, then try each due delivery once, in channel priority order."""
    follow_up = FollowUp()
    if not render_notice(runtime, notice_id):
        return follow_up
    with runtime.db.session() as session:
        due = list(
            session.scalars(
                select(Delivery.id)
                .where(Delivery.notice_id == notice_id, Delivery.status.in_(DUE_DELIVERY_STATES))
                .order_by(Delivery.id)
            )
        )
        if not due:
            notice = session.get(Notice, notice_id)
            if notice is not None and not notice.deliveries:
                settle_notice(session, notice, runtime.clock(), "no active channel")
                follow_up.notice_ids.extend(escalate_failure(session, runtime, notice))
    for delivery_id in due:
        follow_up.add(deliver(runtime, delivery_id))
    return follow_up


def _message(runtime: Runtime, notice: Notice, delivery: Delivery) -> channels.Message:
    payload: dict[str, object] = {
        "type": f"notice.{notice.kind}",
        "timestamp": (notice.rendered_at or notice.created_at).isoformat(),
        "data": {
            "notice_id": notice.id,
            "kind": notice.kind,
            "variant": notice.variant,
            "client_id": notice.client_id,
            "trade_id": notice.trade_id,
            "batch_id": notice.batch_id,
            "locale": notice.locale,
            "subject": notice.subject,
            "text": notice.body_text,
            "markdown": notice.body_md,
            "html": notice.body_html,
        },
    }
    return channels.Message(
        subject=notice.subject or "",
        text=notice.body_text or "",
        html=notice.body_html or "",
        markdown=notice.body_md or "",
        payload=payload,
    )


def _target(runtime: Runtime, delivery: Delivery) -> tuple[str, str | None]:
    """Return the channel's URL and secret, decrypted only for this send."""
    if delivery.channel is not None:
        secret = (
            runtime.vault.open(delivery.channel.secret_encrypted)
            if delivery.channel.secret_encrypted
            else None
        )
        url = runtime.vault.open(delivery.channel.url_encrypted)
        remember_secret(url)
        remember_secret(secret)
        return url, secret
    index = int(delivery.target.removeprefix("support:"))
    return runtime.settings.support_channel_urls[index], None


def deliver(runtime: Runtime, delivery_id: int) -> FollowUp:
    """Attempt one delivery if it is due; say when to retry and what escalations it made."""
    follow_up = FollowUp()
    now = runtime.clock()
    with runtime.db.session() as session:
        if not claim_delivery(session, delivery_id, now):
            return follow_up
        delivery = session.get(Delivery, delivery_id)
        assert delivery is not None
        notice = delivery.notice
        if notice.status == NoticeStatus.RENDERED:
            move_notice(session, notice, NoticeStatus.DELIVERING, WORKER, at=now)
        message = _message(runtime, notice, delivery)
        try:
            url, secret = _target(runtime, delivery)
        except (IndexError, ValueError):
            url, secret = "", None
        message_id = delivery.message_id
    # The send runs outside any transaction: a slow receiver holds no database lock.
    outcome = channels.send(
        url,
        message,
        secret=secret,
        message_id=message_id,
        timeout=runtime.settings.delivery_timeout_seconds,
    )
    now = runtime.clock()
    with runtime.db.session() as session:
        delivery = session.get(Delivery, delivery_id)
        assert delivery is not None
        delay = record_attempt(session, runtime.settings, delivery, outcome, now, permanent=not url)
        if delay is not None:
            follow_up.retries.append(Retry(delivery_id, delay))
        session.flush()
        settle_notice(session, delivery.notice, now)
        follow_up.notice_ids.extend(escalate_failure(session, runtime, delivery.notice))
    return follow_up
