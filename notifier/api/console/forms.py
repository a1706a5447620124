"""The console's forms: each carries a CSRF token (Flask-WTF) tied to the session."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length

from notifier.notices.acks import ANSWERS, REASON_CODES


class LoginForm(FlaskForm):  # type: ignore[misc]  # FlaskForm is untyped
    key = PasswordField("key", validators=[DataRequired(), Length(max=500)])


class LogoutForm(FlaskForm):  # type: ignore[misc]
    pass


class ReasonForm(FlaskForm):  # type: ignore[misc]
    """Resend a notice or redeliver one delivery: the reason goes into the audit trail."""

    reason = StringField("reason", validators=[DataRequired(), Length(min=3, max=500)])


class AckForm(FlaskForm):  # type: ignore[misc]
    """Affirm or dispute on the client's behalf (they phoned): the note goes into the audit."""

    status = SelectField("status", choices=list(ANSWERS), validators=[DataRequired()])
    reason_code = SelectField("reason_code", choices=["", *REASON_CODES], default="")
    reason = StringField("reason", validators=[DataRequired(), Length(min=3, max=500)])
