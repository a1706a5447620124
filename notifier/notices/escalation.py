"""Escalations to support outside the event rules: failed deliveries and deadlines at risk.

Failed deliveries are told per client channel and outage, not per notice: one receiver
down for an hour must not bury support under one escalation per notice.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, exists, select, update
from sqlalchemy.orm import Session

from notifier.models import (
    Channel,
    ChannelOutage,
    Client,
    Delivery,
    FinalityEvent,
    Notice,
    TradeState,
    UTCDateTime,
)
from notifier.notices.contexts import affected_counts, affected_entry
from notifier.notices.kinds import CONFIRMING_KINDS, SUPPORT_AUDIENCE, escalation_plan
from notifier.notices.outbox import write_plans
from notifier.notices.status_events import emit, notice_data
from notifier.notices.tracking import WORKER, audit, settle_notice, skip_delivery
from notifier.runtime import Runtime
from notifier.states import DUE_DELIVERY_STATES, DeliveryStatus, NoticeStatus, TradeStatus

log = logging.getLogger(__name__)

SYSTEM = "system"
# A confirmation in one of these states has reached the client, or no longer needs to.
_DONE = (
    NoticeStatus.DELIVERED,
    NoticeStatus.ACKNOWLEDGED,
    NoticeStatus.DISPUTED,
    NoticeStatus.SUPERSEDED,
)


def escalate_failure(session: Session, runtime: Runtime, notice: Notice) -> list[int]:
    """Tell support that a client notice cannot go out at all: it has no channel, or it
    could not be rendered (once per notice). Failing channels are told per outage."""
    if notice.status != NoticeStatus.FAILED:
        return []
    if notice.client_id == SUPPORT_AUDIENCE:
        log_undeliverable(notice)
        return []
    if notice.client_id.startswith("@"):
        return []  # producers' status webhooks do not escalate
    return _escalate(session, runtime, notice, "delivery_failed")


def log_undeliverable(escalation: Notice) -> None:
    """Log at ERROR an escalation no support channel took: the log is then all support has.

    Nothing is escalated about an escalation (that would loop); operators alert on this.
    """
    if not escalation.deliveries:
        why = "no support channel is configured (NOTIFIER_SUPPORT_CHANNELS)"
    elif escalation.rendered_at is None:
        why = "it could not be rendered"
    else:
        why = "every support channel failed"
    cause = (escalation.context or {}).get("cause", escalation.kind)
    log.error("escalation %s (%s) could not be delivered to support: %s", escalation.id, cause, why)


def escalate_at_risk(runtime: Runtime) -> list[int]:
    """Escalate confirmations not delivered within the lead time of their deadline.

    One escalation per check lists them all (earliest deadline first): a channel outage
    puts many confirmations at risk at once, and support needs one list, not one each.
    """
    now = runtime.clock()
    horizon = now + timedelta(seconds=runtime.settings.deadline_lead_seconds)
    with runtime.db.session() as session:
        at_risk = session.scalars(
            select(Notice)
            .where(
                Notice.kind.in_(CONFIRMING_KINDS),
                Notice.deadline_at <= horizon,
                Notice.escalated_at.is_(None),
                Notice.status.not_in(_DONE),
            )
            .order_by(Notice.deadline_at, Notice.id)
            .limit(500)
        ).all()
        created: list[int] = []
        if at_risk:
            ids = {n.client_id for n in at_risk}
            clients = {c.id: c for c in session.scalars(select(Client).where(Client.id.in_(ids)))}
            first = at_risk[0]
            plan = escalation_plan(
                runtime,
                cause="deadline_at_risk",
                key=str(first.id),  # each notice is escalated once, so the first names the list
                event_id=first.event.event_id if first.event else "",
                affected=[affected_entry(n, clients.get(n.client_id)) for n in at_risk],
                deadline_at=first.deadline_at,
            )
            for notice in at_risk:
                notice.escalated_at = now
            created = [n.id for n in write_plans(session, runtime, [plan], first.event, SYSTEM)]
        created.extend(_escalate_unconfirmed_trades(session, runtime, horizon))
    return created


_AWAITING_AFFIRMATION = (NoticeStatus.DELIVERED, NoticeStatus.PARTIALLY_DELIVERED)


def escalate_unaffirmed(runtime: Runtime) -> list[int]:
    """Warn support of delivered confirmations still unaffirmed near their affirmation
    deadline: one escalation per check lists them all, each notice is escalated once, and
    producers subscribed to ``notice.deadline_at_risk`` hear of each."""
    now = runtime.clock()
    horizon = now + timedelta(seconds=runtime.settings.affirmation_lead_seconds)
    with runtime.db.session() as session:
        at_risk = session.scalars(
            select(Notice)
            .where(
                Notice.kind.in_(CONFIRMING_KINDS),
                Notice.affirm_by <= horizon,
                Notice.affirm_escalated_at.is_(None),
                Notice.status.in_(_AWAITING_AFFIRMATION),
            )
            .order_by(Notice.affirm_by, Notice.id)
            .limit(500)
        ).all()
        if not at_risk:
            return []
        ids = {n.client_id for n in at_risk}
        clients = {c.id: c for c in session.scalars(select(Client).where(Client.id.in_(ids)))}
        first = at_risk[0]
        plan = escalation_plan(
            runtime,
            cause="affirmation_at_risk",
            key=str(first.id),  # each notice is escalated once, so the first names the list
            event_id=first.event.event_id if first.event else "",
            affected=[affected_entry(n, clients.get(n.client_id)) for n in at_risk],
            deadline_at=first.affirm_by,
        )
        created: list[int] = []
        for notice in at_risk:
            notice.affirm_escalated_at = now
            data = notice_data(notice, "unaffirmed")
            data["affirm_by"] = notice.affirm_by.isoformat() if notice.affirm_by else None
            created.extend(emit(session, runtime, "notice.deadline_at_risk", data, notice.event))
        created.extend(n.id for n in write_plans(session, runtime, [plan], first.event, SYSTEM))
    return created


def escalate_dispute(
    session: Session, runtime: Runtime, notice: Notice, reason_code: str | None, reason: str | None
) -> list[int]:
    """Tell support a client disputed a confirmation, with the client's reason."""
    plan = escalation_plan(
        runtime,
        cause="disputed",
        key=f"{notice.id}:{runtime.clock().isoformat()}",
        event_id=notice.event.event_id if notice.event else "",
        affected=[affected_entry(notice, session.get(Client, notice.client_id))],
        reason={"code": reason_code, "text": reason},
        deadline_at=notice.affirm_by,
    )
    return [n.id for n in write_plans(session, runtime, [plan], notice.event, SYSTEM)]


