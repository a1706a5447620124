"""The console's pages. Every read and action goes through the notices services."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from functools import wraps
from typing import Any, TypeVar, cast

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from marshmallow import ValidationError, fields
from werkzeug.wrappers import Response as BaseResponse

from notifier.api.console.forms import LoginForm, LogoutForm, ReasonForm
from notifier.api.console.i18n import activate, translate
from notifier.api.console.operators import identify, still_valid
from notifier.api.console.plots import deliveries_chart, latency_chart
from notifier.api.errors import is_row_id
from notifier.api.schemas.support import NOTICE_KINDS, NoticeSearchSchema, page
from notifier.notices.dashboard import dashboard, deliveries_per_minute, delivery_latency
from notifier.notices.publish import enqueue_delivery, enqueue_notices
from notifier.notices.redeliver import CannotRedeliver, DeliveryNotFound, redeliver
from notifier.notices.resend import CannotResend, NoticeNotFound, resend_notice
from notifier.notices.support_texts import fill_support_texts
from notifier.notices.views import batch_view, event_view, notice_view, search_notices
from notifier.runtime import Runtime
from notifier.states import NoticeStatus

bp = Blueprint(
    "console",
    __name__,
    url_prefix="/console",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)
F = TypeVar("F", bound=Callable[..., Any])
Page = str | BaseResponse | tuple[str, int]

# The notice's HTML body runs in a sandboxed iframe (no scripts, no same origin); the
# console itself loads only its own files.
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; frame-src 'self'; frame-ancestors 'none'; form-action 'self'"
)


class ConsoleSearchSchema(NoticeSearchSchema):
    """``GET /v1/notices``'s parameters plus a date range (``from`` / ``to``, inclusive days)."""

    created_from = fields.Date(data_key="from")
    created_to = fields.Date(data_key="to")


_search = ConsoleSearchSchema()
_ = translate  # the name Babel's extractor looks for


def _runtime() -> Runtime:
    runtime: Runtime = current_app.extensions["notifier"]
    return runtime


