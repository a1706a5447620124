"""The outbox: write planned notices and one delivery per channel, in the caller's transaction.

Intake (an event's rules), escalations and resends all write notices here; the caller
publishes the notice ids (:mod:`notifier.notices.publish`) only after its transaction has
committed, and the relay finds anything the broker never got.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from notifier.models import Channel, Client, Delivery, FinalityEvent, Notice
from notifier.notices.affirmation import affirmation_deadline
from notifier.notices.kinds import SUPPORT_AUDIENCE, NoticePlan
from notifier.notices.tracking import audit
from notifier.runtime import Runtime
from notifier.states import NoticeStatus

# The client_id of a status notice, addressed to one producer status webhook
# (notifier.notices.status_events): "@status:<webhook name>", also its delivery target.
STATUS_AUDIENCE_PREFIX = "@status:"


def write_plans(
    session: Session,
    runtime: Runtime,
    plans: list[NoticePlan],
    event: FinalityEvent | None,
    actor: str,
) -> list[Notice]:
    """Write planned notices and their deliveries, skipping any already sent (dedup key)."""
    channels = ChannelCache(session, runtime)
    notices = [n for plan in plans if (n := _materialise(session, runtime, event, plan, channels))]
    session.flush()
    cause = f"event {event.event_id}" if event else None
    for notice in notices:
        audit(
            session,
            "notice",
            notice.id,
            "created",
            None,
            notice.status,
            actor,
            cause,
            at=runtime.clock(),
        )
    return notices


class ChannelCache:
    """Active delivery targets per audience, looked up once per intake."""

    def __init__(self, session: Session, runtime: Runtime) -> None:
        self.session, self.runtime = session, runtime
        self._by_client: dict[str, list[tuple[int | None, str]]] = {}

    def targets(self, client_id: str) -> list[tuple[int | None, str]]:
        if client_id == SUPPORT_AUDIENCE:
            urls = self.runtime.settings.support_channel_urls
            return [(None, support_target(self.runtime, url)) for url in urls]
        if client_id.startswith(STATUS_AUDIENCE_PREFIX):
            # A status notice goes to the one producer webhook its audience names.
            return [(None, client_id)]
        if client_id not in self._by_client:
            rows = self.session.execute(_ACTIVE_CHANNELS, {"client_id": client_id})
            self._by_client[client_id] = [(row.id, row.name) for row in rows]
        return self._by_client[client_id]


_SENT_ALREADY = select(Notice.id).where(Notice.dedup_key == bindparam("dedup_key"))
_ACTIVE_CHANNELS = (
    select(Channel.id, Channel.name)
    .where(Channel.client_id == bindparam("client_id"), Channel.active.is_(True))
    .order_by(Channel.priority, Channel.id)
)


def _materialise(
    session: Session,
    runtime: Runtime,
    event: FinalityEvent | None,
    plan: NoticePlan,
    channels: ChannelCache,
) -> Notice | None:
    """Write one planned notice and its deliveries, unless it was already sent."""
    if session.scalar(_SENT_ALREADY, {"dedup_key": plan.dedup_key}) is not None:
        return None
    staff = plan.for_support or plan.client_id.startswith(STATUS_AUDIENCE_PREFIX)
    client = None if staff else session.get(Client, plan.client_id)
    # The deliveries are given to the constructor: appending to ``notice.deliveries``
    # after ``session.add`` made SQLAlchemy flush the notice and SELECT its (empty)
    # deliveries first, one more round trip per notice inside the write lock (issue 8).
    deliveries = [
        new_delivery(runtime, channel_id=channel_id, target=target)
        for channel_id, target in channels.targets(plan.client_id)
    ]
    notice = Notice(
        event_pk=event.id if event else None,
        client_id=plan.client_id,
        trade_id=plan.trade_id,
        batch_id=plan.batch_id,
        kind=plan.kind,
        variant=plan.variant,
        dedup_key=plan.dedup_key,
        status=NoticeStatus.PENDING,
        context=plan.context,
        locale=client.locale if client else runtime.settings.support_locale,
        timezone=client.timezone if client else runtime.settings.support_timezone,
        supersedes_id=plan.supersedes_id,
        resend_of_id=plan.resend_of_id,
        deadline_at=plan.deadline_at,
        affirm_by=affirmation_deadline(runtime, client, plan) if client else None,
        created_at=runtime.clock(),
        deliveries=deliveries,
    )
    session.add(notice)
    return notice


def new_delivery(runtime: Runtime, *, channel_id: int | None, target: str) -> Delivery:
    return Delivery(
        channel_id=channel_id,
        target=target,
        max_attempts=runtime.settings.delivery_max_attempts,
        next_attempt_at=runtime.clock(),
        message_id="msg_" + secrets.token_hex(12),
        created_at=runtime.clock(),
    )


# Support channels are configuration (NOTIFIER_SUPPORT_CHANNELS), not rows. A delivery
# names its support channel by a keyed fingerprint of the URL, never by its position in
# the list: reordering or shortening the list while an escalation is queued must not send
# it to another channel. HMAC with the service key, because an Apprise URL holds a
# credential and a plain hash of a weak one could be guessed back.
SUPPORT_PREFIX = "support:"


def support_target(runtime: Runtime, url: str) -> str:
    digest = hmac.new(runtime.settings.secret_key, url.encode(), hashlib.sha256).hexdigest()
    return SUPPORT_PREFIX + digest[:16]


def support_url(runtime: Runtime, target: str) -> str | None:
    """The configured support URL a delivery was written for; None if it was removed."""
    for url in runtime.settings.support_channel_urls:
        if hmac.compare_digest(support_target(runtime, url), target):
            return url
    return None
