"""Render a notice and deliver it on its channels; the work behind the Celery tasks."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, joinedload

from notifier.delivery import channels
from notifier.delivery.payload import webhook_payload
from notifier.models import Delivery, Notice
from notifier.notices import escalation, status_events
from notifier.notices.acks import ack_url
from notifier.notices.outbox import support_url
from notifier.notices.tracking import (
    WORKER,
    Attempt,
    claim_delivery,
    finish_attempt,
    move_notice,
    settle_notice,
)
from notifier.rendering.renderer import Rendered
from notifier.runtime import Runtime
from notifier.secrets import redact, remember_secret
from notifier.states import DUE_DELIVERY_STATES, AttemptOutcome, NoticeStatus

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


# Built once: composing a statement costs the worker more CPU than SQLite takes to run it.
_DUE_DELIVERY_IDS = (
    select(Delivery.id)
    .where(Delivery.notice_id == bindparam("notice_id"), Delivery.status.in_(DUE_DELIVERY_STATES))
    .order_by(Delivery.id)
)
# populate_existing: the claim's UPDATE bypassed any copy the session holds.
_CLAIMED_DELIVERY = (
    select(Delivery)
    .options(joinedload(Delivery.channel))
    .where(Delivery.id == bindparam("delivery_id"))
    .execution_options(populate_existing=True)
)
# Locks the notice with the delivery: an event superseding the notice meanwhile (it
# locks the notice first) is either seen here, and a failed attempt is not retried, or
# waits and finds the delivery settled.
_SENT_DELIVERY = (
    select(Delivery)
    .options(joinedload(Delivery.notice, innerjoin=True))
    .where(Delivery.id == bindparam("delivery_id"))
    .with_for_update()
    .execution_options(populate_existing=True)
)


SUPPORT_CHANNEL_GONE = "support channel removed from NOTIFIER_SUPPORT_CHANNELS"


@dataclass(frozen=True)
class Claimed:
    """A delivery taken for sending, with all the send needs; no ORM rows travel on."""

    delivery_id: int
    url: str
    secret: str | None
    message_id: str
    message: channels.Message


def process_notices(runtime: Runtime, notice_ids: list[int]) -> FollowUp:
    """Render each notice and try its due deliveries, in order (a primer before its trade)."""
    follow_up = FollowUp()
    for notice_id in notice_ids:
        follow_up.add(process_notice(runtime, notice_id))
    return follow_up


def process_notice(runtime: Runtime, notice_id: int) -> FollowUp:
    """Render the notice, then try each due delivery once, in channel priority order.

    Rendering shares a transaction with the first claim, and each attempt's record with
    the next claim; every send runs between two transactions, never inside one.
    """
    follow_up = FollowUp()
    prepared = _prepare(runtime, notice_id)
    with runtime.db.session() as session:
        # Nothing here reads back what it wrote: one flush at commit writes the notice
        # once (rendered, then delivering) and, on PostgreSQL, its audit rows in one INSERT.
        with session.no_autoflush:
            notice = _render(session, runtime, notice_id, prepared)
            if notice is None:
                return follow_up
            if notice.status == NoticeStatus.FAILED:  # it could not be rendered
                follow_up.notice_ids.extend(escalation.escalate_failure(session, runtime, notice))
                return follow_up
            due = list(session.scalars(_DUE_DELIVERY_IDS, {"notice_id": notice_id}))
            has_due = bool(due)
            claimed = _claim_next(session, runtime, due)
        if not has_due and not notice.deliveries:
            before = notice.status
            settle_notice(session, notice, runtime.clock(), "no active channel")
            follow_up.notice_ids.extend(
                status_events.notice_changed(session, runtime, notice, before, "no active channel")
            )
            follow_up.notice_ids.extend(escalation.escalate_failure(session, runtime, notice))
    while claimed is not None:
        outcome = _send(runtime, claimed)
        with runtime.db.session() as session:
            follow_up.add(_record(session, runtime, claimed, outcome))
            claimed = _claim_next(session, runtime, due)
    return follow_up


def deliver(runtime: Runtime, delivery_id: int) -> FollowUp:
    """Attempt one delivery if it is due; say when to retry and what escalations it made."""
    with runtime.db.session() as session:
        claimed = _claim(session, runtime, delivery_id)
    if claimed is None:
        return FollowUp()
    outcome = _send(runtime, claimed)
    with runtime.db.session() as session:
        return _record(session, runtime, claimed, outcome)


@dataclass(frozen=True)
class Prepared:
    """A pending notice rendered outside any write transaction, from what it held then."""

    context: dict[str, Any]
    rendered: Rendered


def _prepare(runtime: Runtime, notice_id: int) -> Prepared | None:
    """Render a pending notice from a read-only snapshot, holding no write lock.

    Rendering is most of a notice's CPU; on SQLite every write transaction of every
    process queues on one lock, and rendering inside it held that lock ~8 ms per notice
    under load (issue 8). The write transaction then stores this result if the notice is
    still pending with the same context, or renders again itself (never a stale body).
    """
    with runtime.db.read_session() as session:
        notice = session.get(Notice, notice_id)
        if (
            notice is None
            or notice.status != NoticeStatus.PENDING
            or status_events.is_status_notice(notice)
        ):
            return None
        try:
            rendered = _render_bodies(runtime, notice)
        except Exception:  # rendered again under the lock, where a failure is recorded
            return None
        return Prepared(notice.context, rendered)


def _render_bodies(runtime: Runtime, notice: Notice) -> Rendered:
    link = ack_url(runtime, notice)
    # The link is made at render time (it needs the notice's id) and is not stored in
    # the context: the rendered bodies carry it, as they went out.
    context = dict(notice.context, ack_url=link) if link else notice.context
    return runtime.renderer.render(notice.kind, context, notice.locale, notice.timezone)


def _render(
    session: Session, runtime: Runtime, notice_id: int, prepared: Prepared | None = None
) -> Notice | None:
    """Render a pending notice and store subject and bodies.

    Return the notice if its deliveries may go out (rendered now or before), else None.
    """
    notice = session.get(Notice, notice_id, with_for_update=True)
    if notice is None:
        log.warning("notice %s does not exist", notice_id)
        return None
    if notice.status != NoticeStatus.PENDING:
        return None if notice.status == NoticeStatus.SUPERSEDED else notice
    now = runtime.clock()
    if status_events.is_status_notice(notice):
        status_events.mark_rendered(notice, now)
        move_notice(session, notice, NoticeStatus.RENDERED, WORKER, at=now)
        return notice
    try:
        if prepared is not None and prepared.context == notice.context:
            rendered = prepared.rendered
        else:
            rendered = _render_bodies(runtime, notice)
    except Exception as exc:  # a template or context fault: every retry would fail alike
        log.exception("notice %s could not be rendered", notice_id)
        reason = f"could not be rendered: {type(exc).__name__}: {redact(str(exc))[:300]}"
        move_notice(session, notice, NoticeStatus.FAILED, WORKER, reason, at=now)
        return notice
    notice.subject, notice.body_text = rendered.subject, rendered.text
    notice.body_html, notice.body_md = rendered.html, rendered.markdown
    notice.rendered_at = now
    move_notice(session, notice, NoticeStatus.RENDERED, WORKER, at=now)
    return notice


def _claim_next(session: Session, runtime: Runtime, due: list[int]) -> Claimed | None:
    """Claim the first of ``due`` that can be taken now, removing the ids it tried."""
    while due:
        claimed = _claim(session, runtime, due.pop(0))
        if claimed is not None:
            return claimed
    return None


def _claim(session: Session, runtime: Runtime, delivery_id: int) -> Claimed | None:
    """Take a due delivery and prepare its send; None if it is not due or taken."""
    now = runtime.clock()
    if not claim_delivery(session, delivery_id, now):
        return None
    delivery = session.scalars(_CLAIMED_DELIVERY, {"delivery_id": delivery_id}).one()
    notice = delivery.notice
    if notice.status == NoticeStatus.RENDERED:
        move_notice(session, notice, NoticeStatus.DELIVERING, WORKER, at=now)
    try:
        url, secret = _target(session, runtime, delivery)
    except SupportChannelGone:
        # Not sent anywhere else: the escalation stays visible to support as failed.
        log.error(
            "support delivery %s: its channel is no longer in NOTIFIER_SUPPORT_CHANNELS",
            delivery_id,
        )
        url, secret = "", None
    return Claimed(delivery_id, url, secret, delivery.message_id, _message(runtime, notice))


class SupportChannelGone(Exception):
    """A support delivery's channel was removed from the configuration after it was queued."""


