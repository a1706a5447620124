"""POST /v1/events: where trading systems report finality."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g, jsonify, request

from notifier.api.auth import require_role
from notifier.api.errors import ApiError, is_path_id, load, read_json
from notifier.api.openapi import documented, event_body
from notifier.api.schemas import responses as r
from notifier.api.schemas.events import FinalityEventSchema
from notifier.api.schemas.support import EventSearchSchema, page
from notifier.intake.accept import EventConflict, accept_event
from notifier.notices.publish import enqueue_fanout, enqueue_notices
from notifier.notices.views import event_view, search_events

bp = Blueprint("events", __name__, url_prefix="/v1/events")
_schemas: dict[int, FinalityEventSchema] = {}
_search = EventSearchSchema()


@bp.post("")
@documented(
    "Report a finality event",
    tag="events",
    ok={200: r.EventAcceptedSchema, 202: r.EventAcceptedSchema},
    body=event_body(),
    errors=(409,),
    links={
        "GetEvent": {
            "operationId": "get_event",
            "parameters": {"event_id": "$response.body#/event_id"},
        },
        "GetFirstNotice": {
            "operationId": "show_notice",
            "parameters": {"notice_id": "$response.body#/notice_ids/0"},
        },
    },
)
@require_role("producer")
def post_event() -> tuple[Response, int]:
    """Accept a finality event; a retry of the same event gets the original answer."""
    runtime = current_app.extensions["notifier"]
    schema = _event_schema(runtime.settings.amount_tolerance_minor_units)
    loaded = load(schema, read_json())
    canonical = schema.dump(loaded)
    try:
        result = accept_event(runtime, canonical, actor=g.actor)
    except EventConflict:
        raise ApiError(
            409,
            "event_id_conflict",
            "This event_id was already used with a different body.",
            {"event_id": ["Already used with a different body."]},
        ) from None
    if not result.created:
        return jsonify(result.response), 200
    enqueue_notices(runtime, result.notice_ids)
    if result.fanout_event_pk is not None:
        enqueue_fanout(runtime, result.fanout_event_pk)
    return jsonify(result.response), 202


def _event_schema(tolerance: int) -> FinalityEventSchema:
    # One schema per configured tolerance, built once: schemas are reusable across requests.
    schema = _schemas.get(tolerance)
    if schema is None:
        schema = _schemas[tolerance] = FinalityEventSchema(amount_tolerance=tolerance)
    return schema


@bp.get("")
@documented("Search events", tag="events", ok={200: r.EventListSchema}, query=EventSearchSchema)
@require_role("producer", "support")
def list_events() -> Response:
    """Find events by status (e.g. ``unknown_client``, ``stale``), type, client, trade, batch."""
    query = load(_search, request.args.to_dict())
    limit, before_id = query.pop("limit"), query.pop("before_id", None)
    found = search_events(current_app.extensions["notifier"], query, limit, before_id)
    return jsonify({"events": found, "next_before_id": page(found, limit)})


@bp.get("/<event_id>")
@documented("Show how an event was handled", tag="events", ok={200: r.EventSummarySchema})
@require_role("producer", "support")
def get_event(event_id: str) -> Response:
    """Show how an event was handled: accepted, stale, unknown client, or stored."""
    view = (
        event_view(current_app.extensions["notifier"], event_id) if is_path_id(event_id) else None
    )
    if view is None:
        raise ApiError(404, "not_found", "No event with this event_id.")
    return jsonify(view)
