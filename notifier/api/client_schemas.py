"""Client and channel payloads for PUT / GET /v1/clients/{client_id}."""

from __future__ import annotations

import base64
import binascii
from typing import Any
from zoneinfo import available_timezones

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from notifier.delivery.channels import InvalidChannelURL, is_plain_webhook, privacy_form
from notifier.rendering import normalise_locale

_TIMEZONES = frozenset(available_timezones())


class ChannelSchema(Schema):
    class Meta:
        unknown = RAISE

    name = fields.String(
        required=True,
        validate=validate.Regexp(
            r"^[a-z0-9][a-z0-9_-]{0,63}$", error="Use 1-64 of a-z, 0-9, _ and -."
        ),
    )
    url = fields.String(required=True, load_only=True, validate=validate.Length(max=2000))
    priority = fields.Integer(load_default=0, strict=True, validate=validate.Range(0, 100))
    secret = fields.String(load_only=True, validate=validate.Length(max=200))

    @validates_schema
    def _check(self, data: dict[str, Any], **_: Any) -> None:
        url = data.get("url")
        if url is None:
            return
        # Messages never repeat the URL or secret: they carry credentials.
        try:
            privacy_form(url)
        except (InvalidChannelURL, ValueError, TypeError):
            raise ValidationError("Not a URL any Apprise service understands.", "url") from None
        secret = data.get("secret")
        if secret is not None:
            try:
                ok = (
                    secret.startswith("whsec_")
                    and len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) >= 16
                )
            except (binascii.Error, ValueError):
                ok = False
            if not ok:
                raise ValidationError("Must be whsec_ followed by base64 of 16+ bytes.", "secret")
        elif is_plain_webhook(url):
            raise ValidationError("Required for http(s) webhook channels (whsec_…).", "secret")


class ClientSchema(Schema):
    class Meta:
        unknown = RAISE

    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    locale = fields.String(load_default="en")
    timezone = fields.String(load_default="UTC")
    regime = fields.String(load_default="US", validate=validate.OneOf(("US", "EU")))
    channels = fields.List(
        fields.Nested(ChannelSchema), load_default=list, validate=validate.Length(max=20)
    )

    @validates_schema
    def _check(self, data: dict[str, Any], **_: Any) -> None:
        errors: dict[str, list[str]] = {}
        try:
            data["locale"] = normalise_locale(data.get("locale", "en"))
        except ValueError:
            errors["locale"] = ["Not a locale we know (e.g. en, en_US, de, fr, es, ja)."]
        if data.get("timezone", "UTC") not in _TIMEZONES:
            errors["timezone"] = ["Not an IANA timezone (e.g. Europe/Berlin)."]
        names = [c["name"] for c in data.get("channels", []) if "name" in c]
        if len(names) != len(set(names)):
            errors["channels"] = ["Channel names must be unique."]
        if errors:
            raise ValidationError(errors)
