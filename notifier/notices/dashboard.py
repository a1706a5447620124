"""What the support console's dashboard shows: settlement state in numbers and series.

Every figure is read from the record (notices, deliveries, attempts, batches, trades), so
the console shows what the database says, and nothing the web process merely remembers.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, distinct, func, or_, select
from sqlalchemy.orm import Session

from notifier.models import (
    Batch,
    Channel,
    ChannelOutage,
    Delivery,
    DeliveryAttempt,
    FinalityEvent,
    Notice,
    TradeState,
)
from notifier.notices.kinds import CONFIRMING_KINDS
from notifier.runtime import Runtime
from notifier.states import BatchStatus, DeliveryStatus, NoticeStatus

# A confirmation in one of these has reached the client (or was replaced): not at risk.
_REACHED = (
    NoticeStatus.DELIVERED,
    NoticeStatus.ACKNOWLEDGED,
    NoticeStatus.DISPUTED,
    NoticeStatus.SUPERSEDED,
)
# Delivered, so the client could affirm it; not affirmed yet (acknowledgements come later).
_UNAFFIRMED = (NoticeStatus.DELIVERED, NoticeStatus.PARTIALLY_DELIVERED)
BATCH_STATES = ("open", BatchStatus.FINAL, BatchStatus.FAILED, BatchStatus.DELAYED)
LIST_LIMIT = 50
# The plots read at most this many attempts: an hour of a busy service, bounded.
ATTEMPT_LIMIT = 200_000


def dashboard(runtime: Runtime) -> dict[str, Any]:
    """Return every number on the dashboard, as of the runtime's clock."""
    now = runtime.clock()
    lead = timedelta(seconds=runtime.settings.deadline_lead_seconds)
    with runtime.db.session() as session:
        return {
            "now": now,
            "notices": {
                "hour": _notices_by_status(session, now - timedelta(hours=1)),
                "day": _notices_by_status(session, now - timedelta(days=1)),
            },
            "batches": _batches(session),
            "failing": _failing_channels(session, now - timedelta(hours=1)),
            "at_risk": _at_risk(session, now + lead),
            "confirmations": _confirmations(session),
        }


def _notices_by_status(session: Session, since: datetime) -> dict[str, int]:
    rows = session.execute(
        select(Notice.status, func.count())
        .where(Notice.created_at >= since)
        .group_by(Notice.status)
    ).all()
    found = {status: count for status, count in rows}
    return {s.value: found.get(s.value, 0) for s in NoticeStatus}


def _batches(session: Session) -> list[dict[str, Any]]:
    """Batches by state with their trades; open = trades name it, no batch.* event yet."""
    rows = session.execute(
        select(Batch.status, func.count(distinct(Batch.batch_id)), func.count(TradeState.trade_id))
        .outerjoin(TradeState, TradeState.batch_id == Batch.batch_id)
        .group_by(Batch.status)
    ).all()
    counts = {status: (batches, trades) for status, batches, trades in rows}
    open_row = session.execute(
        select(func.count(distinct(TradeState.batch_id)), func.count()).where(
            TradeState.batch_id.is_not(None), TradeState.batch_id.not_in(select(Batch.batch_id))
        )
    ).one()
    counts["open"] = (open_row[0], open_row[1])
    # A revoked batch failed after it was final: support counts it with the failed ones.
    revoked = counts.pop(BatchStatus.REVOKED, (0, 0))
    failed = counts.get(BatchStatus.FAILED, (0, 0))
    counts[BatchStatus.FAILED] = (failed[0] + revoked[0], failed[1] + revoked[1])
    return [
        {"state": str(s), "batches": counts.get(s, (0, 0))[0], "trades": counts.get(s, (0, 0))[1]}
        for s in BATCH_STATES
    ]


def _failing_channels(session: Session, since: datetime) -> list[dict[str, Any]]:
    """Channels with deliveries retrying now or failed in the last hour, and their circuit."""
    rows = session.execute(
        select(
            Delivery.channel_id, Delivery.target, Notice.client_id, Delivery.status, func.count()
        )
        .join(Notice, Notice.id == Delivery.notice_id)
        .where(
            or_(
                Delivery.status == DeliveryStatus.RETRYING,
                and_(Delivery.status == DeliveryStatus.FAILED, Delivery.updated_at >= since),
            )
        )
        .group_by(Delivery.channel_id, Delivery.target, Notice.client_id, Delivery.status)
    ).all()
    outages = {
        o.channel_id: o
        for o in session.scalars(select(ChannelOutage).where(ChannelOutage.closed_at.is_(None)))
    }
    found: dict[tuple[int | None, str, str], Counter[str]] = defaultdict(Counter)
    for channel_id, target, client_id, status, count in rows:
        found[(channel_id, target, client_id)][status] += count
    for outage in outages.values():
        channel = session.get(Channel, outage.channel_id)
        if channel is not None:
            found.setdefault((channel.id, channel.name, channel.client_id), Counter())
    kinds = dict(session.execute(select(Channel.id, Channel.kind)).all())
    return [
        {
            "channel_id": channel_id,
            "channel": target,
            "client_id": client_id,
            "kind": kinds.get(channel_id, "support") if channel_id else "support",
            "retrying": counts[DeliveryStatus.RETRYING],
            "failed": counts[DeliveryStatus.FAILED],
            "circuit": "open" if channel_id in outages else "closed",
            "outage_since": outages[channel_id].opened_at if channel_id in outages else None,
        }
        for (channel_id, target, client_id), counts in sorted(
            found.items(), key=lambda item: (item[0][2], item[0][1])
        )
    ]


