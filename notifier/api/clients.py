"""PUT / GET /v1/clients/{client_id}: who a client is and how to reach them."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify

from notifier.api.auth import require_role
from notifier.api.errors import ApiError, is_path_id, load, read_json
from notifier.api.openapi import documented
from notifier.api.schemas import responses as r
from notifier.api.schemas.clients import ClientSchema
from notifier.delivery.targets import TargetPolicy, TargetRefused
from notifier.intake.clients import get_client, upsert_client

bp = Blueprint("clients", __name__, url_prefix="/v1/clients")
_schema = ClientSchema()


@bp.put("/<client_id>")
@documented(
    "Create or replace a client and its channels",
    tag="clients",
    ok={200: r.ClientViewSchema, 201: r.ClientViewSchema},
    body=ClientSchema,
    links={
        "GetClient": {
            "operationId": "show_client",
            "parameters": {"client_id": "$response.body#/client_id"},
        }
    },
)
@require_role("admin")
def put_client(client_id: str) -> tuple[Response, int]:
    """Create or replace a client and its channels."""
    if not is_path_id(client_id):
        raise ApiError(
            422,
            "validation_error",
            "Invalid client id.",
            {"client_id": ["Must be 1-128 printable characters."]},
        )
    data = load(_schema, read_json())
    runtime = current_app.extensions["notifier"]
    _check_targets(TargetPolicy(runtime.settings.block_private_targets), data["channels"])
    created, view = upsert_client(runtime, client_id, data)
    return jsonify(view), 201 if created else 200


@bp.get("/<client_id>")
@documented("Show a client", tag="clients", ok={200: r.ClientViewSchema})
@require_role("support")
def show_client(client_id: str) -> Response:
    """Show a client; channel URLs only in Apprise's privacy form."""
    view = (
        get_client(current_app.extensions["notifier"], client_id) if is_path_id(client_id) else None
    )
    if view is None:
        raise ApiError(404, "not_found", "No client with this id.")
    return jsonify(view)


def _check_targets(policy: TargetPolicy, channels: list[dict[str, Any]]) -> None:
    """Refuse a channel whose target the policy forbids; the detail names no URL part."""
    for index, channel in enumerate(channels):
        try:
            policy.check_url(channel["url"])
        except TargetRefused as exc:
            raise ApiError(
                422,
                "validation_error",
                "A channel's target is not allowed.",
                {f"channels.{index}.url": [f"Not allowed: {exc}."]},
            ) from None
