"""GET /v1/notices/{id}: one notice with its deliveries and attempts."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from notifier.api.auth import require_role
from notifier.api.errors import ApiError, is_row_id
from notifier.support import notice_view

bp = Blueprint("notices", __name__, url_prefix="/v1/notices")


@bp.get("/<int:notice_id>")
@require_role("support")
def show_notice(notice_id: int) -> Response:
    """Show a notice, its deliveries, every attempt and its timeline."""
    view = (
        notice_view(current_app.extensions["notifier"], notice_id) if is_row_id(notice_id) else None
    )
    if view is None:
        raise ApiError(404, "not_found", "No notice with this id.")
    return jsonify(view)