def login_required(view: F) -> F:
    """Send a visitor without a console session to the login page."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        digest = session.get("key_digest")
        if "operator" not in session or not digest or still_valid(_runtime(), digest) is None:
            session.clear()  # logged out, or the key was revoked or rotated since login
            return redirect(url_for("console.login", next=request.full_path.rstrip("?")))
        g.operator = session["operator"]
        g.actor = f"{session['operator']} (console)"
        return view(*args, **kwargs)

    return cast(F, wrapper)


@bp.before_request
def _language() -> None:
    activate(_runtime())


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = _CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


@bp.context_processor
def _common() -> dict[str, Any]:
    return {
        "operator": session.get("operator"),
        "logout_form": LogoutForm(),
        "lang": g.get("lang", "en"),
    }


def _refuse_without_csrf(form: Any) -> None:
    """A post whose CSRF token is missing or wrong is refused outright (400)."""
    if request.method == "POST" and form.meta.csrf and form.csrf_token.errors:
        abort(400, description="csrf")


@bp.errorhandler(400)
def _bad_request(error: Any) -> tuple[str, int]:
    return render_template("console/error.html", status=400, csrf=True), 400


@bp.route("/login", methods=["GET", "POST"])
def login() -> Page:
    form = LoginForm()
    if form.validate_on_submit():
        operator = identify(_runtime(), form.key.data)
        if operator is not None:
            session.clear()
            session.permanent = True
            session["operator"], session["role"] = operator.name, operator.role
            session["key_digest"] = operator.key_digest
            session["lang"] = g.lang
            return redirect(_safe_next(request.args.get("next")))
        return render_template("console/login.html", form=form, refused=True), 401
    _refuse_without_csrf(form)
    return render_template("console/login.html", form=form, refused=False)


def _safe_next(target: str | None) -> str:
    # Only a path of the console itself: never an open redirect to another site.
    if target and target.startswith("/console") and not target.startswith("//"):
        return target
    return url_for("console.home")


@bp.post("/logout")
def logout() -> BaseResponse:
    form = LogoutForm()
    if not form.validate_on_submit():
        _refuse_without_csrf(form)
    session.clear()
    return redirect(url_for("console.login"))


@bp.get("")
@login_required
def home() -> Page:
    runtime = _runtime()
    labels = _plot_labels()
    return render_template(
        "console/dashboard.html",
        board=dashboard(runtime),
        deliveries_svg=deliveries_chart(
            deliveries_per_minute(runtime), labels["deliveries_title"], labels
        ),
        latency_svg=latency_chart(delivery_latency(runtime), labels["latency_title"], labels),
    )


def _plot_labels() -> dict[str, str]:
    return {
        "deliveries_title": _("Delivery attempts per minute, last hour"),
        "latency_title": _("Delivery latency (event received to delivered), last hour"),
        "per_minute": _("attempts per minute"),
        "ms": _("milliseconds"),
        "p50": _("p50"),
        "p99": _("p99"),
        "sent": _("sent"),
        "failed": _("failed"),
        "timeout": _("timeout"),
        "nothing_sent": _("nothing sent"),
        "lost": _("lost"),
    }


@bp.get("/notices")
@login_required
def notices() -> Page:
    raw = {k: v for k, v in request.args.items() if v.strip() and k != "lang"}
    try:
        query = _search.load(raw)
    except ValidationError as exc:
        errors = {str(k): v for k, v in cast(dict[str, Any], exc.messages).items()}
        return _search_page(raw, [], None, errors), 400
    limit, before_id = query.pop("limit"), query.pop("before_id", None)
    if "created_from" in query:
        query["created_from"] = _start_of(query["created_from"])
    if "created_to" in query:
        query["created_to"] = _start_of(query["created_to"] + timedelta(days=1))
    found = search_notices(_runtime(), query, limit, before_id)
    return _search_page(raw, found, page(found, limit), {})


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _search_page(
    raw: dict[str, str], found: list[dict[str, Any]], next_id: int | None, errors: dict[str, Any]
) -> str:
    next_args = {**raw, "before_id": next_id} if next_id else None
    return render_template(
        "console/notices.html",
        args=raw,
        notices=found,
        next_args=next_args,
        errors=errors,
        kinds=NOTICE_KINDS,
        statuses=[s.value for s in NoticeStatus],
    )


@bp.get("/notices/<int:notice_id>")
@login_required
def notice(notice_id: int) -> Page:
    view = notice_view(_runtime(), notice_id) if is_row_id(notice_id) else None
    if view is None:
        return render_template("console/error.html", status=404, csrf=False), 404
    return render_template(
        "console/notice.html",
        notice=view,
        texts=fill_support_texts(_runtime(), notice_id),
        reason_form=ReasonForm(),
    )


@bp.post("/notices/<int:notice_id>/resend")
@login_required
def resend(notice_id: int) -> BaseResponse:
    form = ReasonForm()
    if not form.validate_on_submit():
        _refuse_without_csrf(form)
        flash(_("Give a reason of 3 to 500 characters."), "error")
        return redirect(url_for("console.notice", notice_id=notice_id))
    runtime = _runtime()
    try:
        done = resend_notice(runtime, notice_id, form.reason.data, g.actor)
    except NoticeNotFound:
        abort(404)
    except CannotResend as exc:
        flash(str(exc), "error")
        return redirect(url_for("console.notice", notice_id=notice_id))
    enqueue_notices(runtime, [done.notice_id])
    flash(_("A copy was sent as a new notice."), "ok")
    return redirect(url_for("console.notice", notice_id=done.notice_id))


@bp.post("/deliveries/<int:delivery_id>/redeliver")
@login_required
def redeliver_one(delivery_id: int) -> BaseResponse:
    form = ReasonForm()
    back = request.form.get("notice_id", "")
    target = (
        url_for("console.notice", notice_id=int(back))
        if back.isdigit()
        else url_for("console.home")
    )
    if not form.validate_on_submit():
        _refuse_without_csrf(form)
        flash(_("Give a reason of 3 to 500 characters."), "error")
        return redirect(target)
    runtime = _runtime()
    try:
        done = redeliver(runtime, delivery_id, form.reason.data, g.actor)
    except DeliveryNotFound:
        abort(404)
    except CannotRedeliver as exc:
        flash(str(exc), "error")
        return redirect(target)
    enqueue_delivery(runtime, done.delivery_id)
    flash(_("The delivery was queued again."), "ok")
    return redirect(url_for("console.notice", notice_id=done.notice_id))


# HOOK(acks): "acknowledge on the client's behalf" (a phone call) belongs here once
# notifier/notices/acks.py exists: a POST /console/notices/<id>/acknowledge taking a
# ReasonForm and calling that service with g.actor; the notice page has its slot.


@bp.get("/batches/<batch_id>")
@login_required
def batch(batch_id: str) -> Page:
    view = batch_view(_runtime(), batch_id) if len(batch_id) <= 128 else None
    if view is None:
        return render_template("console/error.html", status=404, csrf=False), 404
    return render_template("console/batch.html", batch=view)


@bp.get("/events/<event_id>")
@login_required
def event(event_id: str) -> Page:
    view = event_view(_runtime(), event_id) if len(event_id) <= 128 else None
    if view is None:
        return render_template("console/error.html", status=404, csrf=False), 404
    found = search_notices(_runtime(), {"event_id": event_id}, 200, None)
    return render_template("console/event.html", event=view, notices=found)
