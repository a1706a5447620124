"""POST /v1/events: where trading systems report finality."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g, jsonify

from notifier.api.auth import require_role
from notifier.api.errors import ApiError, is_path_id, load, read_json
from notifier.api.event_schemas import FinalityEventSchema
from notifier.intake import EventConflict, accept_event
from notifier.queue import enqueue_notices
from notifier.support import event_view

bp = Blueprint("events", __name__, url_prefix="/v1/events")
_schema = FinalityEventSchema()


@bp.post("")
@require_role("producer")
def post_event() -> tuple[Response, int]:
    """Accept a finality event; a retry of the same event gets the original answer."""
    loaded = load(_schema, read_json())
    canonical = _schema.dump(loaded)
    try:
        result = accept_event(current_app.extensions["notifier"], canonical, actor=g.actor)
    except EventConflict:
        raise ApiError(
            409,
            "event_id_conflict",
            "This event_id was already used with a different body.",
            {"event_id": ["Already used with a different body."]},
        ) from None
    if not result.created:
        return jsonify(result.response), 200
    enqueue_notices(result.notice_ids)
    return jsonify(result.response), 202


@bp.get("/<event_id>")
@require_role("producer", "support")
def get_event(event_id: str) -> Response:
    """Show how an event was handled: accepted, stale, unknown client, or stored."""
    view = (
        event_view(current_app.extensions["notifier"], event_id) if is_path_id(event_id) else None
    )
    if view is None:
        raise ApiError(404, "not_found", "No event with this event_id.")
    return jsonify(view)
