"""The body a client (or its system) posts to a confirmation's acknowledgement link."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from notifier.api.schemas.events import Text
from notifier.notices.acks import ANSWERS, REASON_CODES


class AckSchema(Schema):
    class Meta:
        unknown = RAISE

    status = fields.String(required=True, validate=validate.OneOf(tuple(ANSWERS)))
    reason_code = fields.String(validate=validate.OneOf(REASON_CODES), allow_none=True)
    reason = Text(2000, allow_none=True)

    @validates_schema
    def _dispute_needs_a_reason(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("status") == "disputed" and not data.get("reason_code"):
            raise ValidationError("A dispute needs a reason code.", "reason_code")
