"""The PUT /v1/status-webhooks/{name} body."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from notifier.api.schemas.clients import is_webhook_secret
from notifier.api.schemas.events import Text
from notifier.notices.status_events import EVENT_TYPES

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,55}$"  # the delivery target is @status:<name>, 64 at most


class StatusWebhookSchema(Schema):
    class Meta:
        unknown = RAISE

    url = Text(2000, required=True, load_only=True)
    secret = Text(200, required=True, load_only=True)
    event_types = fields.List(
        fields.String(validate=validate.OneOf(EVENT_TYPES)),
        required=True,
        validate=validate.Length(min=1, max=len(EVENT_TYPES)),
    )

    @validates_schema
    def _check(self, data: dict[str, Any], **_: Any) -> None:
        # Messages never repeat the URL or secret: they carry credentials.
        url = data.get("url")
        if url is not None:
            parts = urlsplit(url)
            if parts.scheme not in {"http", "https"} or not parts.hostname:
                raise ValidationError("Must be an http(s) URL with a host.", "url")
        secret = data.get("secret")
        if secret is not None and not is_webhook_secret(secret):
            raise ValidationError("Must be whsec_ followed by base64 of 16+ bytes.", "secret")
