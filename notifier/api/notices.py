"""Support's view of notices: search, one notice with its timeline, and resend."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g, jsonify, request

from notifier.api.auth import require_role
from notifier.api.errors import ApiError, is_row_id, load, read_json
from notifier.api.openapi import documented
from notifier.api.schemas import responses as r
from notifier.api.schemas.support import NoticeSearchSchema, ResendSchema, page
from notifier.notices.publish import enqueue_notices
from notifier.notices.resend import CannotResend, NoticeNotFound, resend_notice
from notifier.notices.views import notice_view, search_notices

bp = Blueprint("notices", __name__, url_prefix="/v1/notices")
_search = NoticeSearchSchema()
_resend = ResendSchema()


@bp.get("")
@documented("Search notices", tag="notices", ok={200: r.NoticeListSchema}, query=NoticeSearchSchema)
@require_role("support")
def list_notices() -> Response:
    """Find notices by client, trade, batch, event, kind or status, newest first."""
    query = load(_search, request.args.to_dict())
    limit, before_id = query.pop("limit"), query.pop("before_id", None)
    found = search_notices(current_app.extensions["notifier"], query, limit, before_id)
    return jsonify({"notices": found, "next_before_id": page(found, limit)})


@bp.get("/<int:notice_id>")
@documented("Show a notice with deliveries and timeline", tag="notices", ok={200: r.NoticeSchema})
@require_role("support")
def show_notice(notice_id: int) -> Response:
    """Show a notice, its deliveries, every attempt and its timeline."""
    view = (
        # Send errors in detail for admins only; support reads a generic reason.
        notice_view(current_app.extensions["notifier"], notice_id, detail=g.actor == "admin-key")
        if is_row_id(notice_id)
        else None
    )
    if view is None:
        raise ApiError(404, "not_found", "No notice with this id.")
    return jsonify(view)


@bp.post("/<int:notice_id>/resend")
@documented(
    "Resend a copy of a notice",
    tag="notices",
    ok={202: r.ResentSchema},
    body=ResendSchema,
    errors=(409,),
    links={
        "GetCopy": {
            "operationId": "show_notice",
            "parameters": {"notice_id": "$response.body#/notice_id"},
        }
    },
)
@require_role("support")
def resend(notice_id: int) -> tuple[Response, int]:
    """Send a copy of a notice to all the client's channels; the reason is audited."""
    body = load(_resend, read_json())
    if not is_row_id(notice_id):
        raise ApiError(404, "not_found", "No notice with this id.")
    try:
        resent = resend_notice(
            current_app.extensions["notifier"], notice_id, body["reason"], g.actor
        )
    except NoticeNotFound:
        raise ApiError(404, "not_found", "No notice with this id.") from None
    except CannotResend as exc:
        fields = {"notice_id": [str(exc)]}
        if exc.replaced_by is not None:
            fields["replaced_by"] = [str(exc.replaced_by)]
        raise ApiError(409, "cannot_resend", str(exc), fields) from None
    enqueue_notices(current_app.extensions["notifier"], [resent.notice_id])
    return jsonify({"notice_id": resent.notice_id, "resend_of": resent.resend_of}), 202
