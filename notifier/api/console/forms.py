"""The console's forms: each carries a CSRF token (Flask-WTF) tied to the session."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length


class LoginForm(FlaskForm):  # type: ignore[misc]  # FlaskForm is untyped
    key = PasswordField("key", validators=[DataRequired(), Length(max=500)])


class LogoutForm(FlaskForm):  # type: ignore[misc]
    pass


class ReasonForm(FlaskForm):  # type: ignore[misc]
    """Resend a notice or redeliver one delivery: the reason goes into the audit trail."""

    reason = StringField("reason", validators=[DataRequired(), Length(min=3, max=500)])
