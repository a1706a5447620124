"""GET /v1/reports/affirmations: how many delivered confirmations clients affirmed."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request

from notifier.api.auth import require_role
from notifier.api.errors import ApiError
from notifier.api.openapi import documented
from notifier.api.schemas import responses as r
from notifier.notices.affirmation import affirmation_report

bp = Blueprint("reports", __name__, url_prefix="/v1/reports")


@bp.get("/affirmations")
@documented(
    "Affirmation rate of delivered confirmations, by client or by deadline day",
    tag="reports",
    ok={200: r.AffirmationReportSchema},
    errors=(422,),
)
@require_role("support")
def affirmations() -> Response:
    """Show the affirmation rate by client (``?by=client``) or by deadline day (``?by=day``)."""
    by = request.args.get("by", "client")
    if by not in {"client", "day"}:
        raise ApiError(422, "validation_error", "Invalid query.", {"by": ["Use client or day."]})
    rows = affirmation_report(current_app.extensions["notifier"], by)
    return jsonify({"by": by, "rows": rows})