def _escalate_unconfirmed_trades(
    session: Session, runtime: Runtime, horizon: datetime
) -> list[int]:
    """Escalate executed trades that no confirmation was ever written for.

    A notice that exists is checked above; a trade reported without one (say, an L1
    trade whose events all said "recorded") would otherwise miss its deadline silently.
    """
    confirmed = exists().where(
        Notice.trade_id == TradeState.trade_id, Notice.kind.in_(CONFIRMING_KINDS)
    )
    trades = session.scalars(
        select(TradeState)
        .where(
            TradeState.deadline_at <= horizon,
            TradeState.escalated_at.is_(None),
            TradeState.status.is_distinct_from(TradeStatus.CANCELLED),
            ~confirmed,
        )
        .order_by(TradeState.deadline_at, TradeState.trade_id)
        .limit(500)
    ).all()
    created: list[int] = []
    for state in trades:
        client = session.get(Client, state.client_id) if state.client_id else None
        entry = {
            "client_id": state.client_id or "",
            "client_name": client.name if client else state.client_id or "",
            "trade_id": state.trade_id,
            "notice_id": "—",  # no notice was written: that is the problem
        }
        event = session.get(FinalityEvent, state.last_event_pk) if state.last_event_pk else None
        plan = escalation_plan(
            runtime,
            cause="deadline_at_risk",
            key=f"trade:{state.trade_id}",
            event_id=event.event_id if event else "",
            affected=[entry],
            batch_id=state.batch_id,
            deadline_at=state.deadline_at,
        )
        created.extend(n.id for n in write_plans(session, runtime, [plan], event, SYSTEM))
        state.escalated_at = runtime.clock()
    return created


def _escalate(session: Session, runtime: Runtime, notice: Notice, cause: str) -> list[int]:
    """Write one escalation about ``notice`` (deduplicated per cause); return its id."""
    client = session.get(Client, notice.client_id)
    plan = escalation_plan(
        runtime,
        cause=cause,
        key=str(notice.id),
        event_id=notice.event.event_id if notice.event else "",
        affected=[affected_entry(notice, client)],
        batch_id=notice.batch_id,
        deadline_at=notice.deadline_at,
    )
    return [n.id for n in write_plans(session, runtime, [plan], notice.event, SYSTEM)]