def _send(runtime: Runtime, claimed: Claimed) -> channels.Outcome:
    # Called between transactions: a slow receiver holds no database lock.
    if not claimed.url:
        now = runtime.clock()
        return channels.Outcome(AttemptOutcome.FAILED, now, now, SUPPORT_CHANNEL_GONE)
    return channels.send(
        claimed.url,
        claimed.message,
        secret=claimed.secret,
        message_id=claimed.message_id,
        sender_name=runtime.settings.sender_name,
        timeout=runtime.settings.delivery_timeout_seconds,
        block_private=runtime.settings.block_private_targets,
    )


def _record(
    session: Session, runtime: Runtime, claimed: Claimed, outcome: channels.Outcome
) -> FollowUp:
    """Store the attempt, settle the notice and escalate if it reached no channel."""
    follow_up = FollowUp()
    now = runtime.clock()
    delivery = session.scalars(_SENT_DELIVERY, {"delivery_id": claimed.delivery_id}).one()
    gone = outcome.http_status == 410
    permanent = None if claimed.url else "the channel has no usable URL"
    if gone:
        permanent = "the receiver answered HTTP 410 Gone; the channel is disabled"
    before = delivery.notice.status
    attempt = Attempt(
        outcome.status,
        outcome.started_at,
        outcome.finished_at,
        outcome.error,
        outcome.retry_after,
        permanent,
    )
    delay = finish_attempt(session, runtime.retry, delivery, attempt, actor=WORKER, now=now)
    if delay is not None:
        follow_up.retries.append(Retry(claimed.delivery_id, delay))
    session.flush()
    if outcome.ok and delivery.channel_id is not None:
        escalation.close_outage(session, delivery.channel_id, now)
    settle_notice(session, delivery.notice, now)
    follow_up.notice_ids.extend(
        status_events.notice_changed(session, runtime, delivery.notice, before, delivery.last_error)
    )
    if gone and delivery.channel_id is not None:
        follow_up.notice_ids.extend(escalation.channel_gone(session, runtime, delivery))
    else:
        # One escalation per channel outage, not per notice (issue 6: 439 for one outage).
        follow_up.notice_ids.extend(escalation.escalate_failed_delivery(session, runtime, delivery))
    return follow_up


def _message(runtime: Runtime, notice: Notice) -> channels.Message:
    # The webhook document (payload v1, docs/webhooks.md) is built from the stored context;
    # a status notice carries its status event document as it was written.
    if status_events.is_status_notice(notice):
        payload: dict[str, object] = dict(notice.context["payload"])
    else:
        payload = webhook_payload(notice, ack_url=ack_url(runtime, notice))
    return channels.Message(
        subject=notice.subject or "",
        text=notice.body_text or "",
        html=notice.body_html or "",
        markdown=notice.body_md or "",
        payload=payload,
    )


def _target(session: Session, runtime: Runtime, delivery: Delivery) -> tuple[str, str | None]:
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
    hook = status_events.webhook_name(delivery.target)
    if hook is not None:
        opened = status_events.open_webhook(session, runtime, hook)
        if opened is None:
            raise SupportChannelGone(delivery.target)
        return opened
    configured = support_url(runtime, delivery.target)
    if configured is None:
        raise SupportChannelGone(delivery.target)
    return configured, None
