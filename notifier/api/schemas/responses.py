"""What the API answers, for the OpenAPI document: the fields callers can rely on.

Views build their answers as dicts (notifier.notices.views); these schemas describe the
stable part and allow more fields, so adding a field is not a breaking change.
"""

from __future__ import annotations

from marshmallow import INCLUDE, Schema, fields


class _Open(Schema):
    class Meta:
        unknown = INCLUDE


class ErrorBodySchema(Schema):
    code = fields.String(required=True, metadata={"example": "validation_error"})
    message = fields.String(required=True)
    # "fields" would shadow Schema.fields: the attribute has another name, the key not.
    field_errors = fields.Dict(
        data_key="fields",
        keys=fields.String(),
        values=fields.List(fields.String()),
        required=True,
        metadata={"description": "Problems by field path, e.g. trade.fees.0.amount"},
    )


class ErrorSchema(Schema):
    """The one error envelope every 4xx and 5xx answer uses."""

    error = fields.Nested(ErrorBodySchema, required=True)


class EventAcceptedSchema(_Open):
    event_id = fields.String(required=True)
    status = fields.String(required=True)
    reason = fields.String(required=True, allow_none=True)
    notice_ids = fields.List(fields.Integer(), required=True)


class EventSummarySchema(_Open):
    id = fields.Integer(required=True)
    event_id = fields.String(required=True)
    type = fields.String(required=True)
    status = fields.String(required=True)


class EventListSchema(Schema):
    events = fields.List(fields.Nested(EventSummarySchema), required=True)
    next_before_id = fields.Integer(required=True, allow_none=True)


class NoticeSummarySchema(_Open):
    id = fields.Integer(required=True)
    kind = fields.String(required=True)
    status = fields.String(required=True)
    client_id = fields.String(required=True, allow_none=True)


class NoticeListSchema(Schema):
    notices = fields.List(fields.Nested(NoticeSummarySchema), required=True)
    next_before_id = fields.Integer(required=True, allow_none=True)


class NoticeSchema(NoticeSummarySchema):
    deliveries = fields.List(fields.Dict(), required=True)
    timeline = fields.List(fields.Dict(), required=True)


class ResentSchema(Schema):
    notice_id = fields.Integer(required=True)
    resend_of = fields.Integer(required=True)


class RedeliveredSchema(Schema):
    delivery_id = fields.Integer(required=True)
    notice_id = fields.Integer(required=True)
    webhook_id = fields.String(required=True)
    status = fields.String(required=True)


class ClientViewSchema(_Open):
    client_id = fields.String(required=True)
    name = fields.String(required=True)
    channels = fields.List(fields.Dict(), required=True)


class StatusWebhookViewSchema(_Open):
    name = fields.String(required=True)
    url = fields.String(required=True, metadata={"description": "Apprise's privacy form"})
    has_secret = fields.Boolean(required=True)
    event_types = fields.List(fields.String(), required=True)
    created_at = fields.String(required=True)
    updated_at = fields.String(required=True)


class StatusWebhookListSchema(Schema):
    status_webhooks = fields.List(fields.Nested(StatusWebhookViewSchema), required=True)


class AffirmationReportSchema(Schema):
    by = fields.String(required=True)
    rows = fields.List(fields.Dict(), required=True)


class NoContentSchema(Schema):
    """An empty answer (204)."""