def escalate_failed_delivery(session: Session, runtime: Runtime, delivery: Delivery) -> list[int]:
    """Count a delivery that failed for good into its channel's outage.

    The first failure of an outage writes one escalation; later ones add to its count
    (and to its list of affected notices while it is not rendered yet). A delivery
    without a channel (the channel was deleted) is told per notice, as before.
    """
    notice = delivery.notice
    if delivery.status != DeliveryStatus.FAILED:
        return []
    if notice.client_id == SUPPORT_AUDIENCE:
        if notice.status == NoticeStatus.FAILED:  # its last support channel failed too
            log_undeliverable(notice)
        return []
    if notice.client_id.startswith("@"):
        return []  # producers' status webhooks do not escalate
    if delivery.channel_id is None:
        settle_notice(session, notice, runtime.clock())
        return escalate_failure(session, runtime, notice)
    # Locked: two workers failing on one channel must open one outage, not two.
    channel = session.get(Channel, delivery.channel_id, with_for_update=True)
    if channel is None or channel.disabled_at is not None:  # support was told at disabling
        return []
    entry = affected_entry(notice, session.get(Client, notice.client_id))
    outage = session.scalar(_OPEN_OUTAGE, {"channel_id": channel.id})
    if outage is not None:
        outage.notices_failed += 1
        _add_affected(session, outage.escalation_id, entry)
        return []
    outage = ChannelOutage(channel_id=channel.id, opened_at=runtime.clock(), notices_failed=1)
    session.add(outage)
    session.flush()
    created = _escalate_channel(
        session, runtime, delivery, "channel_outage", f"{channel.id}:{outage.id}", entry
    )
    outage.escalation_id = created[0] if created else None
    return created


def close_outage(session: Session, channel_id: int, now: datetime) -> None:
    """A delivery on the channel went through: its outage, if one is open, is over."""
    session.execute(_CLOSE_OUTAGE, {"b_channel": channel_id, "b_now": now})


def channel_gone(session: Session, runtime: Runtime, delivery: Delivery) -> list[int]:
    """The receiver answered 410 Gone: disable the channel and tell support, once.

    Its other unsent deliveries are skipped (they would be told the same); a PUT of the
    client that names the channel again enables it.
    """
    now = runtime.clock()
    channel = session.get(Channel, delivery.channel_id, with_for_update=True)
    if channel is None or channel.disabled_at is not None:
        return []
    reason = "the receiver answered HTTP 410 Gone"
    channel.active, channel.disabled_at, channel.disabled_reason = False, now, reason
    audit(session, "channel", channel.id, "disabled", "active", "disabled", WORKER, reason, at=now)
    pending = session.scalars(
        select(Delivery).where(
            Delivery.channel_id == channel.id, Delivery.status.in_(DUE_DELIVERY_STATES)
        )
    ).all()
    for other in pending:
        skip_delivery(session, other, WORKER, f"not sent: channel disabled, {reason}", at=now)
    session.flush()
    for notice in {d.notice.id: d.notice for d in pending}.values():
        settle_notice(session, notice, now)
    entry = affected_entry(delivery.notice, session.get(Client, delivery.notice.client_id))
    key = f"{channel.id}:{now.isoformat()}"
    return _escalate_channel(session, runtime, delivery, "channel_disabled", key, entry)


_OPEN_OUTAGE = (
    select(ChannelOutage)
    .where(ChannelOutage.channel_id == bindparam("channel_id"), ChannelOutage.closed_at.is_(None))
    .order_by(ChannelOutage.id.desc())
    .limit(1)
)
_CLOSE_OUTAGE = (
    update(ChannelOutage)
    .where(ChannelOutage.channel_id == bindparam("b_channel"), ChannelOutage.closed_at.is_(None))
    .values(closed_at=bindparam("b_now", type_=UTCDateTime()))
    .execution_options(synchronize_session=False)
)


def _escalate_channel(
    session: Session,
    runtime: Runtime,
    delivery: Delivery,
    cause: str,
    key: str,
    entry: dict[str, Any],
) -> list[int]:
    """Write one escalation about a client channel; the reason names it and its error."""
    channel, notice = delivery.channel, delivery.notice
    assert channel is not None  # only called for client channels
    error = f": {delivery.last_error}" if delivery.last_error else ""
    plan = escalation_plan(
        runtime,
        cause=cause,
        key=key,
        event_id=notice.event.event_id if notice.event else "",
        affected=[entry],
        reason={"code": None, "text": f"{channel.name} ({channel.url_display}){error}"},
        deadline_at=notice.deadline_at,
    )
    return [n.id for n in write_plans(session, runtime, [plan], notice.event, SYSTEM)]


def _add_affected(session: Session, escalation_id: int | None, entry: dict[str, Any]) -> None:
    """Add a notice to an outage's escalation while it has not been rendered yet."""
    if escalation_id is None:
        return
    escalation = session.get(Notice, escalation_id, with_for_update=True, populate_existing=True)
    if escalation is None or escalation.status != NoticeStatus.PENDING:
        return  # already out: the outage row keeps the count, support sees it there
    affected = [*escalation.context["affected"], entry]
    # A new dict, so SQLAlchemy sees the JSON column change.
    escalation.context = dict(
        escalation.context,
        affected=affected,
        counts=affected_counts(affected),
    )
