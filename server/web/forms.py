"""The page forms (Flask-WTF): each carries the CSRF token of the session."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import Field, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Length, ValidationError

__all__ = ["LoginForm", "LocaleForm", "LogoutForm"]


def _printable(_form: FlaskForm, field: Field) -> None:
    """Refuse control characters (a NUL byte no database stores) and lone surrogates."""
    text = field.data or ""
    if not text.isprintable() or any("\ud800" <= c <= "\udfff" for c in text):
        raise ValidationError("control characters or lone surrogates")  # never shown


class LoginForm(FlaskForm):
    """Username and password."""

    username = StringField(_l("Username"),
                           validators=[DataRequired(), Length(max=64), _printable])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=256)])
    next = HiddenField()


class LocaleForm(FlaskForm):
    """The language switch."""

    locale = HiddenField(validators=[DataRequired()])
    next = HiddenField()


class LogoutForm(FlaskForm):
    """Log out (a POST, so another site cannot log the user out with a link)."""
