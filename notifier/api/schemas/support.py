"""Query and body schemas for support's calls: notice and event search, resend."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, fields, validate

from notifier.api.schemas.events import EVENT_TYPES
from notifier.notices.kinds import KINDS
from notifier.states import EventStatus, NoticeStatus

NOTICE_KINDS = tuple(KINDS)  # the registry in notifier.notices.kinds


def _id_text() -> fields.String:
    # No control characters: PostgreSQL refuses NUL in text (a 500 before this), and no
    # stored id holds one. The pattern is also valid JSON Schema, so the document says it.
    return fields.String(
        validate=[
            validate.Length(min=1, max=128),
            validate.Regexp(r"^[^\x00-\x1f\x7f]*$", error="Must not hold control characters."),
        ]
    )


class _PagedSearchSchema(Schema):
    """Filters by client, trade and batch, and a page: ``limit`` rows before ``before_id``."""

    class Meta:
        unknown = RAISE

    client_id = _id_text()
    trade_id = _id_text()
    batch_id = _id_text()
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    before_id = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))


class NoticeSearchSchema(_PagedSearchSchema):
    event_id = _id_text()
    kind = fields.String(validate=validate.OneOf(NOTICE_KINDS))
    status = fields.String(validate=validate.OneOf([s.value for s in NoticeStatus]))


class EventSearchSchema(_PagedSearchSchema):
    type = fields.String(validate=validate.OneOf(EVENT_TYPES))
    status = fields.String(validate=validate.OneOf([s.value for s in EventStatus]))


class ResendSchema(Schema):
    class Meta:
        unknown = RAISE

    reason = fields.String(required=True, validate=validate.Length(min=3, max=500))


def page(rows: list[dict[str, Any]], limit: int) -> int | None:
    """Return the ``before_id`` of the next page, or None when this page is the last."""
    return rows[-1]["id"] if len(rows) == limit else None
