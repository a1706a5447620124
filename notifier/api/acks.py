"""The acknowledgement link: GET shows the page, POST (form or JSON) affirms or disputes.

No API key: the signed token in the path is the capability. The page has no JavaScript
and no secrets; its forms post the answer back to the same address, so a page from
elsewhere cannot make a client answer without knowing the token (it is the CSRF token).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from marshmallow import ValidationError

from notifier.api.errors import ApiError, load, read_json
from notifier.api.schemas.acks import AckSchema
from notifier.notices.acks import AckRefused, acknowledge, load_notice, page_values, read_token
from notifier.notices.publish import enqueue_notices
from notifier.runtime import Runtime

bp = Blueprint("acks", __name__, url_prefix="/ack")
_schema = AckSchema()
_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
}


def _runtime() -> Runtime:
    runtime: Runtime = current_app.extensions["notifier"]
    return runtime


@bp.get("/<token>")
def show(token: str) -> Response:
    """Show what is being acknowledged, with Affirm and Dispute, in the client's language."""
    runtime = _runtime()
    try:
        checked = read_token(runtime, token)
        with runtime.db.session() as session:
            notice = load_notice(session, checked.notice_id, checked.client_id)
            values, locale, zone = page_values(notice), notice.locale, notice.timezone
    except AckRefused as refused:
        return _error_page(refused)
    return _page(values, locale, zone)


@bp.post("/<token>")
def answer(token: str) -> Response | tuple[Response, int]:
    """Affirm or dispute: JSON in, JSON out for machines; a form post gets the page back."""
    as_json = request.is_json
    runtime = _runtime()
    body = read_json() if as_json else _form()
    try:
        checked = read_token(runtime, token)
        data = load(_schema, body) if as_json else _schema.load(body)
        with runtime.db.session() as session:
            result = acknowledge(
                session,
                runtime,
                checked.notice_id,
                data["status"],
                channel="api" if as_json else "link",
                actor=f"client:{checked.client_id}",
                reason_code=data.get("reason_code"),
                reason=data.get("reason"),
            )
            notice = load_notice(session, checked.notice_id, checked.client_id)
            values, locale, zone = page_values(notice), notice.locale, notice.timezone
        enqueue_notices(runtime, result.notice_ids)
    except AckRefused as refused:
        if as_json:
            raise _api_error(refused) from None
        return _error_page(refused)
    except ValidationError:  # only the form path gets here; JSON raised the envelope
        return _error_page(AckRefused(422, "invalid_answer", "A dispute needs a reason."))
    if as_json:
        return jsonify(result.view())
    return _page(values, locale, zone)


def _form() -> dict[str, Any]:
    form = {k: v for k, v in request.form.items() if k in {"status", "reason_code", "reason"}}
    return {k: v for k, v in form.items() if v != ""}


def _api_error(refused: AckRefused) -> ApiError:
    fields = {"token": [refused.message]}
    if refused.replaced_by is not None:
        fields["replaced_by"] = [str(refused.replaced_by)]
    return ApiError(refused.status, refused.code, refused.message, fields)


def _page(values: dict[str, Any], locale: str, zone: str, status: int = 200) -> Response:
    html = _runtime().renderer.render_page("ack.html", values, locale, zone)
    return Response(html, status, mimetype="text/html", headers=_PAGE_HEADERS)


def _error_page(refused: AckRefused) -> Response:
    # Before the token is trusted the client's language is unknown: the page is English.
    values = {"error": refused.code, "firm": {"name": _runtime().settings.firm_name}}
    return _page(values, "en", "UTC", refused.status)
