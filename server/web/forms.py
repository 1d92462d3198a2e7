"""The page forms (Flask-WTF): each carries the CSRF token of the session."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

__all__ = ["LoginForm", "LocaleForm", "LogoutForm"]


class LoginForm(FlaskForm):
    """Username and password."""

    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=256)])
    next = HiddenField()


class LocaleForm(FlaskForm):
    """The language switch."""

    locale = HiddenField(validators=[DataRequired()])
    next = HiddenField()


class LogoutForm(FlaskForm):
    """Log out (a POST, so another site cannot log the user out with a link)."""
