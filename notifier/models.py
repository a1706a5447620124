"""The record: events, clients, notices, deliveries, attempts and the audit trail.

Times are stored as timezone-aware UTC. Money never lives in a column of its own: the
validated event body keeps it as decimal strings, and rendering reads it back as Decimal.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from notifier.states import DeliveryStatus, NoticeStatus


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Store aware datetimes as UTC; hand them back aware (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime, dict[str, Any]: JSON}


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The first characters of the key, so `notifier keys list` can tell two keys apart.
    key_prefix: Mapped[str | None] = mapped_column(String(16))
    revoked_at: Mapped[datetime | None]


class Heartbeat(Base):
    """When a background part (the worker, beat's relay) last showed it was alive."""

    __tablename__ = "heartbeats"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    seen_at: Mapped[datetime]


class Client(Base):
    __tablename__ = "clients"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    locale: Mapped[str] = mapped_column(String(20), default="en")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    regime: Mapped[str] = mapped_column(String(2), default="US")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    channels: Mapped[list[Channel]] = relationship(
        back_populates="client", cascade="all, delete-orphan", order_by="Channel.priority"
    )


class Channel(Base):
    """One way to reach a client; the URL and secret are stored encrypted."""

    __tablename__ = "channels"
    __table_args__ = (UniqueConstraint("client_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(20))  # "webhook" (signed) or "apprise"
    url_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    url_display: Mapped[str] = mapped_column(Text)  # Apprise's privacy form only
    secret_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(default=True)
    # Set when the receiver said the endpoint is gone (HTTP 410); a PUT of the client clears it.
    disabled_at: Mapped[datetime | None]
    disabled_reason: Mapped[str | None] = mapped_column(Text)

    client: Mapped[Client] = relationship(back_populates="channels")


class FinalityEvent(Base):
    """One accepted POST /v1/events body, keyed by the producer's event_id."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(128), unique=True)
    type: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(20))  # accepted / stale / unknown_client / stored
    status_reason: Mapped[str | None] = mapped_column(Text)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    body_hash: Mapped[str] = mapped_column(String(64))
    trade_id: Mapped[str | None] = mapped_column(String(128), index=True)
    client_id: Mapped[str | None] = mapped_column(String(128), index=True)
    batch_id: Mapped[str | None] = mapped_column(String(128), index=True)
    sequence: Mapped[int | None] = mapped_column(Integer)
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    response: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    notices: Mapped[list[Notice]] = relationship(back_populates="event", order_by="Notice.id")


class Notice(Base):
    """One message to one client, rendered once and delivered on each channel."""

    __tablename__ = "notices"
    __table_args__ = (
        Index("ix_notices_client_kind", "client_id", "kind"),
        # Small: a worker task looks for other pending notices to take (issue 8).
        Index(
            "ix_notices_pending",
            "id",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_pk: Mapped[int | None] = mapped_column(ForeignKey("events.id"), index=True)
    client_id: Mapped[str] = mapped_column(String(128), index=True)
    trade_id: Mapped[str | None] = mapped_column(String(128), index=True)
    batch_id: Mapped[str | None] = mapped_column(String(128), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    variant: Mapped[str | None] = mapped_column(String(32))
    # Guarantees "never twice": e.g. confirmation_l2:final:<trade_id>.
    dedup_key: Mapped[str] = mapped_column(String(300), unique=True)
    status: Mapped[str] = mapped_column(String(24), default=NoticeStatus.PENDING)
    context: Mapped[dict[str, Any]] = mapped_column(JSON)
    locale: Mapped[str] = mapped_column(String(20))
    timezone: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str | None] = mapped_column(Text)
    body_text: Mapped[str | None] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    body_md: Mapped[str | None] = mapped_column(Text)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("notices.id"))
    resend_of_id: Mapped[int | None] = mapped_column(ForeignKey("notices.id"))
    deadline_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    rendered_at: Mapped[datetime | None]
    # A confirmation's affirmation deadline (the client's regime), when support was warned
    # it is still unaffirmed, and when the client affirmed or disputed it.
    affirm_by: Mapped[datetime | None]
    affirm_escalated_at: Mapped[datetime | None]
    acked_at: Mapped[datetime | None]

    event: Mapped[FinalityEvent | None] = relationship(back_populates="notices")
    deliveries: Mapped[list[Delivery]] = relationship(
        back_populates="notice", order_by="Delivery.id", cascade="all, delete-orphan"
    )


class Delivery(Base):
    """One notice on one channel: its state, retry schedule and attempts."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("notice_id", "channel_id"),
        Index("ix_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id", ondelete="CASCADE"))
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channels.id", ondelete="SET NULL"))
    # Support escalations go to configured URLs that are not client channels.
    target: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.QUEUED)
    attempt_count: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_at: Mapped[datetime | None]
    # Standard Webhooks' webhook-id: the same on every retry of this delivery.
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    # Why it ended as it did when no attempt says so: e.g. skipped because its notice was
    # replaced before it went out, or failed because the channel was disabled.
    status_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    notice: Mapped[Notice] = relationship(back_populates="deliveries")
    channel: Mapped[Channel | None] = relationship()
    attempts: Mapped[list[DeliveryAttempt]] = relationship(
        back_populates="delivery", order_by="DeliveryAttempt.number", cascade="all, delete-orphan"
    )


class DeliveryAttempt(Base):
    __tablename__ = "delivery_attempts"
    __table_args__ = (UniqueConstraint("delivery_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime]
    duration_ms: Mapped[int] = mapped_column(Integer)
    # sent / failed / timeout / nothing_sent / lost (the worker died during it)
    outcome: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)  # redacted

    delivery: Mapped[Delivery] = relationship(back_populates="attempts")


class ChannelOutage(Base):
    """A client channel failing deliveries, from the first exhausted one to the next success.

    Support gets one escalation per outage, not one per notice; ``notices_failed`` counts
    the notices whose delivery on this channel failed during it.
    """

    __tablename__ = "channel_outages"
    __table_args__ = (Index("ix_channel_outages_open", "channel_id", "closed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    opened_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    notices_failed: Mapped[int] = mapped_column(Integer, default=0)
    escalation_id: Mapped[int | None] = mapped_column(ForeignKey("notices.id"))


class AuditEntry(Base):
    """Who did what to which record, when and why."""

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_subject", "subject_type", "subject_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_type: Mapped[str] = mapped_column(String(20))
    subject_id: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(40))
    from_state: Mapped[str | None] = mapped_column(String(24))
    to_state: Mapped[str | None] = mapped_column(String(24))
    actor: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class TradeState(Base):
    """Where each trade stands: newest sequence applied, lane, batch and finality status."""

    __tablename__ = "trade_states"

    trade_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    last_sequence: Mapped[int | None] = mapped_column(Integer)
    last_event_pk: Mapped[int | None] = mapped_column(ForeignKey("events.id"))
    client_id: Mapped[str | None] = mapped_column(String(128))
    layer: Mapped[str | None] = mapped_column(String(2))
    # The L2 batch the trade settles in now (follows a batch.delayed roll).
    batch_id: Mapped[str | None] = mapped_column(String(128), index=True)
    status: Mapped[str | None] = mapped_column(String(16))  # TradeStatus
    # When a confirmation must have reached the client (contract v1.1: from the first
    # trade event); the deadline check escalates a trade still unconfirmed by then.
    deadline_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]


class Batch(Base):
    """What is known of one Layer-2 batch from batch.* events."""

    __tablename__ = "batches"

    batch_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))  # BatchStatus
    batch_end_at: Mapped[datetime | None]
    final_at: Mapped[datetime | None]
    rolled_to_batch_id: Mapped[str | None] = mapped_column(String(128))
    # What batch.failed / batch.delayed said: {reason, outcome, new_value_date,
    # new_batch_end_at}; a trade that arrives after the batch failed is told from it.
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    revoked_at: Mapped[datetime | None]  # batch.failed after batch.final
    last_event_pk: Mapped[int | None] = mapped_column(ForeignKey("events.id"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class StatusWebhook(Base):
    """A producer's endpoint for notice and event status changes, registered by an admin."""

    __tablename__ = "status_webhooks"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    url_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    url_display: Mapped[str] = mapped_column(Text)
    secret_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    event_types: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class BatchFanout(Base):
    """A batch event's per-trade notices still to write: the worker's resume point.

    The event is stored (and answered) first; the worker writes the notices in chunks of
    trades in ``trade_id`` order, each chunk in its own transaction that also moves
    ``cursor`` past it, so a crash resumes after the last committed chunk.
    """

    __tablename__ = "batch_fanouts"

    event_pk: Mapped[int] = mapped_column(ForeignKey("events.id"), primary_key=True)
    batch_id: Mapped[str] = mapped_column(String(128), index=True)
    cursor: Mapped[str | None] = mapped_column(String(128))  # the last trade_id done
    # What the last chunk needs: the batch as the event saw it and, for batch.failed,
    # the affected trades its escalation lists.
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    notice_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When a chunk last committed: the relay re-drives a fan-out only once it stalls.
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(index=True)
