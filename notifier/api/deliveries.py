"""Support's calls on one delivery: redeliver it on its own channel."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g, jsonify

from notifier.api.auth import require_role
from notifier.api.errors import ApiError, is_row_id, load, read_json
from notifier.api.openapi import documented
from notifier.api.schemas import responses as r
from notifier.api.schemas.support import ResendSchema
from notifier.notices.publish import enqueue_delivery
from notifier.notices.redeliver import CannotRedeliver, DeliveryNotFound, redeliver

bp = Blueprint("deliveries", __name__, url_prefix="/v1/deliveries")
_reason = ResendSchema()


@bp.post("/<int:delivery_id>/redeliver")
@documented(
    "Redeliver one delivery on its channel",
    tag="deliveries",
    ok={202: r.RedeliveredSchema},
    body=ResendSchema,
    errors=(409,),
)
@require_role("support")
def redeliver_one(delivery_id: int) -> tuple[Response, int]:
    """Send one delivery again on its own channel, same webhook-id; the reason is audited."""
    body = load(_reason, read_json())
    if not is_row_id(delivery_id):
        raise ApiError(404, "not_found", "No delivery with this id.")
    try:
        done = redeliver(current_app.extensions["notifier"], delivery_id, body["reason"], g.actor)
    except DeliveryNotFound:
        raise ApiError(404, "not_found", "No delivery with this id.") from None
    except CannotRedeliver as exc:
        raise ApiError(409, "cannot_redeliver", str(exc), {"delivery_id": [str(exc)]}) from None
    enqueue_delivery(current_app.extensions["notifier"], done.delivery_id)
    return jsonify(
        {
            "delivery_id": done.delivery_id,
            "notice_id": done.notice_id,
            "webhook_id": done.webhook_id,
            "status": "queued",
        }
    ), 202
