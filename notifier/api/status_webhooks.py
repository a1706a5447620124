"""PUT / GET / DELETE /v1/status-webhooks/{name}: where producers hear what became of events."""

from __future__ import annotations

import re

from flask import Blueprint, Response, current_app, jsonify

from notifier.api.auth import require_role
from notifier.api.errors import ApiError, load, read_json
from notifier.api.openapi import documented
from notifier.api.schemas import responses as r
from notifier.api.schemas.status_webhooks import NAME_PATTERN, StatusWebhookSchema
from notifier.delivery.channels import privacy_form
from notifier.delivery.targets import TargetPolicy, TargetRefused
from notifier.notices.status_events import get_webhooks, register_webhook, remove_webhook

bp = Blueprint("status_webhooks", __name__, url_prefix="/v1/status-webhooks")
_schema = StatusWebhookSchema()
_NAME = re.compile(NAME_PATTERN)


def _found(name: str) -> str:
    """A name that cannot be registered is simply not there (404), for reads and deletes."""
    if not _NAME.match(name):
        raise ApiError(404, "not_found", "No status webhook with this name.")
    return name


def _checked(name: str) -> str:
    if not _NAME.match(name):
        raise ApiError(
            422,
            "validation_error",
            "Invalid webhook name.",
            {"name": ["Use 1-56 of a-z, 0-9, _ and -."]},
        )
    return name


@bp.put("/<name>")
@documented(
    "Create or replace a status webhook",
    tag="status-webhooks",
    ok={200: r.StatusWebhookViewSchema, 201: r.StatusWebhookViewSchema},
    body=StatusWebhookSchema,
)
@require_role("admin")
def put_webhook(name: str) -> tuple[Response, int]:
    """Create or replace a status webhook: URL, whsec_ secret and the event types wanted."""
    data = load(_schema, read_json())
    runtime = current_app.extensions["notifier"]
    try:  # the same target rules as client channels (delivery/targets.py), checked again at send
        TargetPolicy(runtime.settings.block_private_targets).check_url(data["url"])
    except TargetRefused as exc:
        raise ApiError(
            422,
            "validation_error",
            "The webhook's target is not allowed.",
            {"url": [f"Not allowed: {exc}."]},
        ) from None
    created, view = register_webhook(
        current_app.extensions["notifier"],
        _checked(name),
        data["url"],
        data["secret"],
        data["event_types"],
        privacy_form(data["url"]),
    )
    return jsonify(view), 201 if created else 200


@bp.get("")
@documented("List status webhooks", tag="status-webhooks", ok={200: r.StatusWebhookListSchema})
@require_role("admin")
def list_webhooks() -> Response:
    """List the status webhooks; secrets are never shown."""
    return jsonify({"status_webhooks": get_webhooks(current_app.extensions["notifier"])})


@bp.get("/<name>")
@documented("Show a status webhook", tag="status-webhooks", ok={200: r.StatusWebhookViewSchema})
@require_role("admin")
def show_webhook(name: str) -> Response:
    """Show one status webhook."""
    found = get_webhooks(current_app.extensions["notifier"], _found(name))
    if not found:
        raise ApiError(404, "not_found", "No status webhook with this name.")
    return jsonify(found[0])


@bp.delete("/<name>")
@documented("Remove a status webhook", tag="status-webhooks", ok={204: r.NoContentSchema})
@require_role("admin")
def delete_webhook(name: str) -> tuple[str, int]:
    """Remove a status webhook."""
    if not remove_webhook(current_app.extensions["notifier"], _found(name)):
        raise ApiError(404, "not_found", "No status webhook with this name.")
    return "", 204
