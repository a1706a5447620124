"""Render a notice and deliver it on its channels; the work behind the Celery tasks."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BindParameter, Select, bindparam, select, update
from sqlalchemy.orm import Session, joinedload

from notifier.delivery import channels
from notifier.delivery.payload import webhook_payload
from notifier.models import Delivery, Notice, UTCDateTime
from notifier.notices import escalation, status_events
from notifier.notices.acks import ack_url
from notifier.notices.outbox import support_url
from notifier.notices.tracking import (
    WORKER,
    audits_in_bulk,
    claim_deliveries,
    claim_delivery,
    move_notice,
    settle_notice,
)
from notifier.rendering.renderer import Rendered
from notifier.runtime import Runtime
from notifier.secrets import redact, remember_secret
from notifier.states import DUE_DELIVERY_STATES, AttemptOutcome, DeliveryStatus, NoticeStatus
from notifier.worker import recording, sends
from notifier.worker.recording import FollowUp

log = logging.getLogger(__name__)

# A task takes up to this many other pending notices with its own (issue 8; SQLite): under
# load one task drains a batch instead of one event, and those notices' tasks find them done.
TAKE_MORE = 50
# A batch waits this long for its slowest sends; later ones finish on their own.
SEND_PATIENCE_SECONDS = 0.5


# Built once: composing a statement costs the worker more CPU than SQLite takes to run it.
_IDS: BindParameter[list[int]] = bindparam("ids", expanding=True)
_NOW = bindparam("now", type_=UTCDateTime())
# populate_existing: the claim's UPDATE bypassed any copy the session holds.
_CLAIMED_DELIVERY = (
    select(Delivery)
    .options(joinedload(Delivery.channel))
    .where(Delivery.id == bindparam("delivery_id"))
    .execution_options(populate_existing=True)
)
_CLAIMED_DELIVERIES = (
    select(Delivery)
    .options(joinedload(Delivery.channel))
    .where(Delivery.id.in_(_IDS))
    .order_by(Delivery.id)
    .execution_options(populate_existing=True)
)
_NOTICES_WITH_DELIVERIES = select(Delivery.notice_id).where(Delivery.notice_id.in_(_IDS)).distinct()
_DUE_BASE = (
    select(Delivery.id)
    .where(
        Delivery.notice_id.in_(_IDS),
        Delivery.status.in_(DUE_DELIVERY_STATES),
        Delivery.next_attempt_at <= _NOW,
    )
    .order_by(Delivery.id)
)
# PostgreSQL: rows another worker holds are skipped, never waited on; it handles them.
# SQLite: a writer holds the whole database (BEGIN IMMEDIATE) and the claim's
# conditional UPDATE is the lease.
_DUE_SKIP_LOCKED = _DUE_BASE.with_for_update(skip_locked=True)
_LOCK_BASE = (
    select(Notice)
    .where(Notice.id.in_(_IDS))
    .order_by(Notice.id)
    # The claim's and the record's statements bypassed any copy the session holds.
    .execution_options(populate_existing=True)
)
_LOCK_SKIP_LOCKED = _LOCK_BASE.with_for_update(skip_locked=True)
_SUPERSEDED = select(Notice.id).where(Notice.id.in_(_IDS), Notice.status == NoticeStatus.SUPERSEDED)
_RENEW_LEASES = (
    update(Delivery)
    .where(Delivery.id.in_(_IDS), Delivery.status == DeliveryStatus.SENDING)
    .values(claimed_at=_NOW)
    .execution_options(synchronize_session=False)
)


_MORE_PENDING = (
    select(Notice.id)
    .where(Notice.status == NoticeStatus.PENDING, Notice.id.not_in(_IDS))
    .order_by(Notice.id)
    .limit(bindparam("limit"))
)


def _is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _lock_notices(session: Session) -> Select[Notice]:
    return _LOCK_SKIP_LOCKED if _is_postgresql(session) else _LOCK_BASE


def _due_deliveries(session: Session) -> Select[int]:
    return _DUE_SKIP_LOCKED if _is_postgresql(session) else _DUE_BASE


SUPPORT_CHANNEL_GONE = "support channel removed from NOTIFIER_SUPPORT_CHANNELS"


@dataclass(frozen=True)
class Claimed:
    """A delivery taken for sending, with all the send needs; no ORM rows travel on."""

    delivery_id: int
    url: str
    secret: str | None
    message_id: str
    message: channels.Message
    notice_id: int = 0
    # Sends of one order key go one after another, in claim order (a client's primer
    # before its trade); different keys go side by side.
    order: str = ""


def process_notices(
    runtime: Runtime,
    notice_ids: list[int],
    take_more: int = 0,
    hand_on: Callable[[FollowUp], None] | None = None,
) -> FollowUp:
    """Render the notices and try their due deliveries as one batch.

    One transaction renders every pending notice of the list and claims all their due
    deliveries; the sends run concurrently (one client's notices in list order, so a
    primer goes before its trade); one more transaction records every attempt.
    ``hand_on``: sends still running after ``SEND_PATIENCE_SECONDS`` (a slow receiver)
    are recorded when they end and their follow-up given to it, and the batch returns
    without them. ``take_more``: also take up to that many other pending notices, whole events only,
    so one task drains what queued behind it and their own tasks find nothing to do.
    """
    follow_up = FollowUp()
    ids = list(dict.fromkeys(notice_ids))
    if not ids:
        return follow_up
    prerendered = _prerender(runtime, ids, take_more)
    with runtime.db.session() as session, audits_in_bulk(session):
        if take_more > 0:
            # Only as far as the snapshot rendered: the lowest pending ids, so a client's
            # older notices still come first; later arrivals go to the next batch rather
            # than being rendered inside the write lock.
            rendered_up_to = max(prerendered, default=0)
            ids.extend(n for n in _more_pending(session, ids, take_more) if n <= rendered_up_to)
        claimed = _prepare(session, runtime, ids, follow_up, prerendered)
    if not claimed:
        return follow_up
    late = None
    if hand_on is not None:

        def late(sent: list[tuple[Claimed, channels.Outcome]]) -> None:
            hand_on(recording.record_batch(runtime, sent))

    sent = sends.send_all(
        runtime,
        claimed,
        _send,
        _renew_leases,
        _replaced,
        patience=SEND_PATIENCE_SECONDS if late is not None else None,
        on_late=late,
    )
    follow_up.add(recording.record_batch(runtime, sent))
    return follow_up


def _more_pending(session: Session, ids: list[int], limit: int) -> list[int]:
    """Other pending notices to take with ``ids``: the oldest, so a client's go in order.

    SQLite only: its writer holds the whole database, so every pending notice older than
    one taken is taken too, and a primer still goes before its trade. On PostgreSQL a
    worker that took part of a client's notices while another holds the rest (SKIP
    LOCKED) could send them out of order, and notices it locked but left would be
    skipped by their own task: not done yet (issue 8), each task keeps to its ids there.
    """
    if _is_postgresql(session):
        return []
    return list(session.scalars(_MORE_PENDING, {"ids": ids, "limit": limit}))


@dataclass(frozen=True)
class Prerendered:
    """A pending notice rendered outside any write transaction, from what it held then."""

    context: dict[str, Any]
    rendered: Rendered


def _prerender(runtime: Runtime, ids: list[int], take_more: int) -> dict[int, Prerendered]:
    """Render the pending notices a batch will take, from a read-only snapshot.

    Rendering is most of a notice's CPU; on SQLite every write transaction of every
    process queues on one lock, and rendering inside it held that lock ~8 ms per notice
    under load (issue 8). The batch's write transaction then stores these results for
    notices still pending with the same context, and renders any other itself (never a
    stale body). The extra notices are guessed from the same snapshot; the write
    transaction decides which it really takes.
    """
    with runtime.db.read_session() as session:
        wanted = list(ids)
        if take_more > 0 and not _is_postgresql(session):  # as _more_pending
            wanted.extend(session.scalars(_MORE_PENDING, {"ids": ids, "limit": take_more}))
        found: dict[int, Prerendered] = {}
        for notice in session.scalars(_LOCK_BASE, {"ids": wanted}):
            if notice.status != NoticeStatus.PENDING or status_events.is_status_notice(notice):
                continue
            try:
                found[notice.id] = Prerendered(notice.context, _render_bodies(runtime, notice))
            except Exception:  # rendered again under the lock, where the failure is recorded
                log.debug("notice %s: render before the lock failed", notice.id, exc_info=True)
        return found


def _render_bodies(runtime: Runtime, notice: Notice) -> Rendered:
    link = ack_url(runtime, notice)
    # The link is made at render time (it needs the notice's id) and is not stored in
    # the context: the rendered bodies carry it, as they went out.
    context = dict(notice.context, ack_url=link) if link else notice.context
    return runtime.renderer.render(notice.kind, context, notice.locale, notice.timezone)


def _prepare(
    session: Session,
    runtime: Runtime,
    ids: list[int],
    follow_up: FollowUp,
    prerendered: dict[int, Prerendered] | None = None,
) -> list[Claimed]:
    """Lock and render the notices of ``ids`` and claim their due deliveries, in order.

    A notice another worker holds (PostgreSQL) is left to it; so are deliveries it
    claimed. Return the claimed deliveries in list order, then channel order.
    """
    now = runtime.clock()
    ready: list[Notice] = []
    # Nothing here reads back what it wrote: one flush at commit writes the notices
    # (rendered, then delivering) and their audit rows in bulk.
    with session.no_autoflush:
        locked = {n.id: n for n in session.scalars(_lock_notices(session), {"ids": ids})}
        for notice_id in ids:
            notice = locked.get(notice_id)
            if notice is None:
                log.debug("notice %s does not exist or another worker holds it", notice_id)
                continue
            notice = _render_notice(session, runtime, notice, (prerendered or {}).get(notice.id))
            if notice is None:
                continue
            if notice.status == NoticeStatus.FAILED:  # it could not be rendered
                follow_up.notice_ids.extend(escalation.escalate_failure(session, runtime, notice))
                continue
            ready.append(notice)
        if not ready:
            return []
        ready_ids = [n.id for n in ready]
        with_deliveries = set(session.scalars(_NOTICES_WITH_DELIVERIES, {"ids": ready_ids}))
        due = list(session.scalars(_due_deliveries(session), {"ids": ready_ids, "now": now}))
        taken = claim_deliveries(session, due, now)
        deliveries = session.scalars(_CLAIMED_DELIVERIES, {"ids": taken}).all() if taken else []
        by_notice: dict[int, list[Delivery]] = {}
        for delivery in deliveries:
            by_notice.setdefault(delivery.notice_id, []).append(delivery)
        claimed: list[Claimed] = []
        for notice in ready:
            for delivery in by_notice.get(notice.id, ()):
                if notice.status == NoticeStatus.RENDERED:
                    move_notice(session, notice, NoticeStatus.DELIVERING, WORKER, at=now)
                claimed.append(_claimed(session, runtime, delivery, notice))
    for notice in ready:
        if notice.id not in with_deliveries:
            before = notice.status
            settle_notice(session, notice, now, "no active channel")
            follow_up.notice_ids.extend(
                status_events.notice_changed(session, runtime, notice, before, "no active channel")
            )
            follow_up.notice_ids.extend(escalation.escalate_failure(session, runtime, notice))
    return claimed


def deliver(runtime: Runtime, delivery_id: int) -> FollowUp:
    """Attempt one delivery if it is due; say when to retry and what escalations it made."""
    with runtime.db.session() as session:
        claimed = _claim(session, runtime, delivery_id)
    if claimed is None:
        return FollowUp()
    outcome = _send(runtime, claimed)
    with runtime.db.session() as session:
        return recording.record_one(session, runtime, claimed, outcome)


def _render(session: Session, runtime: Runtime, notice_id: int) -> Notice | None:
    """Lock the notice and render it if it is pending (see :func:`_render_notice`)."""
    notice = session.get(Notice, notice_id, with_for_update=True)
    if notice is None:
        log.warning("notice %s does not exist", notice_id)
        return None
    return _render_notice(session, runtime, notice)


def _render_notice(
    session: Session, runtime: Runtime, notice: Notice, prerendered: Prerendered | None = None
) -> Notice | None:
    """Render a locked pending notice and store subject and bodies.

    Return the notice if its deliveries may go out (rendered now or before), else None.
    """
    if notice.status != NoticeStatus.PENDING:
        return None if notice.status == NoticeStatus.SUPERSEDED else notice
    now = runtime.clock()
    if status_events.is_status_notice(notice):
        status_events.mark_rendered(notice, now)
        move_notice(session, notice, NoticeStatus.RENDERED, WORKER, at=now)
        return notice
    try:
        if prerendered is not None and prerendered.context == notice.context:
            rendered = prerendered.rendered
        else:
            rendered = _render_bodies(runtime, notice)
    except Exception as exc:  # a template or context fault: every retry would fail alike
        log.exception("notice %s could not be rendered", notice.id)
        reason = f"could not be rendered: {type(exc).__name__}: {redact(str(exc))[:300]}"
        move_notice(session, notice, NoticeStatus.FAILED, WORKER, reason, at=now)
        return notice
    notice.subject, notice.body_text = rendered.subject, rendered.text
    notice.body_html, notice.body_md = rendered.html, rendered.markdown
    notice.rendered_at = now
    move_notice(session, notice, NoticeStatus.RENDERED, WORKER, at=now)
    return notice


def _claim(session: Session, runtime: Runtime, delivery_id: int) -> Claimed | None:
    """Take a due delivery and prepare its send; None if it is not due or taken."""
    now = runtime.clock()
    if not claim_delivery(session, delivery_id, now):
        return None
    delivery = session.scalars(_CLAIMED_DELIVERY, {"delivery_id": delivery_id}).one()
    notice = delivery.notice
    if notice.status == NoticeStatus.RENDERED:
        move_notice(session, notice, NoticeStatus.DELIVERING, WORKER, at=now)
    return _claimed(session, runtime, delivery, notice)


def _claimed(session: Session, runtime: Runtime, delivery: Delivery, notice: Notice) -> Claimed:
    """Everything the send of a claimed delivery needs, with no ORM row."""
    try:
        url, secret = _target(session, runtime, delivery)
    except SupportChannelGone:
        # Not sent anywhere else: the escalation stays visible to support as failed.
        log.error(
            "support delivery %s: its channel is no longer in NOTIFIER_SUPPORT_CHANNELS",
            delivery.id,
        )
        url, secret = "", None
    return Claimed(
        delivery.id,
        url,
        secret,
        delivery.message_id,
        _message(runtime, notice),
        notice_id=notice.id,
        order=notice.client_id,
    )


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


def _replaced(runtime: Runtime, notice_ids: list[int]) -> set[int]:
    """Return those of ``notice_ids`` that were superseded (a read: no write lock)."""
    with runtime.db.read_session() as session:
        return set(session.scalars(_SUPERSEDED, {"ids": notice_ids}))


def _renew_leases(runtime: Runtime, delivery_ids: list[int]) -> None:
    """Keep the sending lease of deliveries still waiting on, or in, a send."""
    with runtime.db.session() as session:
        session.execute(_RENEW_LEASES, {"ids": delivery_ids, "now": runtime.clock()})


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
