"""Client and channel payloads for PUT / GET /v1/clients/{client_id}."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import available_timezones

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from notifier.api.schemas.events import BoundedList, Text
from notifier.delivery.channels import InvalidChannelURL, is_plain_webhook, privacy_form
from notifier.rendering.renderer import normalise_locale

_TIMEZONES = frozenset(available_timezones())
# A BCP 47 / POSIX-ish tag; Babel would also take "en_US@calendar=…" modifiers, which
# do not fit the 20-character column and mean nothing to our catalogs.
_LOCALE = re.compile(r"[A-Za-z]{2,3}(?:[_-][A-Za-z0-9]{2,8}){0,3}", re.ASCII)
_LOCALE_MAX = 20


def is_webhook_secret(secret: str) -> bool:
    """A Standard Webhooks signing secret: ``whsec_`` and base64 of at least 16 bytes."""
    try:
        raw = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        return False
    return secret.startswith("whsec_") and len(raw) >= 16


class ChannelSchema(Schema):
    class Meta:
        unknown = RAISE

    name = fields.String(
        required=True,
        validate=validate.Regexp(
            r"^[a-z0-9][a-z0-9_-]{0,63}$", error="Use 1-64 of a-z, 0-9, _ and -."
        ),
    )
    url = Text(2000, required=True, load_only=True)
    priority = fields.Integer(load_default=0, strict=True, validate=validate.Range(0, 100))
    secret = Text(200, load_only=True)

    @validates_schema
    def _check(self, data: dict[str, Any], **_: Any) -> None:
        url = data.get("url")
        if url is None:
            return
        # Messages never repeat the URL or secret: they carry credentials.
        try:
            privacy_form(url)
            if is_plain_webhook(url) and not urlsplit(url).hostname:
                raise InvalidChannelURL("no host")
        except (InvalidChannelURL, ValueError, TypeError):
            raise ValidationError("Not a URL any Apprise service understands.", "url") from None
        secret = data.get("secret")
        if secret is not None:
            if not is_webhook_secret(secret):
                raise ValidationError("Must be whsec_ followed by base64 of 16+ bytes.", "secret")
        elif is_plain_webhook(url):
            raise ValidationError("Required for http(s) webhook channels (whsec_…).", "secret")


class ClientSchema(Schema):
    class Meta:
        unknown = RAISE

    name = Text(200, required=True)
    locale = fields.String(load_default="en")
    timezone = fields.String(load_default="UTC")
    regime = fields.String(load_default="US", validate=validate.OneOf(("US", "EU")))
    channels = BoundedList(fields.Nested(ChannelSchema), max_items=20, load_default=list)

    @validates_schema
    def _check(self, data: dict[str, Any], **_: Any) -> None:
        errors: dict[str, list[str]] = {}
        locale = data.get("locale", "en")
        try:
            if not _LOCALE.fullmatch(locale):
                raise ValueError(locale)
            data["locale"] = normalise_locale(locale)
            if len(data["locale"]) > _LOCALE_MAX:
                raise ValueError(locale)
        except ValueError:
            errors["locale"] = ["Not a locale we know (e.g. en, en_US, de, fr, es, ja)."]
        if data.get("timezone", "UTC") not in _TIMEZONES:
            errors["timezone"] = ["Not an IANA timezone (e.g. Europe/Berlin)."]
        names = [c["name"] for c in data.get("channels", []) if "name" in c]
        if len(names) != len(set(names)):
            errors["channels"] = ["Channel names must be unique."]
        if errors:
            raise ValidationError(errors)