def _at_risk(session: Session, horizon: datetime) -> dict[str, Any]:
    """Confirmations not delivered yet whose deadline falls before ``horizon``."""
    where = (
        Notice.kind.in_(CONFIRMING_KINDS),
        Notice.deadline_at <= horizon,
        Notice.status.not_in(_REACHED),
    )
    total = session.scalar(select(func.count()).select_from(Notice).where(*where)) or 0
    rows = session.scalars(
        select(Notice).where(*where).order_by(Notice.deadline_at, Notice.id).limit(LIST_LIMIT)
    ).all()
    return {
        "count": total,
        "notices": [
            {
                "id": n.id,
                "client_id": n.client_id,
                "trade_id": n.trade_id,
                "kind": n.kind,
                "status": n.status,
                "deadline_at": n.deadline_at,
            }
            for n in rows
        ],
    }


def _confirmations(session: Session) -> dict[str, Any]:
    """Delivered confirmations not affirmed yet, and disputed ones (copies not counted)."""
    base = (Notice.kind.in_(CONFIRMING_KINDS), Notice.resend_of_id.is_(None))
    unaffirmed = session.scalar(
        select(func.count()).select_from(Notice).where(*base, Notice.status.in_(_UNAFFIRMED))
    )
    disputed = session.scalars(
        select(Notice)
        .where(*base, Notice.status == NoticeStatus.DISPUTED)
        .order_by(Notice.id.desc())
        .limit(LIST_LIMIT)
    ).all()
    disputed_count = session.scalar(
        select(func.count())
        .select_from(Notice)
        .where(*base, Notice.status == NoticeStatus.DISPUTED)
    )
    return {
        "unaffirmed": unaffirmed or 0,
        "disputed": disputed_count or 0,
        "disputed_notices": [
            {"id": n.id, "client_id": n.client_id, "trade_id": n.trade_id} for n in disputed
        ],
    }


def deliveries_per_minute(runtime: Runtime, minutes: int = 60) -> list[dict[str, Any]]:
    """Attempts finished in each of the last ``minutes`` minutes, counted by outcome."""
    now = runtime.clock().replace(second=0, microsecond=0) + timedelta(minutes=1)
    start = now - timedelta(minutes=minutes)
    with runtime.db.session() as session:
        rows = session.execute(
            select(DeliveryAttempt.finished_at, DeliveryAttempt.outcome)
            .where(DeliveryAttempt.finished_at >= start)
            .limit(ATTEMPT_LIMIT)
        ).all()
    buckets: list[Counter[str]] = [Counter() for _ in range(minutes)]
    for finished_at, outcome in rows:
        index = int((finished_at - start).total_seconds() // 60)
        if 0 <= index < minutes:
            buckets[index][outcome] += 1
    return [
        {"start": start + timedelta(minutes=i), "outcomes": dict(counts)}
        for i, counts in enumerate(buckets)
    ]


def delivery_latency(
    runtime: Runtime, minutes: int = 60, bucket_minutes: int = 5
) -> list[dict[str, Any]]:
    """p50 / p99 of event received → delivered (sent attempts), per bucket of the last hour."""
    now = runtime.clock()
    start = now - timedelta(minutes=minutes)
    with runtime.db.session() as session:
        rows = session.execute(
            select(DeliveryAttempt.finished_at, FinalityEvent.received_at)
            .join(Delivery, Delivery.id == DeliveryAttempt.delivery_id)
            .join(Notice, Notice.id == Delivery.notice_id)
            .join(FinalityEvent, FinalityEvent.id == Notice.event_pk)
            .where(DeliveryAttempt.finished_at >= start, DeliveryAttempt.outcome == "sent")
            .limit(ATTEMPT_LIMIT)
        ).all()
    count = math.ceil(minutes / bucket_minutes)
    samples: list[list[float]] = [[] for _ in range(count)]
    for finished_at, received_at in rows:
        index = int((finished_at - start).total_seconds() // (bucket_minutes * 60))
        if 0 <= index < count:
            samples[index].append((finished_at - received_at).total_seconds() * 1000)
    return [
        {
            "start": start + timedelta(minutes=i * bucket_minutes),
            "count": len(values),
            "p50_ms": percentile(values, 0.50),
            "p99_ms": percentile(values, 0.99),
        }
        for i, values in enumerate(samples)
    ]


def percentile(values: list[float], q: float) -> float | None:
    """The nearest-rank percentile: a value that was measured, never an interpolation."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]
